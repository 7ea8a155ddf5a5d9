"""Predict masks with trained nnU-Net folds.

* Out-of-fold (OOF): each ``imagesTr`` case is predicted by the one fold model whose
  validation set holds it (``splits_final.json``), so no model sees its own training case.
* Ensemble: ``imagesTs`` (internal test) and ``imagesExt`` (external test) are predicted
  by all folds together; ``nnUNetPredictor`` averages the folds' outputs (it sums the
  folds' logits and divides by the number of folds).

Models are loaded with ``nnUNetPredictor.manual_initialization`` (no trainer lookup by
name). Masks are written as uint8 NIfTI on the source image's exact grid. With a cluster
(:mod:`nnunet_fm.cluster`) the cases are split into one contiguous chunk per worker; a
chunk loads the fold models once and writes its masks as the local path does. Run inside
:func:`nnunet_fm.nnunet.environment.nnunet_workspace`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from nnunet_fm.contract import PREDICTION_SETS, SET_FOLDERS
from nnunet_fm.contract import TEST_SETS as CONTRACT_TEST_SETS
from nnunet_fm.nnunet.planning import dataset_name_for, validate_splits
from nnunet_fm.nnunet.profiles import DEFAULT_NETWORK_TRAINERS, Profile, get_profile
from nnunet_fm.nnunet.training import FINAL_CHECKPOINT, model_folder, uses_cluster

LOG = logging.getLogger(__name__)

#: Raw image folder -> prediction subfolder of each test set (from the file contract).
TEST_SETS = {SET_FOLDERS[name][0]: name for name in CONTRACT_TEST_SETS}


@dataclass
class PredictionReport:
    """Cases written and seconds per case, per output subfolder."""

    seconds_per_case: dict[str, dict[str, float]] = field(default_factory=dict)
    model_load_seconds: float = 0.0

    def add(self, subset: str, case_id: str, seconds: float) -> None:
        self.seconds_per_case.setdefault(subset, {})[case_id] = seconds

    def summary(self) -> dict:
        """Counts and mean seconds per case, per subset and overall."""
        out = {}
        every = []
        for subset, cases in self.seconds_per_case.items():
            values = list(cases.values())
            every += values
            out[subset] = {"n_cases": len(values), "mean_s_per_case": sum(values) / len(values) if values else None}
        out["all"] = {"n_cases": len(every), "mean_s_per_case": sum(every) / len(every) if every else None}
        out["model_load_seconds"] = self.model_load_seconds
        return out


def list_cases(image_folder: Path, file_ending: str = ".nii.gz") -> dict[str, list[Path]]:
    """Case id -> channel files (``CASE_0000.nii.gz``, ``CASE_0001.nii.gz``, ...) of a folder."""
    cases: dict[str, list[Path]] = {}
    if not image_folder.is_dir():
        return cases
    for path in sorted(image_folder.glob(f"*{file_ending}")):
        stem = path.name[: -len(file_ending)]
        case_id, sep, channel = stem.rpartition("_")
        if not sep or len(channel) != 4 or not channel.isdigit():
            raise ValueError(f"{path}: image file names must end in _XXXX{file_ending} (channel number)")
        cases.setdefault(case_id, []).append(path)
    return cases


def _tiled_predictor_class():
    """``nnUNetPredictor`` whose sliding-window tiles run concurrently on CPU.

    Measured on the shared 2-core machine (quick net, 6-12 tiles): one forward pass at 2
    torch threads took 3-8x longer than at 1 thread (OpenMP threads spin and wait for
    each other when the cores are busy). Here each tile runs at 1 torch thread, several
    tiles at once in worker threads (``tile_workers``). Each tile is still its own
    batch-1 forward pass (batched tiles change float rounding, and flipped a voxel in 6
    cases), and the predictions are accumulated in nnU-Net's order into nnU-Net's float16
    accumulators, so the logits equal ``nnUNetv2_predict``'s bit for bit (a batch-1
    forward gives the same bits at 1 and 2 threads; ``benchmarks/bench_inference.py``
    checks the masks). On GPU the tiles run one by one as in nnU-Net.
    """
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.inference.sliding_window_prediction import compute_gaussian

    class TiledPredictor(nnUNetPredictor):
        #: Tiles predicted at once (CPU); each at one torch thread.
        tile_workers: int = 2

        def _predict_tile(self, data, sl, results_device):
            with torch.inference_mode():
                tile = torch.clone(data[sl][None], memory_format=torch.contiguous_format).to(self.device)
                return self._internal_maybe_mirror_and_predict(tile)[0].to(results_device)

        def _tile_predictions(self, data, slicers, results_device):
            """Tile predictions in slicer order (at most 2 x workers computed ahead)."""
            from concurrent.futures import ThreadPoolExecutor

            if self.device.type != "cpu" or self.tile_workers <= 1:
                for sl in slicers:
                    yield self._predict_tile(data, sl, results_device)
                return
            window = 2 * self.tile_workers
            with ThreadPoolExecutor(self.tile_workers, thread_name_prefix="nnunet-tile") as pool:
                futures = [pool.submit(self._predict_tile, data, sl, results_device) for sl in slicers[:window]]
                for i in range(len(slicers)):
                    if i + window < len(slicers):
                        futures.append(pool.submit(self._predict_tile, data, slicers[i + window], results_device))
                    yield futures[i].result()
                    futures[i] = None  # free the tile's logits once accumulated

        @torch.inference_mode()
        def _internal_predict_sliding_window_return_logits(self, data, slicers, do_on_device: bool = True):
            results_device = self.device if do_on_device else torch.device("cpu")
            data = data.to(results_device)
            heads = self.label_manager.num_segmentation_heads
            logits = torch.zeros((heads, *data.shape[1:]), dtype=torch.half, device=results_device)
            n_predictions = torch.zeros(data.shape[1:], dtype=torch.half, device=results_device)
            gaussian = (compute_gaussian(tuple(self.configuration_manager.patch_size), sigma_scale=1. / 8,
                                         value_scaling_factor=10, device=results_device)
                        if self.use_gaussian else 1)
            threads = torch.get_num_threads()
            if self.device.type == "cpu" and self.tile_workers > 1:
                torch.set_num_threads(1)
            try:
                for prediction, sl in zip(self._tile_predictions(data, slicers, results_device), slicers):
                    if self.use_gaussian:
                        prediction *= gaussian
                    logits[sl] += prediction
                    n_predictions[sl[1:]] += gaussian
            finally:
                torch.set_num_threads(threads)
            torch.div(logits, n_predictions, out=logits)
            if torch.any(torch.isinf(logits)):
                raise RuntimeError("inf in predicted logits (float16 accumulator overflow)")
            return logits

    return TiledPredictor


@dataclass
class FoldModels:
    """Every fold's weights of one model folder, loaded once, in one predictor.

    ``use(folds)`` points the predictor at a subset (one fold for out-of-fold cases, all
    for the ensembles) without reloading anything.
    """

    predictor: object
    parameters: dict[int, dict]

    def use(self, folds: Sequence[int]):
        self.predictor.list_of_parameters = [self.parameters[f] for f in folds]
        return self.predictor


def load_fold_models(model_dir: Path, folds: Sequence[int], device: str = "cpu", mirroring: bool = False,
                     tile_step_size: float = 0.5, checkpoint: str = FINAL_CHECKPOINT,
                     tile_workers: int = 2) -> FoldModels:
    """Load the given folds of a trained model folder into one tiled predictor.

    Raises:
        FileNotFoundError: A fold has no checkpoint.
    """
    import torch
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    model_dir = Path(model_dir)
    plans = json.loads((model_dir / "plans.json").read_text(encoding="utf-8"))
    dataset_json = json.loads((model_dir / "dataset.json").read_text(encoding="utf-8"))
    plans_manager = PlansManager(plans)
    parameters, trainer_name, configuration, mirror_axes = {}, None, None, None
    for fold in folds:
        path = model_dir / f"fold_{fold}" / checkpoint
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: train fold {fold} first")
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        if trainer_name is None:
            trainer_name = ckpt["trainer_name"]
            configuration = ckpt["init_args"]["configuration"]
            mirror_axes = ckpt.get("inference_allowed_mirroring_axes")
        parameters[fold] = ckpt["network_weights"]
    configuration_manager = plans_manager.get_configuration(configuration)
    n_in = determine_num_input_channels(plans_manager, configuration_manager, dataset_json)
    n_out = plans_manager.get_label_manager(dataset_json).num_segmentation_heads
    network = build_inference_network(trainer_name, plans_manager, configuration_manager, n_in, n_out)
    network.load_state_dict(parameters[folds[0]])
    predictor = _tiled_predictor_class()(
        tile_step_size=tile_step_size, use_gaussian=True, use_mirroring=mirroring,
        perform_everything_on_device=device == "cuda", device=torch.device(device), verbose=False,
        verbose_preprocessing=False, allow_tqdm=False)
    predictor.tile_workers = tile_workers
    predictor.manual_initialization(network, plans_manager, configuration_manager,
                                    [parameters[f] for f in folds], dataset_json, trainer_name, mirror_axes)
    return FoldModels(predictor, parameters)


def build_inference_network(trainer_name: str, plans_manager, configuration_manager, num_input_channels: int,
                            num_output_channels: int):
    """The network a checkpoint's trainer builds for inference (no deep supervision).

    For trainers in :data:`~nnunet_fm.nnunet.profiles.DEFAULT_NETWORK_TRAINERS` this is
    the call ``nnUNetTrainer.build_network_architecture`` makes, without importing the
    training code; any other trainer builds its own.

    Raises:
        ValueError: Unknown trainer name.
    """
    if trainer_name in DEFAULT_NETWORK_TRAINERS:
        from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

        return get_network_from_plans(
            configuration_manager.network_arch_class_name, configuration_manager.network_arch_init_kwargs,
            configuration_manager.network_arch_init_kwargs_req_import, num_input_channels, num_output_channels,
            allow_init=True, deep_supervision=False)
    from nnunet_fm.nnunet.trainers import trainer_class

    return trainer_class(trainer_name).build_network_architecture(
        plans_manager, configuration_manager, num_input_channels, num_output_channels, enable_deep_supervision=False)


def load_predictor(model_dir: Path, folds: Sequence[int], device: str = "cpu", mirroring: bool = False,
                   tile_step_size: float = 0.5, checkpoint: str = FINAL_CHECKPOINT):
    """An ``nnUNetPredictor`` (tiled, see :func:`_tiled_predictor_class`) holding ``folds``."""
    return load_fold_models(model_dir, folds, device, mirroring, tile_step_size, checkpoint).predictor


def preprocess_case(predictor, image_files: Sequence[Path]):
    """nnU-Net's preprocessing of one raw case: ``(data, properties)``."""
    preprocessor = predictor.configuration_manager.preprocessor_class(verbose=False)
    data, _, properties = preprocessor.run_case([str(f) for f in image_files], None, predictor.plans_manager,
                                                predictor.configuration_manager, predictor.dataset_json)
    return data, properties


