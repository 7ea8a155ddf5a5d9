"""Time our vectorised bootstrap AUC CI against R pROC's ``ci.auc(method = "bootstrap")``.

Same data (n = 129 cases by default), same number of stratified resamples (2000). pROC
is timed inside R with ``system.time`` so R's start-up and package loading do not count.
Writes ``results/benchmarks/roc_bootstrap.json`` (atomically).

Run from the repository root::

    .venv/bin/python benchmarks/bench_roc_bootstrap.py

Exits non-zero when ``Rscript`` (or pROC) is not available.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

LOG = logging.getLogger("benchmarks.bench_roc_bootstrap")

#: Speed-up over pROC the issue asks for.
GOAL_SPEEDUP = 50.0

R_TIMING_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(pROC))
data <- read.csv(args[1])
boot_n <- as.integer(args[2]); repeats <- as.integer(args[3]); seed <- as.integer(args[4])
r <- roc(data$label, data$score, levels = c(0, 1), direction = "<", quiet = TRUE)
elapsed <- numeric(repeats)
for (i in seq_len(repeats)) {
  set.seed(seed + i)
  elapsed[i] <- system.time(ci <- ci.auc(r, method = "bootstrap", boot.n = boot_n,
                                         boot.stratified = TRUE, progress = "none"))[["elapsed"]]
}
cat(sprintf('{"elapsed_s": [%s], "ci": [%.10f, %.10f], "auc": %.15f, "pROC_version": "%s"}\n',
            paste(sprintf("%.6f", elapsed), collapse = ", "), ci[1], ci[3], as.numeric(auc(r)),
            as.character(packageVersion("pROC"))))
"""


def make_data(n_cases: int, seed: int):
    """Synthetic labels and scores (two-decimal scores, so there are ties)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_pos = n_cases * 60 // 129 or 1
    label = np.r_[np.ones(n_pos, dtype=int), np.zeros(n_cases - n_pos, dtype=int)]
    score = np.round(rng.normal(size=n_cases) + 1.1 * label, 2)
    return label, score


def time_ours(label, score, n_boot: int, repeats: int, seed: int) -> dict:
    """Wall time of ``ci_bootstrap`` (after one warm-up call), per repeat."""
    from nnunet_fm.roc_stats import ci_bootstrap

    ci_bootstrap(label, score, n_boot=n_boot, random_state=seed)  # warm-up: imports, caches
    elapsed = []
    ci = None
    for i in range(repeats):
        start = time.perf_counter()
        ci = ci_bootstrap(label, score, n_boot=n_boot, random_state=seed + i)
        elapsed.append(time.perf_counter() - start)
    return {"elapsed_s": elapsed, "median_s": statistics.median(elapsed), "min_s": min(elapsed), "ci": list(ci)}


def time_proc(rscript: str, label, score, n_boot: int, repeats: int, seed: int, timeout_s: float) -> dict:
    """pROC timing measured inside R (``system.time``, elapsed)."""
    with tempfile.TemporaryDirectory(prefix="bench_roc_") as tmp:
        data_csv = Path(tmp) / "data.csv"
        data_csv.write_text("label,score\n" + "".join(f"{int(y)},{float(s)!r}\n" for y, s in zip(label, score)),
                            encoding="utf-8")
        script = Path(tmp) / "time_proc.R"
        script.write_text(R_TIMING_SCRIPT, encoding="utf-8")
        out = subprocess.run([rscript, str(script), str(data_csv), str(n_boot), str(repeats), str(seed)],
                             capture_output=True, text=True, timeout=timeout_s)
    if out.returncode != 0:
        raise RuntimeError(f"Rscript failed (is pROC installed?): {out.stderr.strip()[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["median_s"] = statistics.median(result["elapsed_s"])
    result["min_s"] = min(result["elapsed_s"])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit code (0 ok, 2 without Rscript, 1 on failure)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-cases", type=int, default=129, help="cases (default 129)")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--repeats", type=int, default=20, help="timed repeats of our CI (default 20)")
    parser.add_argument("--r-repeats", type=int, default=3, help="timed repeats of pROC (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="data and bootstrap seed (default 0)")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="limit for the R run (default 600)")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/roc_bootstrap.json"),
                        help="JSON to write (default results/benchmarks/roc_bootstrap.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    rscript = shutil.which("Rscript")
    if rscript is None:
        LOG.error("Rscript not found on PATH: install R and the pROC package to run this benchmark")
        return 2
    import numpy as np

    from nnunet_fm import __version__
    from nnunet_fm.atomic import write_json

    label, score = make_data(args.n_cases, args.seed)
    load_before = os.getloadavg()[0]
    ours = time_ours(label, score, args.n_boot, args.repeats, args.seed)
    LOG.info("ours: median %.4f s over %d repeats, CI %.4f-%.4f", ours["median_s"], args.repeats, *ours["ci"])
    try:
        proc = time_proc(rscript, label, score, args.n_boot, args.r_repeats, args.seed, args.timeout_s)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        LOG.error("%s", exc)
        return 1
    LOG.info("pROC %s: median %.3f s over %d repeats, CI %.4f-%.4f", proc["pROC_version"], proc["median_s"],
             args.r_repeats, *proc["ci"])
    speedup = proc["median_s"] / ours["median_s"]
    result = {
        "benchmark": "stratified bootstrap 95% CI of the AUC",
        "n_cases": int(args.n_cases),
        "n_pos": int(label.sum()),
        "n_neg": int(label.size - label.sum()),
        "n_boot": int(args.n_boot),
        "seed": args.seed,
        "ours": {"function": "nnunet_fm.roc_stats.ci_bootstrap", **ours},
        "pROC": {"call": "ci.auc(method = 'bootstrap', boot.stratified = TRUE, progress = 'none')",
                 "timing": "R system.time elapsed (R start-up excluded)", **proc},
        "speedup": speedup,
        "speedup_min_times": proc["min_s"] / ours["min_s"],
        "goal_speedup": GOAL_SPEEDUP,
        "meets_goal": bool(speedup >= GOAL_SPEEDUP),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "cpu_count": os.cpu_count(), "nnunet_fm": __version__,
                    "load_average_1min": [load_before, os.getloadavg()[0]]},
        "note": "speedup = pROC median / ours median; both measured in the same run on the same machine",
    }
    write_json(args.out, result)
    LOG.info("speed-up %.0fx (goal %.0fx); wrote %s", speedup, GOAL_SPEEDUP, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
