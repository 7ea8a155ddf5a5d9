"""Second ICC reference from pingouin, on the data sets of ``icc_reference.json``.

pingouin is not a project dependency; run it from a separate environment:

    python -m venv /tmp/iccvenv && /tmp/iccvenv/bin/pip install pingouin
    /tmp/iccvenv/bin/python tests/reference/make_icc_reference_pingouin.py

Writes ``tests/reference/icc_reference_pingouin.json`` (pingouin rounds its confidence
bounds to 2 decimals; its point estimates are unrounded).
"""

import json
from pathlib import Path

import pandas as pd
import pingouin

HERE = Path(__file__).resolve().parent


def main() -> None:
    reference = json.loads((HERE / "icc_reference.json").read_text(encoding="utf-8"))
    out = {"source": f"pingouin {pingouin.__version__} intraclass_corr", "datasets": {}}
    for name, data in reference["datasets"].items():
        rows = [
            {"target": i, "rater": j, "rating": value}
            for i, ratings in enumerate(data["ratings"])
            for j, value in enumerate(ratings)
        ]
        table = pingouin.intraclass_corr(pd.DataFrame(rows), targets="target", raters="rater", ratings="rating")
        table = table.set_index("Type")
        a, c = table.loc["ICC(A,1)"], table.loc["ICC(C,1)"]
        out["datasets"][name] = {
            "icc_a1": float(a["ICC"]), "icc_a1_ci_low": float(a["CI95"][0]), "icc_a1_ci_high": float(a["CI95"][1]),
            "icc_c1": float(c["ICC"]), "icc_c1_ci_low": float(c["CI95"][0]), "icc_c1_ci_high": float(c["CI95"][1]),
        }
    (HERE / "icc_reference_pingouin.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