def load_preprocessed_case(folder: Path, case_id: str):
    """A training case as nnU-Net preprocessed it (``(data, properties)``), as nnU-Net's own
    final validation reads it."""
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    dataset = infer_dataset_class(str(folder))(str(folder), [case_id])
    data, _, _, properties = dataset.load_case(case_id)
    import numpy as np

    return np.ascontiguousarray(data[:]), properties


def export_mask(predictor, logits, properties: dict, target: Path, num_threads: int = 2) -> Path:
    """nnU-Net's export (resampling to the source grid, argmax, SimpleITK writer), then an
    atomic rename: an interrupted run never leaves a partial ``target``."""
    from nnunetv2.inference.export_prediction import export_prediction_from_logits

    ending = predictor.dataset_json["file_ending"]
    if not target.name.endswith(ending):
        raise ValueError(f"{target}: mask file name must end in {ending}")
    partial = target.parent / f".{target.name[: -len(ending)]}.partial"
    export_prediction_from_logits(logits, properties, predictor.configuration_manager, predictor.plans_manager,
                                  predictor.dataset_json, str(partial), False, num_threads)
    os.replace(f"{partial}{ending}", target)
    return target


def predict_case(predictor, image_files: Sequence[Path], target: Path, num_threads: int = 2) -> Path:
    """Predict one case and write its uint8 mask on the first channel's exact grid."""
    import torch

    data, properties = preprocess_case(predictor, image_files)
    logits = predictor.predict_logits_from_preprocessed_data(torch.from_numpy(data)).cpu()
    target.parent.mkdir(parents=True, exist_ok=True)
    return export_mask(predictor, logits, properties, target, num_threads)


