"""Decision-curve net benefit against dcurves (stored reference) and hand counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnunet_fm.decision_curve import net_benefit, net_benefit_table

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "dca_reference.json"


def test_tiny_table_counted_by_hand():
    # 10 cases, 4 events. At pt = 0.25 the model treats risks >= 0.25:
    # cases with risk 0.9 (y=1), 0.6 (y=1), 0.3 (y=0), 0.25 (y=1), 0.5 (y=0) -> TP 3, FP 2.
    # NB = 3/10 - 2/10 * (0.25/0.75) = 0.3 - 0.0666... = 0.2333...
    y = [1, 1, 0, 1, 0, 0, 1, 0, 0, 0]
    risk = [0.9, 0.6, 0.3, 0.25, 0.5, 0.1, 0.2, 0.05, 0.15, 0.0]
    curve = net_benefit(y, risk, [0.25, 0.55])
    assert curve["tp"].tolist() == [3, 2] and curve["fp"].tolist() == [2, 0]
    assert curve["net_benefit"][0] == pytest.approx(0.3 - 0.2 / 3.0, abs=1e-15)
    assert curve["net_benefit"][1] == pytest.approx(0.2, abs=1e-15)
    table = net_benefit_table(y, {"m": risk}, [0.25])
    treat_all = table.loc[table["model"] == "treat_all", "net_benefit"].item()
    assert treat_all == pytest.approx(0.4 - 0.6 / 3.0, abs=1e-15)  # prevalence - (1 - prev) * odds
    assert table.loc[table["model"] == "treat_none", "net_benefit"].item() == 0.0


def test_matches_dcurves():
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
    data = ref["data"]
    table = net_benefit_table(data["outcome"], {"model_a": data["model_a"], "model_b": data["model_b"]},
                              ref["thresholds"])
    for ours, theirs in (("model_a", "model_a"), ("model_b", "model_b"), ("treat_all", "all"), ("treat_none", "none")):
        got = table.loc[table["model"] == ours, "net_benefit"].to_numpy()
        np.testing.assert_allclose(got, ref["net_benefit"][theirs], rtol=0, atol=1e-12, err_msg=ours)


@pytest.mark.parametrize("thresholds", [[1.0], [-0.1], [np.nan]])
def test_thresholds_outside_unit_interval_are_rejected(thresholds):
    with pytest.raises(ValueError, match="thresholds"):
        net_benefit([0, 1], [0.2, 0.7], thresholds)


def test_risk_count_must_match_outcomes():
    with pytest.raises(ValueError, match="3 risks"):
        net_benefit([0, 1], [0.2, 0.7, 0.1], [0.5])
