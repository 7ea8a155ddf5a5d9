"""Scale-out on Dask: one cluster setting, one client, one map over items.

A stage maps a picklable top-level function over items (cases, folds, chunks of cases).
With ``scheduler: none`` it runs in local processes (``nnunet_fm.parallel``); otherwise
each item is one Dask task on a ``LocalCluster`` (this machine; one worker per GPU for
GPU stages), an existing scheduler (``tcp://host:port``) or a SLURM cluster started with
dask-jobqueue. Results keep the input order, so tables gathered from the tasks are the
same as the local path's.

Typical use in a stage::

    rows = map_items(evaluate_case, tasks, cluster=settings.cluster, jobs=settings.jobs,
                     desc="evaluate-seg", item_id=lambda t: t.case_id)

Dask's own engine does the scheduling; a task whose worker dies is rescheduled by the
scheduler (up to ``distributed.scheduler.allowed-failures`` times) and a task that raises
is retried ``retries`` times before the map fails.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence, Union

if TYPE_CHECKING:  # pragma: no cover - typing only
    from distributed import Client

LOG = logging.getLogger(__name__)

#: Values of ``cluster.scheduler`` besides a scheduler address.
SCHEDULER_KINDS = ("none", "local", "slurm")
#: Name of the Dask worker resource that GPU tasks ask for.
GPU_RESOURCE = "GPU"
#: Retries of a task that raised (worker deaths are rescheduled by Dask independently).
DEFAULT_RETRIES = 2
#: Dask config that lets worker processes start their own child processes (nnU-Net's
#: data loaders and exporters do; daemonic workers could not).
NON_DAEMON_WORKERS = {"distributed.worker.daemon": False}

_ADDRESS = re.compile(r"^(tcp|tls)://[^\s/:]+:\d{1,5}$")
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*[KMGT]i?B$", re.IGNORECASE)
_JOB_MEMORY = re.compile(r"^(\d+)\s*([KMGT])i?B$", re.IGNORECASE)
_WALLTIME = re.compile(r"^(\d+-)?\d{1,3}(:\d{2}){0,2}$")


class ClusterConfigError(ValueError):
    """A ``cluster:`` setting is missing, unknown or out of range."""


class ClusterStartError(RuntimeError):
    """The cluster cannot be started or its scheduler cannot be reached."""


class ClusterTaskError(RuntimeError):
    """An item's task failed on the cluster; the message names the item."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ClusterConfigError(message)