@dataclass
class CaseTask:
    """One mask to write: which folds predict it and how its input is obtained."""

    subset: str
    case_id: str
    folds: tuple[int, ...]
    target: Path
    image_files: list[Path]
    preprocessed_folder: Optional[Path] = None  # nnU-Net's preprocessed data of this case, when usable

    def load(self, predictor):
        if self.preprocessed_folder is not None:
            return load_preprocessed_case(self.preprocessed_folder, self.case_id)
        return preprocess_case(predictor, self.image_files)


def run_pipeline(models: FoldModels, tasks: Sequence[CaseTask], report: PredictionReport, num_threads: int = 2,
                 progress=None, max_pending_exports: int = 2) -> None:
    """Predict ``tasks`` with input loading and export overlapped with inference.

    While case n is on the network, a loader thread prepares case n+1 and an export
    thread writes case n-1 (nnU-Net's predictor overlaps the same stages with process
    pools; threads avoid spawning and pickling, and the heavy work releases the GIL).
    At most ``max_pending_exports`` logits arrays wait for export (memory bound).
    """
    import torch
    from concurrent.futures import ThreadPoolExecutor

    if not tasks:
        return
    for task in tasks:
        task.target.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(1, thread_name_prefix="nnunet-load") as loader, \
            ThreadPoolExecutor(1, thread_name_prefix="nnunet-export") as exporter:
        pending = []
        next_input = loader.submit(tasks[0].load, models.predictor)
        for i, task in enumerate(tasks):
            start = time.perf_counter()
            data, properties = next_input.result()
            if i + 1 < len(tasks):
                next_input = loader.submit(tasks[i + 1].load, models.predictor)
            predictor = models.use(task.folds)
            logits = predictor.predict_logits_from_preprocessed_data(torch.from_numpy(data)).cpu()
            while len(pending) >= max_pending_exports:
                pending.pop(0).result()
            # One torch thread for export: it runs beside the inference threads.
            pending.append(exporter.submit(export_mask, predictor, logits, properties, task.target, 1))
            report.add(task.subset, task.case_id, time.perf_counter() - start)
            if progress is not None:
                progress.update(1)
        for future in pending:
            future.result()


