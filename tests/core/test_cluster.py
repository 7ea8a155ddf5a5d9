"""Scale-out on Dask: config validation, SLURM script, and a real 2-worker LocalCluster."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from nnunet_fm.cluster import (  # noqa: E402 - after the importorskip
    ClusterConfig,
    ClusterConfigError,
    ClusterStartError,
    ClusterTaskError,
    _task_keys,
    chunk_evenly,
    gpu_groups,
    map_chunks,
    map_items,
    map_on_cluster,
    open_client,
    render_slurm_job_script,
    run_folds_on_cluster,
    visible_gpus,
    worker_count,
)
from nnunet_fm.atomic import write_csv  # noqa: E402
from nnunet_fm.parallel import map_with_progress  # noqa: E402

# ----------------------------------------------------------------- task functions (run on workers)


def _case_metrics(seed: int) -> dict:
    """A per-case task like evaluation: metrics of two random blobs on an anisotropic grid."""
    from nnunet_fm.seg_metrics import mask_metrics

    rng = np.random.default_rng(seed)
    ref = rng.random((6, 24, 24)) > 0.7
    pred = ref.copy()
    pred[:, : int(rng.integers(2, 10))] = False
    return {"case_id": f"case_{seed:03d}", **mask_metrics(ref, pred, (0.7, 0.7, 3.3))}


def _die_once(item: tuple[int, str]) -> tuple[int, int]:
    """Kills its worker process on the first attempt of item 3 (marker file), else returns."""
    value, marker = item
    if value == 3 and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os._exit(1)
    return value * 10, os.getpid()


def _fail_on_seven(case_id: str) -> str:
    if case_id == "case_007":
        raise ValueError(f"{case_id}: mask has wrong geometry")
    return case_id


def _fail_first_others_slow(case_id: str) -> str:
    if case_id == "case_000":
        raise ValueError(f"{case_id}: unreadable mask")
    time.sleep(1.5)
    return case_id


def _tasks_on_scheduler(dask_scheduler, prefix: str) -> list[str]:
    return [str(key) for key in dask_scheduler.tasks if str(key).startswith(prefix)]


def _fail_twice(counter: str) -> int:
    """Raises on its first two attempts (counted in a file), then returns the attempt count."""
    with open(counter, "a") as f:
        f.write("x")
    attempts = len(Path(counter).read_text(encoding="utf-8"))
    if attempts < 3:
        raise RuntimeError(f"attempt {attempts} failed")
    return attempts


def _child_process_sum(n: int) -> int:
    """Starts a process inside the task, as nnU-Net's data loaders and exporters do."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(sum, range(n)).result()


def _train_fold(fold: int, epochs: int) -> dict:
    return {"fold": fold, "epochs": epochs, "pid": os.getpid()}


def _squares_with_pid(chunk: list[int]) -> list[tuple[int, int]]:
    """A chunk task: one setup per chunk (here: the pid), then every item."""
    pid = os.getpid()
    return [(value * value, pid) for value in chunk]


def _drop_last(chunk: list[int]) -> list[int]:
    return chunk[:-1]


def _visible_devices() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")


def _evaluate_pair(task: tuple[str, str, str]) -> dict:
    """The evaluation stage's per-case task shape: id and two mask files -> CSV row."""
    from nnunet_fm.seg_evaluation import evaluate_case

    return evaluate_case(*task)


@pytest.fixture(scope="module")
def client():
    """One 2-worker process cluster for the module (starting one takes seconds)."""
    with open_client(ClusterConfig(scheduler="local", n_workers=2, dashboard=False)) as dask_client:
        dask_client.wait_for_workers(2, timeout=60)
        yield dask_client


# ----------------------------------------------------------------- the cluster


def test_map_on_cluster_matches_local_path_in_order(client):
    seeds = list(range(10))
    local = map_with_progress(_case_metrics, seeds, jobs=1, progress=False)
    dask_results = map_on_cluster(client, _case_metrics, seeds, desc="metrics", progress=False)
    assert dask_results == local
    assert [r["case_id"] for r in dask_results] == [f"case_{s:03d}" for s in seeds]
    assert worker_count(client) == 2
    assert map_on_cluster(client, _case_metrics, [], progress=False) == []


