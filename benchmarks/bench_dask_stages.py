"""Dask scaling of two study stages: features and 5-fold prediction on 1 vs 2 Dask workers.

Writes ``results/benchmarks/dask_stages.json``. Usage::

    python -m benchmarks.bench_dask_stages --study-work work_runs/seed-271828 \\
        [--feature-cases 24] [--prediction-set internal_test] [--repeats 1]

* features: ``classifiers.feature_extraction.extract_features`` on the phantom cases of
  ``benchmarks/bench_features.py`` (16 x 160 x 192 voxels), one Dask task per case;
* prediction: ``nnunet_fm.nnunet.prediction.predict_all`` with the trained quick-profile
  folds of a finished study's work folder (``--study-work``: its ``nnUNet_raw``,
  ``nnUNet_preprocessed`` and ``nnUNet_results``), one chunk of cases per worker, each
  chunk loading the fold models once; tile threads per worker = the worker's thread count
  (one core each); its timings include each worker's torch import and model load (no
  warm-up run).

Both LocalClusters (processes, one thread each) are started and warmed up before timing;
repeats alternate between them, the fastest counts. Outputs of 1 and 2 workers must be
identical (feature tables equal; masks voxel-identical) or the benchmark fails. The JSON
records CPU count and load averages: on a loaded 2-core machine two workers cannot gain.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path
from typing import Sequence

from benchmarks.bench_dask import alternate, clients
from benchmarks.machine import machine_info

LOG = logging.getLogger(__name__)
DEFAULT_OUT = Path("results") / "benchmarks" / "dask_stages.json"


def summary(seconds: dict[int, list[float]], n_cases: int) -> dict:
    """Best wall time per worker count and the 2-vs-1 speed-up."""
    best = {n: min(s) for n, s in seconds.items()}
    return {"cases": n_cases, **{f"all_seconds_workers{n}": [round(v, 3) for v in s] for n, s in seconds.items()},
            **{f"seconds_workers{n}": round(b, 3) for n, b in best.items()},
            "seconds_per_case_workers1": round(best[1] / n_cases, 4),
            "speedup_workers2": round(best[1] / best[2], 3)}


def bench_features(client_by_n: dict, n_cases: int, repeats: int, tmp: Path) -> dict:
    """Feature extraction on 1 vs 2 Dask workers; tables must be equal."""
    import pandas as pd

    from benchmarks.bench_features import write_cohort
    from classifiers.feature_extraction import extract_features

    images, masks = write_cohort(tmp / "features", n_cases)
    for client in client_by_n.values():  # warm-up: imports and pyradiomics start-up on every worker
        extract_features(images, masks, cluster=client)
    seconds, tables = alternate({n: (lambda c=c: extract_features(images, masks, cluster=c))
                                 for n, c in client_by_n.items()}, repeats)
    pd.testing.assert_frame_equal(tables[1], tables[2])
    pd.testing.assert_frame_equal(tables[1], extract_features(images, masks, jobs=1))
    return {"what": "extract_features, one Dask task per case (phantom cases of bench_features)",
            **summary(seconds, n_cases), "identical_to_local_path": True}


def _mask_digests(folder: Path) -> dict[str, str]:
    import hashlib

    import numpy as np
    import SimpleITK as sitk

    return {p.name: hashlib.sha256(np.ascontiguousarray(sitk.GetArrayFromImage(sitk.ReadImage(str(p))))).hexdigest()
            for p in sorted(folder.glob("*.nii.gz"))}


def bench_prediction(client_by_n: dict, study_work: Path, subset: str, repeats: int, tmp: Path) -> dict:
    """5-fold ensemble prediction of one set on 1 vs 2 Dask workers; masks must be identical."""
    from nnunet_fm.config import NnunetConfig
    from nnunet_fm.nnunet.environment import NnunetFolders, nnunet_workspace

    config = NnunetConfig()
    folders = NnunetFolders.from_raw(study_work / "nnUNet_raw")
    with nnunet_workspace(config, folders):
        from nnunet_fm.nnunet.prediction import predict_all

        counted: dict[str, int] = {}

        def run(n: int, client) -> dict[str, str]:
            out = tmp / f"prediction_{n}"
            report = predict_all(501, config.profile, out, folds=config.folds, num_threads=config.num_processes,
                                 subsets=(subset,), cluster=client)
            digests = _mask_digests(out / subset)
            for mask in (out / subset).glob("*.nii.gz"):
                mask.unlink()  # the next repeat must predict again, not find its outputs
            counted["cases"] = report.summary()[subset]["n_cases"]
            return digests

        # No warm-up run (it would cost a whole set per setting): each timing includes every
        # worker's torch import and model load, once per worker, as a user's run does.
        seconds, digests = alternate({n: (lambda n=n, c=c: run(n, c)) for n, c in client_by_n.items()}, repeats)
    if digests[1] != digests[2] or not digests[1]:
        raise RuntimeError("1 and 2 Dask workers wrote different masks")
    return {"what": f"predict_all, {subset} set, fold ensemble of the 5 quick-profile folds, one chunk per worker",
            "tile_threads_per_worker": "the worker's thread count (1 on a LocalCluster; "
                                       "nnunet_fm.nnunet.prediction.worker_threads)", **summary(seconds, counted["cases"]),
            "identical_masks": True}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write its JSON; returns an exit code."""
    from nnunet_fm.atomic import write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study-work", required=True,
                        help="work folder of a finished quick study (holds nnUNet_raw/_preprocessed/_results)")
    parser.add_argument("--feature-cases", type=int, default=24)
    parser.add_argument("--prediction-set", default="internal_test")
    parser.add_argument("--repeats", type=int, default=1, help="runs per worker count; the fastest counts")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    study_work = Path(args.study_work).resolve()
    if not (study_work / "nnUNet_results").is_dir():
        parser.error(f"--study-work {args.study_work}: no nnUNet_results folder (run a study first)")
    import distributed  # noqa: F401 - its import configures its loggers; quieten them after

    logging.getLogger("distributed").setLevel(logging.WARNING)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_dask_stages_") as tmp, clients() as client_by_n:
        features = bench_features(client_by_n, args.feature_cases, args.repeats, Path(tmp))
        prediction = bench_prediction(client_by_n, study_work, args.prediction_set, args.repeats, Path(tmp))
    load_after = os.getloadavg()
    result = {
        "benchmark": "Dask LocalCluster, 2 workers vs 1 (processes, one thread each), two study stages",
        "study_work": study_work.name,
        "repeats": args.repeats,
        "features": features,
        "prediction": prediction,
        "machine": machine_info(load_before, load_after, "2-core machine: a speed-up needs both cores idle"),
    }
    write_json(args.out, result)
    LOG.info("features 2 vs 1 workers %.2fx, prediction %.2fx -> %s", features["speedup_workers2"],
             prediction["speedup_workers2"], args.out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