def load_splits(dataset_id: int) -> list[dict]:
    """The preprocessed ``splits_final.json`` (identical to the raw dataset's, checked at planning)."""
    from nnunetv2.paths import nnUNet_preprocessed

    path = Path(str(nnUNet_preprocessed)) / dataset_name_for(dataset_id) / "splits_final.json"
    splits = json.loads(path.read_text(encoding="utf-8"))
    validate_splits(splits, where=str(path))
    return splits


def predict_all(dataset_id: int, profile: str | Profile, out_dir: str | os.PathLike,
                folds: Sequence[int] = (0, 1, 2, 3, 4), device: str = "cpu", mirroring: bool | None = None,
                num_threads: int = 2, subsets: Sequence[str] = tuple(PREDICTION_SETS),
                reuse_preprocessed: bool = True, cluster: Any = None) -> PredictionReport:
    """Write OOF masks for ``imagesTr`` and fold-ensemble masks for ``imagesTs``/``imagesExt``.

    All folds' weights are loaded once. Each test case is read and preprocessed once and
    every fold runs on that one array (logits averaged, as ``nnUNetv2_predict`` does);
    loading, inference and export overlap (:func:`run_pipeline`). Out-of-fold cases are
    read from nnU-Net's preprocessed training data when the model's plan preprocesses
    exactly as that data was (:func:`reusable_preprocessed_folder`), else from raw.

    Args:
        dataset_id: Dataset id.
        profile: Profile the folds were trained with.
        out_dir: ``WORK/predictions``; gets ``oof/``, ``internal_test/``, ``external_test/``.
        folds: Folds to use. OOF covers the val cases of these folds.
        device: ``cpu`` or ``cuda``.
        mirroring: Test-time mirroring; ``None`` = the profile's default.
        num_threads: Sliding-window tiles predicted at once (one torch thread each).
        subsets: Which outputs to write.
        reuse_preprocessed: Read OOF cases from nnU-Net's preprocessed data when possible.
        cluster: ``None`` (or ``scheduler: none``): in this process. A
            :class:`nnunet_fm.cluster.ClusterConfig` or a ``distributed.Client``: one
            chunk of cases per worker (one GPU each on CUDA), each chunk loading the
            fold models once (:func:`predict_chunk`); the workers must see the folders.

    Raises:
        ValueError: A case would be predicted by a model that trained on it.
    """
    from nnunetv2.paths import nnUNet_raw
    from tqdm import tqdm

    profile = get_profile(profile)
    mirroring = profile.mirroring if mirroring is None else mirroring
    out_dir = Path(out_dir)
    raw_dataset = Path(str(nnUNet_raw)) / dataset_name_for(dataset_id)
    model_dir = model_folder(dataset_id, profile)
    ending = json.loads((raw_dataset / "dataset.json").read_text(encoding="utf-8")).get("file_ending", ".nii.gz")
    report = PredictionReport()
    tasks = _oof_tasks(dataset_id, model_dir, raw_dataset, folds, ending, out_dir / "oof",
                       reuse_preprocessed) if "oof" in subsets else []
    for folder, subset in TEST_SETS.items():
        if subset in subsets:
            cases = list_cases(raw_dataset / folder, ending)
            if not cases:
                LOG.warning("%s has no cases; %s not written", raw_dataset / folder, subset)
            tasks += [CaseTask(subset, case, tuple(folds), out_dir / subset / f"{case}{ending}", files)
                      for case, files in cases.items()]
    LOG.info("predicting %d case(s) with %s (mirroring %s) into %s", len(tasks), model_dir.name,
             "on" if mirroring else "off", out_dir)
    if uses_cluster(cluster):
        _predict_on_cluster(tasks, model_dir, list(folds), device, mirroring, profile.tile_step_size, num_threads,
                            cluster, report)
    else:
        start = time.perf_counter()
        models = load_fold_models(model_dir, list(folds), device, mirroring, profile.tile_step_size,
                                  tile_workers=num_threads)
        report.model_load_seconds = time.perf_counter() - start
        with tqdm(total=len(tasks), desc="nnU-Net predict", unit="case") as progress:
            run_pipeline(models, tasks, report, num_threads, progress)
    for subset, stats in report.summary().items():
        if isinstance(stats, dict) and stats.get("n_cases"):
            LOG.info("%s: %d case(s), %.2f s/case", subset, stats["n_cases"], stats["mean_s_per_case"])
    return report


