"""Dask scaling: segmentation metrics of synthetic cases on 1 vs 2 Dask workers.

Writes ``results/benchmarks/dask_scaling.json``. Usage::

    python -m benchmarks.bench_dask [--cases 40] [--repeats 2] [--out results/benchmarks/dask_scaling.json]

Each task builds one synthetic reference/prediction pair (25 x 336 x 336 voxels at
0.6 x 0.6 x 3.3 mm, 2-4 ellipsoid lesions, the prediction shifted and shrunk) from its
seed and computes ``nnunet_fm.seg_metrics.mask_metrics``; only seeds and metric rows
cross the network, as in the evaluation stage where workers read the masks from disk.
The clusters are started before timing (LocalCluster, processes, one thread each) and
warmed up; repeats alternate between them and the timing covers ``map_on_cluster`` only.
Timings depend on what else runs on the machine: the JSON records the CPU count, load
averages and a control speed-up.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import time
from typing import Any, Callable, Sequence

import numpy as np

from benchmarks.machine import machine_info

LOG = logging.getLogger(__name__)

SHAPE_ZYX = (25, 336, 336)
SPACING_ZYX_MM = (3.3, 0.6, 0.6)
#: Load average above which the result is labelled as measured on a loaded machine.
LOADED_MACHINE = 1.5


def synthetic_case_metrics(seed: int) -> dict[str, Any]:
    """Metrics row of one synthetic case (a pure function of ``seed``)."""
    from nnunet_fm.seg_metrics import mask_metrics

    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[0:SHAPE_ZYX[0], 0:SHAPE_ZYX[1], 0:SHAPE_ZYX[2]]
    ref = np.zeros(SHAPE_ZYX, dtype=bool)
    pred = np.zeros(SHAPE_ZYX, dtype=bool)
    for _ in range(int(rng.integers(2, 5))):
        centre = rng.uniform((6, 80, 80), (19, 256, 256))
        radii = rng.uniform((1.5, 8, 6), (4, 30, 20))
        shift = rng.normal(0, (0.5, 2.0, 2.0))
        shrink = rng.uniform(0.8, 1.1)
        ref |= sum(((c - m) / r) ** 2 for c, m, r in zip((z, y, x), centre, radii)) < 1
        pred |= sum(((c - m - s) / (r * shrink)) ** 2 for c, m, s, r in zip((z, y, x), centre, shift, radii)) < 1
    return {"case_id": f"synthetic_{seed:04d}", **mask_metrics(ref, pred, SPACING_ZYX_MM)}


@contextlib.contextmanager
def clients(worker_counts: Sequence[int] = (1, 2)):
    """One LocalCluster client per worker count (processes, one thread each), workers up.

    Both clusters stay up (idle workers cost no CPU) so the repeats can alternate between
    them: a change of the machine's load then hits both settings alike.
    """
    from nnunet_fm.cluster import ClusterConfig, open_client

    with contextlib.ExitStack() as stack:
        out = {}
        for n in worker_counts:
            out[n] = stack.enter_context(open_client(ClusterConfig(scheduler="local", n_workers=n, dashboard=False)))
            out[n].wait_for_workers(n, timeout=120)
        yield out


def alternate(runs: dict[int, Callable[[], Any]], repeats: int) -> tuple[dict[int, list[float]], dict[int, Any]]:
    """Wall seconds of each repeat and the last output, per worker count, repeats interleaved."""
    seconds: dict[int, list[float]] = {n: [] for n in runs}
    outputs: dict[int, Any] = {}
    for _ in range(repeats):
        for n, run in runs.items():
            started = time.perf_counter()
            outputs[n] = run()
            seconds[n].append(time.perf_counter() - started)
            LOG.info("%d worker(s): %.2f s", n, seconds[n][-1])
    return seconds, outputs


def measure(seeds: list[int], repeats: int) -> tuple[dict[int, list[float]], dict[int, list[dict]]]:
    """Wall seconds of every repeat and the rows, per worker count (1 and 2)."""
    from nnunet_fm.cluster import map_on_cluster

    def metrics(client) -> list[dict]:
        return map_on_cluster(client, synthetic_case_metrics, seeds, desc="bench-dask", progress=False)

    with clients() as client_by_n:
        for n, client in client_by_n.items():  # warm-up: imports on every worker
            map_on_cluster(client, synthetic_case_metrics, seeds[:n * 2], desc="bench-dask", progress=False)
        return alternate({n: (lambda c=c: metrics(c)) for n, c in client_by_n.items()}, repeats)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write its JSON; returns an exit code."""
    from benchmarks.bench_features import control_speedup
    from nnunet_fm.atomic import write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2, help="runs per worker count; the fastest counts")
    parser.add_argument("--out", default=os.path.join("results", "benchmarks", "dask_scaling.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import distributed  # noqa: F401 - its import configures its loggers; quieten them after

    logging.getLogger("distributed").setLevel(logging.WARNING)  # cluster start/stop chatter

    seeds = list(range(args.cases))
    load_before = os.getloadavg()
    runs, rows = measure(seeds, args.repeats)
    load_after = os.getloadavg()
    control = control_speedup(chunks=8)
    if rows[1] != rows[2]:
        raise RuntimeError("1 and 2 workers gave different metric rows")
    best = {n: min(seconds) for n, seconds in runs.items()}
    loaded = max(load_before[0], load_after[0]) > LOADED_MACHINE
    result = {
        "benchmark": "nnunet_fm.seg_metrics.mask_metrics per synthetic case as Dask tasks (LocalCluster)",
        "label": "loaded machine" if loaded else "idle machine",
        "cases": args.cases,
        "case_shape_zyx": list(SHAPE_ZYX),
        "spacing_zyx_mm": list(SPACING_ZYX_MM),
        "repeats": args.repeats,
        "all_seconds_workers1": [round(s, 3) for s in runs[1]],
        "all_seconds_workers2": [round(s, 3) for s in runs[2]],
        "seconds_workers1": round(best[1], 3),
        "seconds_workers2": round(best[2], 3),
        "seconds_per_case_workers1": round(best[1] / args.cases, 4),
        "speedup_workers2": round(best[1] / best[2], 3),
        "identical_rows": True,
        "mean_dice": round(float(np.mean([r["dice"] for r in rows[1]])), 4),
        # What two processes gain on trivially parallel pure-Python work right now:
        # the ceiling this machine allows; read the Dask speed-up against it.
        "control_speedup_trivially_parallel": round(control, 3),
        "machine": machine_info(load_before, load_after, f"labelled 'loaded machine' when the 1-min load average exceeds {LOADED_MACHINE}"),
    }
    write_json(args.out, result)
    LOG.info("speed-up 2 vs 1 Dask worker: %.2fx (control %.2fx, %s; wrote %s)",
             result["speedup_workers2"], control, result["label"], args.out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
