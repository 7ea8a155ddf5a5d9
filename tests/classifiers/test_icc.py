"""ICC against stored references: R psych::ICC (exact) and pingouin (bounds rounded)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from classifiers.icc import icc_a1, icc_both, icc_c1

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
KEYS = ("icc_a1", "icc_a1_ci_low", "icc_a1_ci_high", "icc_c1", "icc_c1_ci_low", "icc_c1_ci_high")
PSYCH = json.loads((REFERENCE / "icc_reference.json").read_text(encoding="utf-8"))["datasets"]
PINGOUIN = json.loads((REFERENCE / "icc_reference_pingouin.json").read_text(encoding="utf-8"))["datasets"]


@pytest.mark.parametrize("name", sorted(PSYCH))
def test_matches_r_psych(name):
    data = PSYCH[name]
    result = icc_both(np.array(data["ratings"]))
    for key in KEYS:
        assert getattr(result, key) == pytest.approx(data[key], abs=1e-9), key


@pytest.mark.parametrize("name", sorted(PINGOUIN))
def test_matches_pingouin(name):
    result = icc_both(np.array(PSYCH[name]["ratings"]))
    expected = PINGOUIN[name]
    for key in ("icc_a1", "icc_c1"):
        assert getattr(result, key) == pytest.approx(expected[key], abs=1e-9)
    for key in KEYS:  # pingouin rounds its bounds to 2 decimals
        assert getattr(result, key) == pytest.approx(expected[key], abs=0.0051)


def test_shrout_fleiss_published_values():
    ratings = np.array(PSYCH["shrout_fleiss"]["ratings"])
    assert icc_a1(ratings) == pytest.approx(0.29, abs=0.005)  # Shrout & Fleiss 1979, ICC(2,1)
    assert icc_c1(ratings) == pytest.approx(0.71, abs=0.005)  # ICC(3,1)


def test_offset_lowers_agreement_not_consistency():
    x = np.arange(10, dtype=float)
    ratings = np.column_stack([x, x + 5])
    assert icc_c1(ratings) == pytest.approx(1.0)
    assert icc_a1(ratings) < 0.9


def test_missing_rows_dropped_and_degenerate_cases_nan():
    data = np.array(PSYCH["two_sources_poor"]["ratings"])
    with_nan = np.vstack([data, [np.nan, 1.0]])
    result = icc_both(with_nan)
    assert result.n_cases == len(data)
    assert result.icc_a1 == pytest.approx(PSYCH["two_sources_poor"]["icc_a1"])
    assert math.isnan(icc_a1(np.ones((5, 2))))  # no variance at all
    assert math.isnan(icc_both([[1.0, 2.0]]).icc_c1)  # one case
    with pytest.raises(ValueError, match="2-D"):
        icc_a1([1.0, 2.0, 3.0])