@dataclass(frozen=True)
class ClusterConfig:
    """Where the per-item tasks of a stage run.

    Attributes:
        scheduler: ``none`` (local processes, today's path), ``local`` (a Dask
            ``LocalCluster`` on this machine), ``tcp://host:port`` (an existing Dask
            scheduler) or ``slurm`` (workers in SLURM jobs, via dask-jobqueue).
        n_workers: Workers of a ``local`` CPU cluster (one process, one thread each);
            ``None`` = one per usable core. GPU stages always get one worker per
            ``gpus_per_worker`` visible GPUs.
        gpus_per_worker: GPUs of a GPU worker (``local``: its pinned devices; ``slurm``:
            ``--gres=gpu:N`` of its job, which runs one worker). Advertised as the
            worker resource ``GPU``; a GPU task asks for ``GPU: 1``.
        worker_memory_limit: Memory limit of a ``local`` worker (``"16GB"``; ``"0"`` =
            none); ``None`` = the machine's memory split over the workers.
        dashboard: Serve Dask's dashboard (needs bokeh) and log its address.
        queue: SLURM partition (``#SBATCH -p``); ``None`` = the cluster's default.
        account: SLURM account (``#SBATCH -A``); ``None`` = the user's default.
        cores: CPUs of one SLURM job (``--cpus-per-task``). CPU stages run one
            single-threaded worker per core; a GPU job runs one worker and leaves
            the cores to nnU-Net's data loaders.
        memory: Memory of one SLURM job (``--mem``), e.g. ``"32GB"``.
        walltime: Time limit of one SLURM job (``-t``), e.g. ``"24:00:00"``.
        jobs: SLURM jobs to submit (``cluster.scale(jobs=...)``).
        job_extra_directives: More ``#SBATCH`` lines, e.g. ``["--qos=long"]``.
        job_script_prologue: Shell lines run before the worker starts, e.g.
            ``["module load cuda/12.4", "source /shared/venv/bin/activate"]``.
        local_directory: Worker scratch folder on the compute node (spilling).
        log_directory: Folder for the SLURM jobs' stdout/stderr files.
        python: Python executable of the workers (``None`` = this one, which must
            then exist on the compute nodes too).
        interface: Network interface of scheduler and workers (e.g. ``ib0``).
    """

    scheduler: str = "none"
    n_workers: Optional[int] = None
    gpus_per_worker: int = 1
    worker_memory_limit: Optional[str] = None
    dashboard: bool = True
    queue: Optional[str] = None
    account: Optional[str] = None
    cores: int = 4
    memory: str = "16GB"
    walltime: str = "24:00:00"
    jobs: int = 1
    job_extra_directives: tuple[str, ...] = ()
    job_script_prologue: tuple[str, ...] = ()
    local_directory: Optional[str] = None
    log_directory: Optional[str] = None
    python: Optional[str] = None
    interface: Optional[str] = None

    def __post_init__(self) -> None:
        _require(isinstance(self.scheduler, str) and (self.scheduler in SCHEDULER_KINDS
                                                      or bool(_ADDRESS.match(self.scheduler))),
                 f"cluster.scheduler must be one of {', '.join(SCHEDULER_KINDS)} or tcp://host:port, "
                 f"got {self.scheduler!r}")
        _require(self.n_workers is None or self.n_workers >= 1,
                 f"cluster.n_workers must be >= 1 (or null = one per core), got {self.n_workers}")
        _require(1 <= self.gpus_per_worker <= 16, f"cluster.gpus_per_worker must be 1-16, got {self.gpus_per_worker}")
        limit = self.worker_memory_limit
        _require(limit is None or limit == "0" or bool(_MEMORY.match(limit)),
                 f"cluster.worker_memory_limit must look like '16GB' (or '0' = no limit), got {limit!r}")
        _require(1 <= self.cores <= 1024, f"cluster.cores must be 1-1024, got {self.cores}")
        _require(bool(_JOB_MEMORY.match(self.memory)),
                 f"cluster.memory must be whole units like '32GB' (SLURM --mem=32G), got {self.memory!r}")
        _require(bool(_WALLTIME.match(self.walltime)),
                 f"cluster.walltime must be SLURM time like '24:00:00' or '1-12:00:00', got {self.walltime!r}")
        _require(1 <= self.jobs <= 10_000, f"cluster.jobs must be 1-10000, got {self.jobs}")
        for name in ("queue", "account", "local_directory", "log_directory", "python", "interface"):
            value = getattr(self, name)
            _require(value is None or (isinstance(value, str) and value.strip() == value and value != ""),
                     f"cluster.{name} must be a non-empty string without surrounding spaces, got {value!r}")
        for line in self.job_extra_directives:
            _require(line.startswith("-") and "\n" not in line,
                     f"cluster.job_extra_directives entries are sbatch options like '--qos=long', got {line!r}")
        for line in self.job_script_prologue:
            _require("\n" not in line, f"cluster.job_script_prologue entries must be single lines, got {line!r}")

    @property
    def kind(self) -> str:
        """``none``, ``local``, ``address`` or ``slurm``."""
        return self.scheduler if self.scheduler in SCHEDULER_KINDS else "address"


# --------------------------------------------------------------------------- cluster specs


def visible_gpus() -> tuple[str, ...]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else torch's count."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = tuple(part.strip() for part in listed.split(",") if part.strip())
        return tuple(i for i in ids if i != "-1")
    try:
        import torch
    except ImportError:
        return ()
    return tuple(str(i) for i in range(torch.cuda.device_count())) if torch.cuda.is_available() else ()


def gpu_groups(gpus: Sequence[str], gpus_per_worker: int) -> list[tuple[str, ...]]:
    """Split GPU ids into one group per worker (a remainder smaller than a group is left out).

    Raises:
        ClusterConfigError: Fewer GPUs than one worker needs.
    """
    gpus = [str(g) for g in gpus]
    _require(len(gpus) >= gpus_per_worker,
             f"cluster: a GPU stage needs {gpus_per_worker} GPU(s) per worker but {len(gpus)} are visible "
             f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r})")
    n_workers = len(gpus) // gpus_per_worker
    return [tuple(gpus[i * gpus_per_worker:(i + 1) * gpus_per_worker]) for i in range(n_workers)]