def test_map_items_picks_local_or_dask(client):
    seeds = [5, 1, 4]
    expected = [_case_metrics(s) for s in seeds]
    assert map_items(_case_metrics, seeds, cluster=None, jobs=1, progress=False) == expected
    assert map_items(_case_metrics, seeds, cluster=ClusterConfig(scheduler="none"), progress=False) == expected
    assert map_items(_case_metrics, seeds, cluster=client, desc="metrics", progress=False) == expected


def test_evaluation_csv_through_dask_is_byte_identical_to_the_local_stage(client, tmp_path):
    import SimpleITK as sitk

    from nnunet_fm.seg_evaluation import CSV_COLUMNS, evaluate_folders
    from tests.conftest import make_image

    ref_dir, pred_dir = tmp_path / "ref", tmp_path / "pred"
    ref_dir.mkdir()
    pred_dir.mkdir()
    rng = np.random.default_rng(11)
    for i in range(5):  # 25 oblique slices at 0.6 x 0.6 x 3.3 mm; case 4's prediction is empty
        ref = np.zeros((25, 48, 48), np.uint8)
        ref[8:14, 10:30, 12:32] = 1
        pred = np.roll(ref, int(rng.integers(-3, 4)), axis=2) if i != 4 else np.zeros_like(ref)
        for array, folder in ((ref, ref_dir), (pred, pred_dir)):
            sitk.WriteImage(make_image(array, spacing=(0.6, 0.6, 3.3)), str(folder / f"SIJ_{i:03d}.nii.gz"))
    local_csv = tmp_path / "local.csv"
    evaluate_folders(pred_dir, ref_dir, out_csv=local_csv, jobs=1, progress=False)
    tasks = [(f"SIJ_{i:03d}", str(ref_dir / f"SIJ_{i:03d}.nii.gz"), str(pred_dir / f"SIJ_{i:03d}.nii.gz"))
             for i in range(5)]
    rows = map_items(_evaluate_pair, tasks, cluster=client, desc="evaluate-seg", item_id=lambda t: t[0],
                     progress=False)
    dask_csv = tmp_path / "dask.csv"
    write_csv(dask_csv, pd.DataFrame(rows, columns=list(CSV_COLUMNS)))
    assert dask_csv.read_bytes() == local_csv.read_bytes()
    assert rows[4]["empty_case"] == "ref_only" and rows[0]["empty_case"] == "none"


def test_map_chunks_gives_one_chunk_per_worker_in_input_order(client):
    values = list(range(9))
    results = map_chunks(_squares_with_pid, values, cluster=client, desc="predict", progress=False)
    assert [square for square, _ in results] == [v * v for v in values]
    pids = [pid for _, pid in results]
    assert pids[:5] == [pids[0]] * 5 and pids[5:] == [pids[5]] * 4  # two contiguous chunks, one per task
    local = map_chunks(_squares_with_pid, values, cluster=None, jobs=1, progress=False)
    assert [square for square, _ in local] == [v * v for v in values]
    with pytest.raises(RuntimeError, match="a chunk of 5 item"):
        map_chunks(_drop_last, values, cluster=client, desc="predict", progress=False)


def test_killed_worker_task_reruns_and_map_completes(client, tmp_path):
    marker = tmp_path / "died_once"
    items = [(i, str(marker)) for i in range(6)]
    results = map_on_cluster(client, _die_once, items, desc="die-once", item_id=lambda t: t[0], progress=False)
    assert [value for value, _ in results] == [0, 10, 20, 30, 40, 50]
    assert marker.exists(), "the first attempt of item 3 did not run"
    # The rerun ran in another process than the one that died.
    assert results[3][1] != int(marker.read_text(encoding="utf-8"))
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the dead worker


def test_failing_item_error_names_it_and_cancels_the_rest(client):
    ids = [f"case_{i:03d}" for i in range(10)]
    expected = r"evaluate-seg: item case_007 failed: ValueError: case_007: mask"
    with pytest.raises(ClusterTaskError, match=expected) as info:
        map_on_cluster(client, _fail_on_seven, ids, desc="evaluate-seg", retries=0, progress=False)
    assert isinstance(info.value.__cause__, ValueError)


