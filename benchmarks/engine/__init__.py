"""The study engine: stage runner, run layout, report and the simulated reader study (product code).

The ``bench_*.py`` scripts one level up are timing measurements, not part of the product.
"""