def predict_chunk(tasks: list[CaseTask], env: dict[str, str], model_dir: Path, folds: Sequence[int], device: str,
                  mirroring: bool, tile_step_size: float, num_threads: int) -> list[tuple[float, float]]:
    """A Dask task: predict a chunk of cases with the fold models loaded once.

    Returns:
        Per case, in order: ``(seconds for the case, seconds to load the models)``.
    """
    from nnunet_fm.nnunet.environment import applied_environment

    num_threads = worker_threads(num_threads)
    with applied_environment(env):
        start = time.perf_counter()
        models = load_fold_models(model_dir, folds, device, mirroring, tile_step_size, tile_workers=num_threads)
        load_seconds = time.perf_counter() - start
        report = PredictionReport()
        run_pipeline(models, tasks, report, num_threads)
    return [(report.seconds_per_case[t.subset][t.case_id], load_seconds) for t in tasks]


def worker_threads(default: int) -> int:
    """Threads a chunk may use: the Dask worker's own thread count when run on one, else ``default``.

    A worker of a local cluster has one thread (one core); giving its chunk the local path's
    tile threads as well put 4 busy threads on 2 cores and left 2 workers only 1.09x faster
    than 1 (``benchmarks/bench_dask_stages.py``).
    """
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return default
    state = getattr(worker, "state", worker)
    return max(1, int(getattr(state, "nthreads", default) or default))