def usable_cores() -> int:
    """Cores this process may run on (CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def slurm_cluster_kwargs(config: ClusterConfig, gpu: bool) -> dict[str, Any]:
    """Keyword arguments of ``dask_jobqueue.SLURMCluster`` for a CPU or a GPU stage.

    CPU stages: ``cores`` single-threaded workers per job. GPU stages: one worker per job
    with ``--gres=gpu:N``, the resource ``GPU=N`` and all the job's cores for its loaders.
    """
    prologue = list(config.job_script_prologue)
    # Workers must be allowed to start processes (nnU-Net's loaders, exporters).
    prologue.append("export DASK_DISTRIBUTED__WORKER__DAEMON=False")
    directives = list(config.job_extra_directives)
    worker_args: list[str] = []
    if gpu:
        threads, processes = 1, 1
        directives.append(f"--gres=gpu:{config.gpus_per_worker}")
        worker_args += ["--resources", f"{GPU_RESOURCE}={config.gpus_per_worker}"]
    else:
        threads, processes = config.cores, config.cores
    number, unit = _JOB_MEMORY.match(config.memory).groups()
    kwargs: dict[str, Any] = dict(
        # SLURM's G is GiB: '32GB' asks for --mem=32G and the workers share 32 GiB.
        cores=threads, processes=processes, job_cpu=config.cores, memory=f"{number}{unit.upper()}iB",
        job_mem=f"{number}{unit.upper()}",
        walltime=config.walltime, queue=config.queue, account=config.account,
        job_extra_directives=directives, job_script_prologue=prologue, worker_extra_args=worker_args,
        job_name="nnunet-fm-gpu" if gpu else "nnunet-fm-cpu",
    )
    for name in ("local_directory", "log_directory", "python", "interface"):
        if getattr(config, name) is not None:
            kwargs[name] = getattr(config, name)
    return kwargs


def render_slurm_job_script(config: ClusterConfig, gpu: bool = True,
                            scheduler_address: str = "tcp://SCHEDULER:8786") -> str:
    """The batch script a ``slurm`` cluster submits per job, without starting anything.

    Args:
        config: Cluster settings (``scheduler`` may be anything; SLURM fields are used).
        gpu: Render the GPU-stage job (training, prediction) instead of the CPU one.
        scheduler_address: Placeholder for the scheduler the workers connect to.
    """
    from dask_jobqueue.slurm import SLURMJob

    job = SLURMJob(scheduler=scheduler_address, name="nnunet-fm-worker", **slurm_cluster_kwargs(config, gpu))
    return job.job_script()


def _local_memory_limit(config: ClusterConfig, n_workers: int) -> Union[str, int]:
    if config.worker_memory_limit is not None:
        return config.worker_memory_limit
    from distributed.system import MEMORY_LIMIT  # the machine's memory, or its cgroup limit

    return int(MEMORY_LIMIT // n_workers)


def _start_local_cpu(config: ClusterConfig):
    from distributed import LocalCluster

    n_workers = config.n_workers or usable_cores()
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                        memory_limit=_local_memory_limit(config, n_workers),
                        dashboard_address=":8787" if config.dashboard else None)


def _start_local_gpu(config: ClusterConfig, gpus: Sequence[str]):
    """One worker per GPU group, its devices pinned before the worker process starts."""
    from distributed import Nanny, Scheduler, SpecCluster

    groups = gpu_groups(gpus, config.gpus_per_worker)
    memory_limit = _local_memory_limit(config, len(groups))
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "protocol": "tcp://",
                                               "dashboard": config.dashboard,
                                               # its HTTP server runs anyway: a free port when off
                                               "dashboard_address": ":8787" if config.dashboard else ":0"}}
    workers = {
        f"gpu-{'-'.join(group)}": {"cls": Nanny, "options": {
            "host": "127.0.0.1", "nthreads": 1, "memory_limit": memory_limit,
            "resources": {GPU_RESOURCE: len(group)},
            "env": {"CUDA_VISIBLE_DEVICES": ",".join(group)},  # read by CUDA at its first use in the worker
        }}
        for group in groups
    }
    return SpecCluster(workers=workers, scheduler=scheduler, name="nnunet-fm-gpu")


def _start_slurm(config: ClusterConfig, gpu: bool):
    import shutil

    from dask_jobqueue import SLURMCluster

    if shutil.which("sbatch") is None:  # else jobs fail in the background and the stage waits forever
        raise ClusterStartError("cluster.scheduler is 'slurm' but sbatch is not on PATH: "
                                "run nnunet-fm on a SLURM login or compute node")

    scheduler_options = {"dashboard_address": ":8787" if config.dashboard else ":0"}
    cluster = SLURMCluster(scheduler_options=scheduler_options, **slurm_cluster_kwargs(config, gpu))
    cluster.scale(jobs=config.jobs)
    return cluster


def _log_started(client, config: ClusterConfig, cluster) -> None:
    n_workers = len(client.scheduler_info().get("workers", {}))
    if not config.dashboard:
        dashboard = "off"
    elif importlib.util.find_spec("bokeh") is None:
        dashboard = "unavailable (install bokeh to serve it)"
    else:
        dashboard = client.dashboard_link
    LOG.info("Dask %s: scheduler %s, %d worker(s) now, dashboard %s",
             type(cluster).__name__ if cluster is not None else "scheduler", client.scheduler.address,
             n_workers, dashboard)


def _connect(client_class, target):
    """A client of a cluster object or an address; an unreachable address is one clear line."""
    try:
        return client_class(target)
    except OSError as exc:  # includes the connect TimeoutError
        raise ClusterStartError(f"cluster.scheduler {target}: cannot reach the Dask scheduler ({exc})") from exc


@contextlib.contextmanager
def open_client(config: ClusterConfig, gpu: bool = False,
                gpus: Optional[Sequence[str]] = None) -> Iterator[Optional["Client"]]:
    """A Dask client for ``config``; closes client and any cluster it started on exit.

    Args:
        config: Cluster settings.
        gpu: The stage's tasks need GPUs (``local``: one worker per GPU group, pinned
            via ``CUDA_VISIBLE_DEVICES``; ``slurm``: GPU jobs).
        gpus: GPU ids a ``local`` GPU cluster uses (default: :func:`visible_gpus`).

    Yields:
        ``None`` for ``scheduler: none`` (the caller uses its local path), else a client.
    """
    if config.kind == "none":
        yield None
        return
    import dask
    from distributed import Client

    cluster = None
    with dask.config.set(NON_DAEMON_WORKERS):  # also covers workers the nanny restarts later
        try:
            if config.kind == "local":
                cluster = _start_local_gpu(config, visible_gpus() if gpus is None else gpus) if gpu \
                    else _start_local_cpu(config)
            elif config.kind == "slurm":
                cluster = _start_slurm(config, gpu)
            with _connect(Client, cluster if cluster is not None else config.scheduler) as client:
                _log_started(client, config, cluster)
                yield client
        finally:
            if cluster is not None:
                cluster.close()


# --------------------------------------------------------------------------- mapping


def _task_keys(label: str, ids: Sequence[str]) -> list[str]:
    """Readable, unique task keys: label, item id and a per-call token.

    The token keeps two runs on one shared scheduler (or a rerun while an old result is
    still held) from receiving each other's results under the same key.
    """
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{label}: item id {item!r} appears twice; task keys must be unique")
        seen.add(item)
    token = uuid.uuid4().hex[:8]
    return [f"{label}-{item}-{token}" for item in ids]


def _check_resources(client: "Client", resources: Optional[dict[str, float]], label: str) -> None:
    """Fail at once (instead of waiting forever) when no worker offers the resources."""
    if not resources:
        return
    workers = client.scheduler_info().get("workers", {})
    if not workers:
        return  # workers still starting (e.g. SLURM jobs queued): the scheduler waits for them
    for info in workers.values():
        offered = info.get("resources", {}) or {}
        if all(offered.get(name, 0) >= amount for name, amount in resources.items()):
            return
    raise ValueError(f"{label}: no Dask worker offers resources {resources}; start GPU workers "
                     f"(e.g. `dask worker ... --resources {GPU_RESOURCE}=1`)")


def map_on_cluster(client: "Client", fn: Callable[[Any], Any], items: Sequence[Any], *, desc: str = "",
                   item_id: Callable[[Any], Any] = str, resources: Optional[dict[str, float]] = None,
                   retries: int = DEFAULT_RETRIES, progress: bool = True) -> list[Any]:
    """``[fn(item) for item in items]`` as one Dask task per item; results in input order.

    Args:
        client: A connected Dask client.
        fn: A picklable top-level function of one item (its module importable on the workers).
        items: The items (picklable).
        desc: Progress-bar label and prefix of the task keys and error messages.
        item_id: Item -> id used in task keys and error messages (unique per item).
        resources: Worker resources each task needs, e.g. ``{"GPU": 1}``.
        retries: Reruns of a task that raised before the map fails.
        progress: Show a tqdm bar over completed tasks (stderr).

    Raises:
        ClusterTaskError: An item failed after its retries (the message names it); the
            other tasks are cancelled first.
    """
    from distributed import as_completed
    from tqdm import tqdm

    items = list(items)
    label = desc or getattr(fn, "__name__", "task")
    ids = [str(item_id(item)) for item in items]
    keys = _task_keys(label, ids)
    _check_resources(client, resources, label)
    futures = [client.submit(fn, item, key=key, pure=False, resources=resources, retries=retries)
               for item, key in zip(items, keys)]
    position = {key: i for i, key in enumerate(keys)}
    results: list[Any] = [None] * len(items)
    try:
        bar = tqdm(as_completed(futures), total=len(futures), desc=desc, unit="case", disable=not progress)
        for future in bar:
            i = position[future.key]
            if future.status == "error":  # also KilledWorker after repeated worker deaths
                exc = future.exception()
                raise ClusterTaskError(f"{label}: item {ids[i]} failed: {type(exc).__name__}: {exc}") from exc
            if future.status != "finished":
                raise ClusterTaskError(f"{label}: item {ids[i]} was {future.status} (by another client?)")
            results[i] = future.result()
    finally:
        client.cancel([f for f in futures if not f.done()])  # nothing left running after an error or Ctrl-C
    return results


def map_items(fn: Callable[[Any], Any], items: Sequence[Any], *,
              cluster: Union[ClusterConfig, "Client", None] = None, jobs: int = 1, desc: str = "",
              item_id: Callable[[Any], Any] = str, gpu: bool = False, retries: int = DEFAULT_RETRIES,
              progress: bool = True) -> list[Any]:
    """The one mapping call of a stage: local processes or Dask, results in input order.

    Args:
        fn: A picklable top-level function of one item.
        items: The items.
        cluster: ``None`` or ``ClusterConfig(scheduler="none")``: local processes
            (``nnunet_fm.parallel.map_with_progress`` with ``jobs``); a ``ClusterConfig``:
            a client opened (and closed) for this call; a ``Client``: that client.
        jobs: Local worker processes (ignored on Dask).
        desc: Progress-bar label.
        item_id: Item -> id for task keys and error messages.
        gpu: Each task needs one GPU (resource ``GPU: 1``; a local cluster gets GPU workers).
        retries: Reruns of a task that raised (Dask only).
        progress: Show the progress bar.
    """
    if cluster is None or (isinstance(cluster, ClusterConfig) and cluster.kind == "none"):
        from nnunet_fm.parallel import map_with_progress

        return map_with_progress(fn, list(items), jobs=jobs, desc=desc, progress=progress)
    resources = {GPU_RESOURCE: 1} if gpu else None
    if isinstance(cluster, ClusterConfig):
        with open_client(cluster, gpu=gpu) as client:
            return map_on_cluster(client, fn, items, desc=desc, item_id=item_id, resources=resources,
                                  retries=retries, progress=progress)
    return map_on_cluster(cluster, fn, items, desc=desc, item_id=item_id, resources=resources,
                          retries=retries, progress=progress)


def _flatten_chunks(results: Sequence[Sequence[Any]], chunks: Sequence[Sequence[Any]], label: str) -> list[Any]:
    flat: list[Any] = []
    for result, chunk in zip(results, chunks):
        if len(result) != len(chunk):
            raise RuntimeError(f"{label}: a chunk of {len(chunk)} item(s) returned {len(result)} result(s)")
        flat.extend(result)
    return flat


def map_chunks(fn: Callable[[list], list], items: Sequence[Any], *,
               cluster: Union[ClusterConfig, "Client", None] = None, jobs: int = 1, desc: str = "",
               item_id: Callable[[Any], Any] = str, gpu: bool = False, retries: int = DEFAULT_RETRIES,
               progress: bool = True) -> list[Any]:
    """Like :func:`map_items`, but ``fn`` takes a list of items: one contiguous chunk per worker.

    For work with a costly setup per process, e.g. prediction loading the fold models
    once per chunk of cases. Results are flattened back into input order.

    Args:
        fn: Picklable top-level function: list of items -> list of results, same length.
        items: The items.
        cluster: As in :func:`map_items` (local path: ``jobs`` chunks in processes).
        jobs: Local worker processes (ignored on Dask).
        desc: Progress-bar label (the bar counts chunks).
        item_id: Item -> id; a chunk is named ``<first id>..<last id>``.
        gpu: Each chunk needs one GPU.
        retries: Reruns of a chunk whose task raised (Dask only).
        progress: Show the progress bar.
    """
    items = list(items)
    label = desc or getattr(fn, "__name__", "task")

    def chunk_id(chunk: list) -> str:
        return f"{item_id(chunk[0])}..{item_id(chunk[-1])}"

    if cluster is None or (isinstance(cluster, ClusterConfig) and cluster.kind == "none"):
        chunks = chunk_evenly(items, max(1, jobs))
        results = map_items(fn, chunks, cluster=None, jobs=jobs, desc=desc, progress=progress)
        return _flatten_chunks(results, chunks, label)
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(open_client(cluster, gpu=gpu)) if isinstance(cluster, ClusterConfig) \
            else cluster
        if not items:
            return []
        if worker_count(client) == 0:
            client.wait_for_workers(1)  # e.g. SLURM jobs still queued: chunk for the workers that came
        chunks = chunk_evenly(items, max(1, worker_count(client, GPU_RESOURCE if gpu else None)))
        results = map_on_cluster(client, fn, chunks, desc=desc, item_id=chunk_id,
                                 resources={GPU_RESOURCE: 1} if gpu else None, retries=retries, progress=progress)
    return _flatten_chunks(results, chunks, label)


def _fold_id(fold: int) -> str:
    return f"fold_{fold}"


def run_folds_on_cluster(client: "Client", train_one_fold: Callable[[int], dict], folds: Sequence[int],
                         gpu: bool, retries: int = 2, progress: bool = True) -> list[dict]:
    """Train folds as one Dask task each, concurrently on the workers; results in fold order.

    A fold whose task raised is retried ``retries`` times; one whose worker died is
    rescheduled by Dask. Either way ``train_one_fold`` starts again, so it must resume
    from the fold's latest checkpoint and skip a finished fold (nnunet_fm's training does).

    Args:
        client: A connected Dask client.
        train_one_fold: Picklable fold -> result dict (e.g. a ``functools.partial`` of a
            top-level function with the stage's settings bound).
        folds: Fold indices.
        gpu: Each fold needs one GPU (resource ``GPU: 1``).
        retries: Reruns of a fold whose task raised.
        progress: Show the progress bar over folds.
    """
    return map_on_cluster(client, train_one_fold, [int(f) for f in folds], desc="nnU-Net folds",
                          item_id=_fold_id, resources={GPU_RESOURCE: 1} if gpu else None,
                          retries=retries, progress=progress)


def chunk_evenly(items: Sequence[Any], n_chunks: int) -> list[list[Any]]:
    """Split items into at most ``n_chunks`` contiguous, near-equal, non-empty chunks, in order.

    Prediction uses it so a worker loads the fold models once per chunk of cases.
    """
    if n_chunks < 1:
        raise ValueError(f"n_chunks must be >= 1, got {n_chunks}")
    items = list(items)
    n_chunks = min(n_chunks, len(items))
    if n_chunks == 0:
        return []
    size, extra = divmod(len(items), n_chunks)
    chunks, start = [], 0
    for i in range(n_chunks):
        stop = start + size + (1 if i < extra else 0)
        chunks.append(items[start:stop])
        start = stop
    return chunks


def worker_count(client: "Client", resource: Optional[str] = None) -> int:
    """Workers connected now (only those offering ``resource`` when given)."""
    workers = client.scheduler_info().get("workers", {}).values()
    if resource is None:
        return len(workers)
    return sum(1 for info in workers if (info.get("resources") or {}).get(resource, 0) > 0)