def test_failure_cancels_the_remaining_tasks(client):
    ids = [f"case_{i:03d}" for i in range(10)]  # 9 x 1.5 s of work left when case_000 fails
    with pytest.raises(ClusterTaskError, match="item case_000 failed"):
        map_on_cluster(client, _fail_first_others_slow, ids, desc="slow", retries=0, progress=False)
    deadline = time.monotonic() + 3
    while client.run_on_scheduler(_tasks_on_scheduler, prefix="slow-") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.run_on_scheduler(_tasks_on_scheduler, prefix="slow-") == []


def test_task_that_raises_is_retried(client, tmp_path):
    counter = str(tmp_path / "attempts")
    assert map_on_cluster(client, _fail_twice, [counter], desc="flaky", retries=2, progress=False) == [3]
    with pytest.raises(ClusterTaskError, match="attempt 2 failed"):
        map_on_cluster(client, _fail_twice, [str(tmp_path / "again")], desc="flaky", retries=1, progress=False)


def test_workers_may_start_child_processes(client):
    assert map_on_cluster(client, _child_process_sum, [10, 100], desc="nested", progress=False) == [45, 4950]


def test_folds_run_as_tasks_in_fold_order(client):
    results = run_folds_on_cluster(client, functools.partial(_train_fold, epochs=2), [1, 0], gpu=False,
                                   progress=False)
    assert [(r["fold"], r["epochs"]) for r in results] == [(1, 2), (0, 2)]


def test_gpu_tasks_without_gpu_workers_fail_at_once(client):
    with pytest.raises(ValueError, match="no Dask worker offers resources"):
        run_folds_on_cluster(client, functools.partial(_train_fold, epochs=1), [0], gpu=True, progress=False)


def test_gpu_cluster_pins_one_device_per_worker_and_closes_on_error():
    import psutil

    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    config = ClusterConfig(scheduler="local", dashboard=False, worker_memory_limit="2GB")
    with pytest.raises(KeyboardInterrupt):
        with open_client(config, gpu=True, gpus=("0", "1")) as gpu_client:
            gpu_client.wait_for_workers(2, timeout=60)
            assert sorted(gpu_client.run(_visible_devices).values()) == ["0", "1"]
            resources = [w["resources"] for w in gpu_client.scheduler_info()["workers"].values()]
            assert resources == [{"GPU": 1}, {"GPU": 1}]
            started = [p for p in me.children(recursive=True) if p.pid not in before]
            assert len(started) >= 2
            raise KeyboardInterrupt
    _, alive = psutil.wait_procs(started, timeout=20)
    assert alive == []


def test_scheduler_address_connects_without_owning_the_cluster(client):
    address = client.scheduler.address
    with open_client(ClusterConfig(scheduler=address, dashboard=False)) as remote:
        assert remote.scheduler.address == address
        assert map_on_cluster(remote, _case_metrics, [2], progress=False) == [_case_metrics(2)]
    assert worker_count(client) == 2  # leaving the block closed only that client


def test_unreachable_scheduler_is_one_clear_error():
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(ClusterStartError, match="tcp://127.0.0.1:9: cannot reach the Dask scheduler"):
            with open_client(ClusterConfig(scheduler="tcp://127.0.0.1:9")):
                pass


def test_slurm_without_sbatch_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no sbatch
    with pytest.raises(ClusterStartError, match="sbatch is not on PATH"):
        with open_client(ClusterConfig(scheduler="slurm")):
            pass


