"""Holm and Benjamini–Hochberg adjustment against statsmodels' multipletests."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from nnunet_fm.multiple_testing import benjamini_hochberg_adjust, holm_adjust

FAMILIES = [
    np.array([0.01, 0.04, 0.03, 0.005, 0.2, 0.04]),  # ties
    np.random.default_rng(4).uniform(0, 0.2, 37),
    np.array([0.9, 1.0, 0.0, 0.5]),
    np.array([0.03]),
]


@pytest.mark.parametrize("p", FAMILIES)
def test_holm_matches_statsmodels(p):
    np.testing.assert_allclose(holm_adjust(p), multipletests(p, method="holm")[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("p", FAMILIES)
def test_bh_matches_statsmodels(p):
    np.testing.assert_allclose(benjamini_hochberg_adjust(p), multipletests(p, method="fdr_bh")[1], rtol=0, atol=1e-12)


def test_nan_tests_are_left_out_of_the_family():
    p = np.array([0.01, np.nan, 0.04, 0.03])
    present = ~np.isnan(p)
    for ours, method in ((holm_adjust, "holm"), (benjamini_hochberg_adjust, "fdr_bh")):
        adjusted = ours(p)
        assert np.isnan(adjusted[1])
        np.testing.assert_allclose(adjusted[present], multipletests(p[present], method=method)[1], atol=1e-12)


def test_empty_family_and_bad_values():
    assert holm_adjust([]).size == 0
    with pytest.raises(ValueError, match="position 1"):
        benjamini_hochberg_adjust([0.1, 1.5])