def _predict_on_cluster(tasks: list[CaseTask], model_dir: Path, folds: list[int], device: str, mirroring: bool,
                        tile_step_size: float, num_threads: int, cluster: Any, report: PredictionReport) -> None:
    from nnunet_fm.cluster import map_chunks
    from nnunet_fm.nnunet.environment import current_environment

    for fold in folds:  # fail here, not on every worker
        checkpoint = model_dir / f"fold_{fold}" / FINAL_CHECKPOINT
        if not checkpoint.is_file():
            raise FileNotFoundError(f"{checkpoint} is missing: train fold {fold} first")
    chunk = functools.partial(predict_chunk, env=current_environment(), model_dir=model_dir, folds=folds,
                              device=device, mirroring=mirroring, tile_step_size=tile_step_size,
                              num_threads=num_threads)
    timings = map_chunks(chunk, tasks, cluster=cluster, desc="nnU-Net predict", item_id=lambda t: t.case_id,
                         gpu=device == "cuda")
    for task, (seconds, load_seconds) in zip(tasks, timings):
        report.add(task.subset, task.case_id, seconds)
        report.model_load_seconds = max(report.model_load_seconds, load_seconds)


def _oof_tasks(dataset_id: int, model_dir: Path, raw_dataset: Path, folds: Sequence[int], ending: str,
               out_dir: Path, reuse_preprocessed: bool) -> list[CaseTask]:
    """One task per validation case of each fold, predicted by that fold only."""
    train_cases = list_cases(raw_dataset / "imagesTr", ending)
    splits = load_splits(dataset_id)
    folder = reusable_preprocessed_folder(dataset_id, model_dir) if reuse_preprocessed else None
    tasks = []
    for fold in folds:
        val = splits[fold]["val"]
        missing = [c for c in val if c not in train_cases]
        if missing:
            raise ValueError(f"fold {fold}: val case(s) {missing[:5]} have no image in imagesTr")
        leaked = sorted(set(val) & set(splits[fold]["train"]))
        if leaked:
            raise ValueError(f"fold {fold}: case(s) {leaked[:5]} are in its train and val sets")
        for case in val:
            usable = folder if folder is not None and (folder / f"{case}.pkl").is_file() else None
            tasks.append(CaseTask("oof", case, (fold,), out_dir / f"{case}{ending}", train_cases[case], usable))
    LOG.info("out-of-fold inputs: %s", f"nnU-Net's preprocessed data in {folder}" if folder else "raw images")
    return tasks