def test_slurm_cluster_submits_its_jobs_and_cancels_them_on_close(monkeypatch, tmp_path):
    """Stand-in sbatch/scancel record what dask-jobqueue submits (no SLURM needed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {tmp_path}/job_$$.sh\necho "Submitted batch job $$"\n')
    (bin_dir / "scancel").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/cancelled\n')
    for tool in ("sbatch", "scancel"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config = ClusterConfig(scheduler="slurm", queue="gpu", account="lab42", cores=2, memory="4GB", jobs=2,
                           dashboard=False)
    with open_client(config, gpu=True) as slurm_client:
        deadline = time.monotonic() + 20
        while len(list(tmp_path.glob("job_*.sh"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        scheduler = slurm_client.scheduler.address
    scripts = [path.read_text(encoding="utf-8") for path in sorted(tmp_path.glob("job_*.sh"))]
    assert len(scripts) == 2
    for script in scripts:
        assert "#SBATCH -p gpu" in script and "#SBATCH --gres=gpu:1" in script and "#SBATCH --mem=4G" in script
        assert f"dask_worker {scheduler} " in script and "--resources GPU=1" in script
    cancelled = (tmp_path / "cancelled").read_text(encoding="utf-8").split()
    assert sorted(cancelled) == sorted(p.stem.split("_")[1] for p in tmp_path.glob("job_*.sh"))


def test_none_scheduler_yields_no_client():
    with open_client(ClusterConfig()) as nothing:
        assert nothing is None


# ----------------------------------------------------------------- pure parts


def test_slurm_job_script_requests_the_configured_resources():
    config = ClusterConfig(scheduler="slurm", queue="gpu-a100", account="lab42", cores=8, memory="64GB",
                           walltime="1-12:00:00", jobs=5, gpus_per_worker=1,
                           job_extra_directives=("--qos=long",), job_script_prologue=("module load cuda/12.4",),
                           python="/shared/venv/bin/python")
    script = render_slurm_job_script(config, gpu=True)
    lines = script.splitlines()
    for expected in ("#SBATCH -p gpu-a100", "#SBATCH -A lab42", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=64G",
                     "#SBATCH -t 1-12:00:00", "#SBATCH --gres=gpu:1", "#SBATCH --qos=long", "module load cuda/12.4",
                     "export DASK_DISTRIBUTED__WORKER__DAEMON=False"):
        assert expected in lines, expected
    worker = [line for line in lines if "dask_worker" in line][0]
    assert worker.startswith("/shared/venv/bin/python -m distributed.cli.dask_worker")
    assert "--nthreads 1" in worker and "--resources GPU=1" in worker and "--nworkers" not in worker

    cpu_script = render_slurm_job_script(config, gpu=False)
    assert "--gres" not in cpu_script and "--resources" not in cpu_script
    assert "--nworkers 8" in cpu_script and "--nthreads 1" in cpu_script


@pytest.mark.parametrize("field, value", [
    ("scheduler", "localhost:8786"), ("scheduler", "tcp://host"), ("n_workers", 0), ("gpus_per_worker", 0),
    ("memory", "64"), ("memory", "1.5TB"), ("walltime", "12h"), ("jobs", 0), ("cores", 0),
    ("queue", " gpu"), ("job_extra_directives", ("qos=long",)), ("worker_memory_limit", "lots"),
])
def test_bad_setting_names_its_field(field, value):
    with pytest.raises(ClusterConfigError, match=f"cluster.{field}"):
        ClusterConfig(**{field: value})


def test_scheduler_kinds():
    assert ClusterConfig().kind == "none"
    assert ClusterConfig(scheduler="tcp://10.0.0.5:8786").kind == "address"
    assert ClusterConfig(scheduler="slurm").kind == "slurm"


def test_gpu_groups_and_visible_gpus(monkeypatch):
    assert gpu_groups(["0", "1", "2", "3", "4"], 2) == [("0", "1"), ("2", "3")]
    with pytest.raises(ClusterConfigError, match="needs 1 GPU"):
        gpu_groups([], 1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 5")
    assert visible_gpus() == ("2", "5")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == ()


def test_chunk_evenly_keeps_order_and_balances():
    assert chunk_evenly(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert chunk_evenly([1, 2], 5) == [[1], [2]]
    assert chunk_evenly([], 2) == []
    with pytest.raises(ValueError, match="n_chunks"):
        chunk_evenly([1], 0)


def test_task_keys_are_readable_unique_and_refuse_duplicate_ids():
    keys = _task_keys("features", ["a", "b"])
    assert keys[0].startswith("features-a-") and keys[1].startswith("features-b-")
    assert _task_keys("features", ["a"]) != keys[:1]  # a rerun never reuses an old result
    with pytest.raises(ValueError, match="'a' appears twice"):
        _task_keys("features", ["a", "a"])


def test_a_prediction_chunk_uses_the_dask_workers_threads_not_the_local_paths():
    from distributed import Client, LocalCluster

    from nnunet_fm.nnunet.prediction import worker_threads

    assert worker_threads(2) == 2  # not on a worker: the caller's setting
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        assert client.submit(worker_threads, 2, pure=False).result() == 1
