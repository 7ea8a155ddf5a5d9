"""The Dask scaling benchmark's per-case task."""

from __future__ import annotations

import math

from benchmarks.bench_dask import synthetic_case_metrics


def test_synthetic_case_is_deterministic_and_imperfect():
    first, again, other = synthetic_case_metrics(3), synthetic_case_metrics(3), synthetic_case_metrics(4)
    assert first == again
    assert first != other
    assert first["case_id"] == "synthetic_0003"
    assert 0.5 < first["dice"] < 1.0  # shifted, shrunk prediction: overlapping, not equal
    assert first["empty_case"] == "none" and first["ref_lesions"] >= 2
    assert math.isfinite(first["hd95_mm"]) and first["hd95_mm"] > 0
