"""Seed robustness: the quick study on fresh seeds nobody tuned on.

Runs ``nnunet-fm benchmark`` once per seed (each a full, resumable study under
``results/runs/seed-<S>/``) and gathers the headline figures of each run's
``summary.json`` into ``results/seed-robustness/seed_robustness.json`` and ``.md``:
per-seed internal 5-fold CV DSC, external DSC, XGBoost AUC on the internal and external
test sets (and the cohort's Bayes ceiling where the run has one), then mean ± SD over
seeds. Seeds default to three that appear neither among the development seeds nor as the
report seed of the run config.

Usage::

    python -m benchmarks.bench_seed_robustness [--seeds 271828 161803 141421] [--scale 0.25]
    python -m benchmarks.bench_seed_robustness --collect-only   # only gather finished runs

Each study takes ~15-30 min on 2 CPU cores; rerun the same command to resume.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
from pathlib import Path
from typing import Any, Optional, Sequence

LOG = logging.getLogger(__name__)

DEFAULT_SEEDS = (271828, 161803, 141421)
RUNS_ROOT = Path("results") / "runs"
OUT_DIR = Path("results") / "seed-robustness"

#: figure name -> path of keys inside summary.json
FIGURES = {
    "cv_dsc": ("segmentation", "oof", "cross_validation", "mean_dice"),
    "cv_dsc_sd_over_folds": ("segmentation", "oof", "cross_validation", "sd_dice"),
    "internal_test_dsc": ("segmentation", "internal_test", "mean_dice"),
    "external_test_dsc": ("segmentation", "external_test", "mean_dice"),
    "internal_test_auc_xgboost": ("classification", "internal_test", "score_xgboost", "auc"),
    "external_test_auc_xgboost": ("classification", "external_test", "score_xgboost", "auc"),
    "internal_test_auc_clinical": ("classification", "internal_test", "score_clinical", "auc"),
    "external_test_auc_clinical": ("classification", "external_test", "score_clinical", "auc"),
    "training_oof_auc_xgboost": ("classification", "training", "score_xgboost", "auc"),
    "training_oof_bayes_auc": ("ceiling", "by_set", "oof", "bayes_auc_all"),
    "internal_test_bayes_auc": ("ceiling", "by_set", "internal_test", "bayes_auc_all"),
    "external_test_bayes_auc": ("ceiling", "by_set", "external_test", "bayes_auc_all"),
}


def dig(data: Any, keys: Sequence[str]) -> Optional[float]:
    """The number at ``keys`` inside nested dicts, or ``None`` when any key is missing."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return float(data) if isinstance(data, (int, float)) and not isinstance(data, bool) else None


def headline(summary: dict) -> dict[str, Optional[float]]:
    """The figures of :data:`FIGURES` from one run's ``summary.json`` (the ceiling's rows keyed by set)."""
    ceiling = summary.get("ceiling") or {}
    rows = ceiling.get("rows") if isinstance(ceiling, dict) else None
    if isinstance(rows, list):
        summary = {**summary, "ceiling": {"by_set": {r.get("set"): r for r in rows if isinstance(r, dict)}}}
    return {name: dig(summary, keys) for name, keys in FIGURES.items()}


def aggregate(per_seed: dict[str, dict[str, Optional[float]]]) -> dict[str, dict[str, Any]]:
    """Mean, SD (ddof 1) and n over seeds for every figure (missing values left out)."""
    out: dict[str, dict[str, Any]] = {}
    for name in FIGURES:
        values = [v[name] for v in per_seed.values() if v.get(name) is not None and math.isfinite(v[name])]
        out[name] = {
            "n_seeds": len(values),
            "mean": statistics.fmean(values) if values else None,
            "sd": statistics.stdev(values) if len(values) > 1 else None,
        }
    return out


def run_facts(run_dir: Path) -> dict[str, Any]:
    """Where a run came from: its git commit (``provenance.json``)."""
    try:
        provenance = json.loads((run_dir / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"git_commit": None}
    return {"git_commit": provenance.get("git_commit")}


def markdown(per_seed: dict[str, dict], summary: dict[str, dict], scale: float,
             not_run: Sequence[int] = (), commits: Sequence[Optional[str]] = ()) -> str:
    """A small markdown table: one row per figure, one column per seed, then mean ± SD."""
    seeds = list(per_seed)
    fmt = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [
        "# Seed robustness of the quick study (synthetic cohort)",
        "",
        f"Synthetic phantom cohort, scale {scale:g}, quick nnU-Net profile on 2 CPU cores. Seeds are fresh: "
        "neither development seeds nor the report seed. Synthetic numbers: they show how much the study's "
        "figures move with the seed, not how the method performs on patients.",
        "",
        *([f"Seeds without a finished run (not included): {', '.join(map(str, not_run))}.", ""] if not_run else []),
        *([f"Made with the code of commit(s) {', '.join(sorted({(c or 'unknown')[:7] for c in commits}))} "
           "(each run's provenance.json).", ""] if commits else []),
        "| figure | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± SD over seeds |",
        "|---|" + "---|" * (len(seeds) + 1),
    ]
    for name in FIGURES:
        agg = summary[name]
        spread = "—" if agg["mean"] is None else (
            f"{agg['mean']:.3f}" + (f" ± {agg['sd']:.3f}" if agg["sd"] is not None else ""))
        lines.append(f"| {name} | " + " | ".join(fmt(per_seed[s].get(name)) for s in seeds) + f" | {spread} |")
    return "\n".join(lines) + "\n"


def run_seed(seed: int, scale: float, extra: Sequence[str]) -> Path:
    """Run (or resume) the quick study for one seed; return its results folder."""
    from benchmarks.cli_timing import timed_cli

    name = f"seed-{seed}"
    seconds = timed_cli(["benchmark", "--seed", str(seed), "--scale", repr(scale), "--name", name,
                         "--out", str(RUNS_ROOT), *extra])
    LOG.info("seed %d: study finished in %.0f s", seed, seconds)
    return RUNS_ROOT / name


def main(argv: Sequence[str] | None = None) -> int:
    """Run the seeds (unless ``--collect-only``) and write the gathered figures."""
    from nnunet_fm.atomic import write_json, write_text

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--collect-only", action="store_true", help="only gather runs that already finished")
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    per_seed: dict[str, dict] = {}
    facts: dict[str, dict] = {}
    for seed in args.seeds:
        run_dir = RUNS_ROOT / f"seed-{seed}" if args.collect_only else run_seed(seed, args.scale, extra)
        summary_file = run_dir / "summary.json"
        if not summary_file.exists():
            LOG.warning("seed %d: no %s (run not finished); left out", seed, summary_file)
            continue
        per_seed[str(seed)] = headline(json.loads(summary_file.read_text(encoding="utf-8")))
        facts[str(seed)] = run_facts(run_dir)
    summary = aggregate(per_seed)
    write_json(OUT_DIR / "seed_robustness.json",
               {"scale": args.scale, "seeds": list(per_seed), "seeds_not_run": [s for s in args.seeds if str(s) not in per_seed],
                "per_seed": per_seed, "over_seeds": summary, "runs": facts})
    not_run = [seed for seed in args.seeds if str(seed) not in per_seed]
    write_text(OUT_DIR / "seed_robustness.md",
               markdown(per_seed, summary, args.scale, not_run, [f["git_commit"] for f in facts.values()]))
    LOG.info("wrote %s", OUT_DIR)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
