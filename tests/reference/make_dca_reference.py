"""Reference net-benefit values for tests/core/test_decision_curve.py, from dcurves.

dcurves is not a dependency of nnunet-fm; run this in a throwaway environment:
    python -m venv /tmp/dcv && /tmp/dcv/bin/pip install dcurves
    /tmp/dcv/bin/python tests/reference/make_dca_reference.py
Writes tests/reference/dca_reference.json: the data (outcome, two risk columns), the
thresholds and dcurves' net benefit of each model, "all" and "none".
"""

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from dcurves import dca

rng = np.random.default_rng(20240601)
n = 120
lp = rng.normal(-0.4, 1.3, n)
outcome = (rng.uniform(size=n) < 1 / (1 + np.exp(-lp))).astype(int)
data = pd.DataFrame({
    "outcome": outcome,
    "model_a": np.round(1 / (1 + np.exp(-(0.8 * lp + rng.normal(0, 0.5, n)))), 3),  # ties at 3 decimals
    "model_b": np.round(rng.uniform(size=n), 3),
})
thresholds = [round(t, 2) for t in np.arange(0.0, 0.96, 0.05)]
result = dca(data=data, outcome="outcome", modelnames=["model_a", "model_b"], thresholds=thresholds)
out = {
    "source": f"dcurves {version('dcurves')} dca(data, outcome, modelnames, thresholds)",
    "data": {c: data[c].tolist() for c in data.columns},
    "thresholds": thresholds,
    "net_benefit": {m: result.loc[result["model"] == m, "net_benefit"].astype(float).tolist()
                    for m in ("model_a", "model_b", "all", "none")},
}
Path("tests/reference/dca_reference.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