def reusable_preprocessed_folder(dataset_id: int, model_dir: Path) -> Optional[Path]:
    """nnU-Net's preprocessed data folder for the model's plan, if that data was preprocessed
    exactly as the model's ``plans.json`` prescribes (same preprocessing keys, finished);
    else ``None``."""
    from nnunetv2.paths import nnUNet_preprocessed

    from nnunet_fm.nnunet.planning import preprocessed_marker, preprocessing_digest

    model_plans = json.loads((Path(model_dir) / "plans.json").read_text(encoding="utf-8"))
    configuration = Path(model_dir).name.rsplit("__", 1)[-1]
    if configuration not in model_plans.get("configurations", {}):
        return None
    pre_dataset = Path(str(nnUNet_preprocessed)) / dataset_name_for(dataset_id)
    marker = preprocessed_marker(pre_dataset, model_plans["configurations"][configuration]["data_identifier"])
    digest = preprocessing_digest(model_plans, configuration)
    if not marker.is_file() or marker.read_text(encoding="utf-8").strip() != digest:
        return None
    folder = pre_dataset / model_plans["configurations"][configuration]["data_identifier"]
    return folder if folder.is_dir() else None


def oof_fold_of_cases(splits: list[dict]) -> dict[str, int]:
    """Case id -> fold whose model predicts it out of fold."""
    return {case: fold for fold, split in enumerate(splits) for case in split["val"]}


def predict_with_nnunet_cli(dataset_id: int, profile: str | Profile, input_folder: str | os.PathLike,
                            output_folder: str | os.PathLike, folds: Sequence[int], env: dict[str, str],
                            device: str = "cpu", mirroring: bool = False, num_processes: int = 2,
                            work_dir: str | os.PathLike | None = None) -> float:
    """Run the same model through the ``nnUNetv2_predict`` command line (for comparison).

    ``nnUNetv2_predict`` finds the trainer class by the name stored in the checkpoint,
    walking nnunetv2's trainer package (which fails here: its ``primus`` trainers import
    torchvision). Our trainers do not change the network, so we hand the command a copy
    of the model folder (``plans.json``, ``dataset.json``, checkpoints with identical
    weights) whose checkpoints name nnU-Net's base ``nnUNetTrainer``.

    Args:
        env: nnU-Net environment (from :func:`nnunet_fm.nnunet.environment.nnunet_environment`);
            set explicitly for the subprocess, with ``nnUNet_results`` pointing at the copy.

    Returns:
        Wall-clock seconds of the subprocess (start-up included).
    """
    import torch

    profile = get_profile(profile)
    model_dir = model_folder(dataset_id, profile)
    name = dataset_name_for(dataset_id)
    tmp_root = Path(tempfile.mkdtemp(prefix="nnunet_cli_", dir=work_dir))
    try:
        shadow = tmp_root / name / f"nnUNetTrainer__{profile.plans_name}__{profile.configuration}"
        shadow.mkdir(parents=True)
        for item in ("plans.json", "dataset.json", "dataset_fingerprint.json"):
            if (model_dir / item).is_file():
                shutil.copy(model_dir / item, shadow / item)
        for fold in folds:
            ckpt = torch.load(model_dir / f"fold_{fold}" / FINAL_CHECKPOINT, map_location="cpu", weights_only=False)
            ckpt["trainer_name"] = "nnUNetTrainer"
            (shadow / f"fold_{fold}").mkdir()
            torch.save(ckpt, shadow / f"fold_{fold}" / FINAL_CHECKPOINT)
        Path(output_folder).mkdir(parents=True, exist_ok=True)
        executable = Path(sys.executable).parent / "nnUNetv2_predict"
        command = [str(executable) if executable.exists() else "nnUNetv2_predict",
                   "-i", str(input_folder), "-o", str(output_folder), "-d", str(dataset_id),
                   "-c", profile.configuration, "-p", profile.plans_name, "-tr", "nnUNetTrainer",
                   "-f", *[str(f) for f in folds], "-step_size", str(profile.tile_step_size),
                   "-device", device, "-npp", str(num_processes), "-nps", str(num_processes)]
        if not mirroring:
            command.append("--disable_tta")
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("nnUNet_")}
        child_env.update(env)
        child_env["nnUNet_results"] = str(tmp_root)
        start = time.perf_counter()
        result = subprocess.run(command, env=child_env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"nnUNetv2_predict failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return seconds
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
