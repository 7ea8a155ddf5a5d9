"""nnunet-fm: fat-metaplasia segmentation on SIJ MRI with nnU-Net, and axSpA classification.

Core package: configuration, image IO, atomic writes, provenance, segmentation metrics,
ROC statistics and the nnU-Net wrapper. Stage packages (``dataset_conversion``,
``classifiers``, ``benchmarks``) build on it; they never import each other except
``benchmarks`` -> ``classifiers``.
"""

__version__ = "0.1.0"
