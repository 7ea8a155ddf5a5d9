"""Radiomics + FM feature table: one row per case (ARCHITECTURE.md section 5).

Columns: ``case_id``; the pyradiomics features under pyradiomics' own names
(``original_firstorder_Mean``, ...; its ``diagnostics_*`` entries are dropped); our
``fm_`` features (:mod:`classifiers.shape_features`); ``mask_empty`` (0/1); ``error``
(empty when the case succeeded). Rows are sorted by case id and the column order is
fixed by the parameter file, so reruns and ``jobs`` settings give identical tables.

Cases that do not yield radiomics values without being errors:

- empty mask: ``mask_empty`` = 1, radiomics columns NaN, fm_ values defined;
- a mask too small for pyradiomics (a single voxel; with force2D, one pixel in plane
  in every slice): radiomics columns NaN, fm_ values defined, a warning is logged;
- a mask whose surface exceeds ``max_shape_surface_faces`` (huge fragmented masks, for
  which pyradiomics' 3-D shape class can take minutes): its ``original_shape_*``
  columns are NaN and ``radiomics_shape_note`` says why; the other classes are computed.

Any other fault (unreadable file, geometry beyond tolerance, no image for a mask) fills
``error`` with a message naming the case, leaves that row's features and ``mask_empty``
empty (NaN), and the other cases are unaffected.

Workers are processes (``jobs``, :func:`nnunet_fm.parallel.map_with_progress`) or Dask
tasks (``cluster``, :func:`nnunet_fm.cluster.map_items`); every case (in the calling
process for ``jobs=1``) runs ITK and the BLAS/OpenMP pools single-threaded, so ``jobs``
processes do not oversubscribe the cores, CPU time per case does not grow with ``jobs``
and every path gives the same table. A case that fails becomes an error row; only a
dead worker process stops the local pool (on Dask it is rerun). Local workers take the
largest masks first (less idle time at the end); the table does not depend on the order.

Cost per case (real 336 x 336 x 25 scans, ``benchmarks/bench_features_real.py``): the
image is read once and handed to pyradiomics as a SimpleITK image; pyradiomics runs
unchanged on the whole image (its normalisation is a whole-image z-score, and its
in-plane BSpline resampling of a crop would differ in the last bits), so its values are
those of a plain ``RadiomicsFeatureExtractor(params).execute(image, mask)``. The fm_
features and the mask checks work on the mask's bounding box (plus the margin each
reads), which gives the whole-array values exactly. What remains is mostly pyradiomics:
the 3-D shape class (its maximum-diameter search is quadratic in the mesh vertices, so a
130 ml mask costs ~1-2 s) and the BSpline resampling (~0.1-0.4 s).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import time
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from nnunet_fm.config import FeatureConfig
from nnunet_fm.contract import PREDICTION_SETS, SET_FOLDERS

from classifiers.shape_features import (
    FM_T1_NOTE_COLUMN,
    FM_TABLE_COLUMNS,
    bounding_box,
    fm_features,
    left_is_positive_x_from_direction,
)

LOG = logging.getLogger(__name__)

#: The parameter file shipped with the package.
DEFAULT_PARAMS_NAME = "radiomics_fm_t1.yaml"
TAIL_COLUMNS = ("mask_empty", "error")
#: Why pyradiomics' 3-D shape features of a row are NaN (empty when they were computed).
SHAPE_NOTE_COLUMN = "radiomics_shape_note"
#: Default cap on a mask's surface (exposed voxel faces) for pyradiomics' 3-D shape class.
#: Its maximum-diameter search is quadratic in mesh vertices: measured (loaded 2-core
#: machine) 12 s at 83k faces, 83 s at 202k faces for fragmented masks; compact real
#: masks of 130 ml at 0.6 x 0.6 x 3.3 mm have ~20-40k faces.
DEFAULT_MAX_SHAPE_SURFACE_FACES = FeatureConfig.max_shape_surface_faces  # the run config's default
#: Sub-folders of an nnU-Net raw dataset (the converter's output) holding images / labels.
DATASET_IMAGE_FOLDERS = tuple(dict.fromkeys(folders[0] for folders in SET_FOLDERS.values()))
DATASET_LABEL_FOLDERS = tuple(dict.fromkeys(folders[1] for folders in SET_FOLDERS.values()))
#: Sub-folders of a predictions root (the file contract's prediction sets).
PREDICTION_FOLDERS = tuple(PREDICTION_SETS)
#: Sequence assumed when neither the caller nor a dataset.json names one.
DEFAULT_SEQUENCE = "T1"
_CHANNEL = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")
_NOISY_RADIOMICS_MESSAGES = ("GLCM is symmetrical",)
#: pyradiomics' messages for an ROI too small to use (imageoperations.checkMask, generateAngles).
_TOO_SMALL_MESSAGES = (
    "only contains 1 segmented voxel",
    "too few dimensions",
    "not present in mask",
    "Size of the ROI is too small",
    "Error getting angle count",
)


def default_params_file() -> Path:
    """Path of the shipped pyradiomics parameter file."""
    return Path(str(resources.files("classifiers").joinpath(DEFAULT_PARAMS_NAME)))


@dataclass(frozen=True)
class CaseTask:
    """One image/mask pair to extract (or a pairing fault to report)."""

    case_id: str
    image_path: str | None
    mask_path: str
    problem: str = ""
    sequence: str = DEFAULT_SEQUENCE


class _DropNoise(logging.Filter):
    """Drop pyradiomics' per-case informational warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in _NOISY_RADIOMICS_MESSAGES)


def quiet_radiomics() -> None:
    """Set pyradiomics' logger to WARNING (it logs every step at INFO by default).

    Its per-case GLCM note is dropped by a filter on the logger that emits it (filters
    on a parent logger do not see records propagated from children), and pykwalify's
    per-file "validation.valid" line is silenced too. pyradiomics is imported first: its
    import sets its logger to INFO, which would undo a level set before it.
    """
    try:
        import radiomics  # noqa: F401 - for its import-time logger set-up only
    except ImportError:  # pragma: no cover - pyradiomics is a dependency
        pass
    logger = logging.getLogger("radiomics")
    logger.setLevel(logging.WARNING)
    for handler in logger.handlers:
        handler.setLevel(logging.WARNING)
    glcm = logging.getLogger("radiomics.glcm")
    if not any(isinstance(f, _DropNoise) for f in glcm.filters):
        glcm.addFilter(_DropNoise())
    logging.getLogger("pykwalify").setLevel(logging.WARNING)


def _volume_files(folder: Path) -> dict[str, Path]:
    """Volume files in ``folder`` keyed by name without volume suffix."""
    from nnunet_fm.image_io import VOLUME_SUFFIXES, strip_volume_suffix

    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name.endswith(VOLUME_SUFFIXES) and not path.name.startswith("."):
            files[strip_volume_suffix(path.name)] = path
    return files


def volume_folders(folder: str | os.PathLike, kind: str) -> list[Path]:
    """Folders that hold the volumes of ``folder``, for the layouts this project writes.

    ``folder`` may hold volumes itself; or be an nnU-Net raw dataset (``dataset.json``
    beside ``imagesTr``/``labelsTr``, ``imagesTs``/``labelsTs``, ``imagesExt``/``labelsExt``);
    or (``kind="masks"``) a predictions root with ``oof``/``internal_test``/``external_test``.

    Args:
        folder: The folder the user named.
        kind: ``"images"`` or ``"masks"``.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{kind} folder {folder} does not exist")
    if _volume_files(folder):
        return [folder]
    if (folder / "dataset.json").is_file():
        names = DATASET_IMAGE_FOLDERS if kind == "images" else DATASET_LABEL_FOLDERS
    else:
        names = PREDICTION_FOLDERS if kind == "masks" else ()
    found = [folder / name for name in names if (folder / name).is_dir()]
    return found or [folder]


def _volumes_in(folder: str | os.PathLike, kind: str) -> dict[str, Path]:
    """Volumes of every folder of :func:`volume_folders`; a name found twice is an error."""
    files: dict[str, Path] = {}
    for sub in volume_folders(folder, kind):
        for name, path in _volume_files(sub).items():
            if name in files:
                raise ValueError(f"{kind} {name} is in two folders: {files[name]} and {path}")
            files[name] = path
    return files


def dataset_sequence(images_dir: str | os.PathLike, channel: int = 0) -> str | None:
    """Sequence name of ``channel`` from the ``dataset.json`` of an nnU-Net raw dataset.

    Looks in ``images_dir`` itself (a dataset folder) and its parent (``imagesTr`` etc.).
    Returns None when there is no dataset.json or it does not name the channel.
    """
    import json

    images_dir = Path(images_dir)
    for folder in (images_dir, images_dir.parent):
        path = folder / "dataset.json"
        if path.is_file():
            try:
                names = json.loads(path.read_text(encoding="utf-8")).get("channel_names", {})
            except (OSError, ValueError, AttributeError):
                return None
            value = names.get(str(channel)) if isinstance(names, dict) else None
            return str(value) if value else None
    return None


def pair_cases(images_dir: str | os.PathLike, masks_dir: str | os.PathLike, channel: int = 0,
               sequence: str | None = None) -> list[CaseTask]:
    """Match images to masks by case id.

    Masks are ``CASE.<ext>``; images are ``CASE_<cccc>.<ext>`` (nnU-Net channel
    ``channel``) or, for channel 0 only, ``CASE.<ext>``. Either folder may also be an
    nnU-Net raw dataset folder or a predictions root (:func:`volume_folders`). Mask
    names define the case ids, so ids that themselves end in ``_nnnn`` (``SIJ_1_0001``)
    are not mistaken for channel suffixes. Other channels are ignored; images without a
    mask are skipped with a log line; a mask without an image, or with both image
    spellings present, becomes a task carrying ``problem``.

    Args:
        images_dir: Images folder (or dataset folder).
        masks_dir: Masks folder (or dataset / predictions folder).
        channel: nnU-Net channel index of the image to pair.
        sequence: MR sequence of that channel; default the dataset.json channel name,
            else ``T1``.

    Raises:
        FileNotFoundError: A folder is missing.
        ValueError: The masks folder holds no volume files, or a name is in two sub-folders.
    """
    if channel < 0:
        raise ValueError(f"channel must be >= 0; got {channel}")
    masks = _volumes_in(masks_dir, "masks")
    if not masks:
        raise ValueError(f"masks folder {masks_dir} holds no volume files (.nii.gz, .nii, .nrrd, .mha)")
    images = _volumes_in(images_dir, "images")
    sequence = sequence or dataset_sequence(images_dir, channel) or DEFAULT_SEQUENCE
    suffix = f"_{channel:04d}"
    tasks = []
    for case_id in sorted(masks):
        spellings = (case_id + suffix, case_id) if channel == 0 else (case_id + suffix,)
        candidates = [images[name] for name in spellings if name in images]
        if not candidates:
            wanted = " or ".join(f"{name}.*" for name in spellings)
            problem = f"case {case_id}: no image {wanted} in {images_dir}"
            tasks.append(CaseTask(case_id, None, str(masks[case_id]), problem, sequence))
        elif len(candidates) > 1:
            names = ", ".join(p.name for p in candidates)
            tasks.append(CaseTask(case_id, None, str(masks[case_id]), f"case {case_id}: ambiguous images ({names})",
                                  sequence))
        else:
            tasks.append(CaseTask(case_id, str(candidates[0]), str(masks[case_id]), "", sequence))
    unmatched = []
    for name in images:
        match = _CHANNEL.match(name)
        base = match.group("case") if match else name
        if name not in masks and base not in masks:
            unmatched.append(name)
    if unmatched:
        LOG.info("%d image(s) without a mask skipped (e.g. %s)", len(unmatched), unmatched[0])
    return tasks


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def extract_case(image_path: str | os.PathLike, mask_path: str | os.PathLike, params_file=None,
                 sequence: str = DEFAULT_SEQUENCE,
                 max_shape_surface_faces: int | None = DEFAULT_MAX_SHAPE_SURFACE_FACES) -> dict:
    """Radiomics and FM features of one case.

    Args:
        image_path: Image volume (T1 unless ``sequence`` says otherwise).
        mask_path: FM mask (labels 0/1) on the image grid.
        params_file: pyradiomics parameter YAML (default: the shipped one).
        sequence: MR sequence of the image; T1-only fm_ features are NaN for others.
        max_shape_surface_faces: Largest mask surface (exposed voxel faces) for which
            pyradiomics' 3-D shape class runs; above it those features are NaN with a
            note in ``radiomics_shape_note``. ``None`` = no limit.

    Returns:
        Mapping of pyradiomics feature names (``original_...``), the ``fm_`` features and
        ``mask_empty``. Radiomics entries are absent for an empty mask or one too small
        for pyradiomics (see the module docstring).

    Raises:
        nnunet_fm.image_io.ImageReadError: A file cannot be read.
        nnunet_fm.image_io.GeometryMismatchError: Mask grid differs beyond tolerance.
    """
    import SimpleITK as sitk
    from nnunet_fm.image_io import align_mask_to_image, read_image, voxel_spacing_zyx

    quiet_radiomics()
    params_file = Path(params_file) if params_file is not None else default_params_file()
    extractor = _make_extractor(params_file)
    label = int(extractor.settings.get("label", 1))
    image = read_image(image_path, sitk.sitkFloat32)
    mask = read_image(mask_path)
    mask = align_mask_to_image(image, mask)  # clear error beyond tolerance; copy geometry within it
    mask_array = sitk.GetArrayFromImage(mask)
    image_array = sitk.GetArrayViewFromImage(image)  # read-only view; `image` outlives its use here
    binary = mask_array == label
    if np.any((mask_array != 0) & ~binary):
        other = sorted(int(v) for v in np.unique(mask_array) if v not in (0, label))[:5]
        LOG.warning("%s: mask holds labels %s besides %d; only label %d is used", mask_path, other, label, label)
    result: dict[str, Any] = {SHAPE_NOTE_COLUMN: _skip_shape_if_too_large(extractor, binary, max_shape_surface_faces)}
    if result[SHAPE_NOTE_COLUMN]:
        LOG.warning("%s: %s", mask_path, result[SHAPE_NOTE_COLUMN])
    too_small = _too_small_for_radiomics(binary, extractor.settings)
    if too_small:
        LOG.warning("%s: %s; radiomics features left NaN", mask_path, too_small)
    elif binary.any():
        binary_image = sitk.GetImageFromArray(binary.astype(np.uint8))
        binary_image.CopyInformation(image)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # numpy's empty-slice notes on tiny ROIs
                raw = extractor.execute(image, binary_image, label=1)
        except (ValueError, RuntimeError) as exc:
            # A tiny ROI can still fail after pyradiomics' in-plane resampling (it may
            # shrink to one voxel or vanish); that is "too small", not a broken case.
            if not any(text in str(exc) for text in _TOO_SMALL_MESSAGES):
                raise
            LOG.warning("%s: ROI too small for pyradiomics (%s); radiomics features left NaN", mask_path, exc)
            raw = {}
        result.update({k: _to_float(v) for k, v in raw.items() if not k.startswith("diagnostics_")})
    result.update(
        fm_features(
            binary,
            image_array,
            voxel_spacing_zyx(image),
            left_is_positive_x=left_is_positive_x_from_direction(image.GetDirection()),
            sequence=sequence,
        )
    )
    return result


def voxel_surface_faces(binary: np.ndarray) -> int:
    """Exposed voxel faces of a 3-D mask (faces between a mask voxel and a non-mask voxel
    or the array border): a cheap proxy of the marching-cubes mesh size."""
    binary = np.asarray(binary, dtype=bool)
    box = bounding_box(binary)
    if box is None:
        return 0
    # The bounding-box crop has the same count: a face on the crop's edge borders either
    # a non-mask voxel or the array border, and both count.
    binary = binary[box]
    faces = 0
    for axis in range(binary.ndim):
        padded = np.pad(binary, [(1, 1) if a == axis else (0, 0) for a in range(binary.ndim)])
        faces += int(np.count_nonzero(np.diff(padded.view(np.int8), axis=axis)))
    return faces


def _skip_shape_if_too_large(extractor, binary: np.ndarray, limit: int | None) -> str:
    """Disable the extractor's 3-D shape class for a mask over ``limit`` faces; the reason, or ''."""
    if limit is None or "shape" not in extractor.enabledFeatures:
        return ""
    faces = voxel_surface_faces(binary)
    if faces <= limit:
        return ""
    del extractor.enabledFeatures["shape"]
    return (f"pyradiomics 3-D shape features not computed: mask surface {faces} voxel faces > limit {limit} "
            f"(max_shape_surface_faces; the shape class's cost grows with the square of the mesh size)")


def _make_extractor(params_file):
    """pyradiomics extractor for ``params_file`` (its YAML is schema-checked here)."""
    from radiomics import featureextractor

    with warnings.catch_warnings():
        # pykwalify loads pyradiomics' schema extension with a deprecated importlib call.
        warnings.simplefilter("ignore", DeprecationWarning)
        return featureextractor.RadiomicsFeatureExtractor(str(params_file))


def _too_small_for_radiomics(binary: np.ndarray, settings: dict) -> str:
    """Why pyradiomics cannot use this non-empty mask ('' when it can, or when empty).

    pyradiomics refuses a single voxel, and with ``force2D`` it fails on an ROI that is
    one pixel wide in plane in every slice (no in-plane neighbour direction exists).
    """
    n_voxels = int(binary.sum())
    if n_voxels == 0:
        return ""
    if n_voxels == 1:
        return "single-voxel mask, which pyradiomics cannot use"
    if settings.get("force2D", False):
        axis = int(settings.get("force2Ddimension", 0))
        box = bounding_box(binary)
        if all(box[a].stop - box[a].start == 1 for a in range(3) if a != axis):
            return "mask is one pixel in plane in every slice, too small for 2-D (force2D) texture"
    return ""


def _run_task(task: CaseTask, params_file: str,
              max_shape_surface_faces: int | None = DEFAULT_MAX_SHAPE_SURFACE_FACES) -> dict:
    """Worker: never raises; a fault becomes the row's ``error``."""
    row: dict[str, Any] = {"case_id": task.case_id}
    if task.problem:
        row["error"] = task.problem
        return row
    try:
        row.update(extract_case(task.image_path, task.mask_path, params_file, task.sequence,
                                max_shape_surface_faces))
        row["error"] = ""
    except Exception as exc:  # noqa: BLE001 - one bad case must not stop the others
        row["error"] = f"case {task.case_id}: {type(exc).__name__}: {exc}".replace("\n", " ")
    return row


def _single_thread_worker() -> None:
    """Process-pool initializer: one ITK thread and one BLAS/OpenMP thread per worker, so
    ``jobs`` processes do not oversubscribe the cores."""
    import SimpleITK as sitk
    from threadpoolctl import threadpool_limits

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    threadpool_limits(limits=1)  # for the worker's lifetime


class _SingleThreaded:
    """The same limits in the calling process (``jobs=1``), restored on exit."""

    def __enter__(self):
        import SimpleITK as sitk
        from threadpoolctl import threadpool_limits

        self._itk_threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        self._limits = threadpool_limits(limits=1)
        return self

    def __exit__(self, *exc):
        import SimpleITK as sitk

        self._limits.restore_original_limits()
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(self._itk_threads)
        return False


def radiomics_feature_names(params_file) -> list[str]:
    """pyradiomics output names for ``params_file``, in pyradiomics' order.

    Found by extracting once from a small synthetic phantom, so the table has the same
    columns even when every case fails or is empty.
    """
    import SimpleITK as sitk

    quiet_radiomics()
    extractor = _make_extractor(params_file)
    label = int(extractor.settings.get("label", 1))
    rng = np.random.default_rng(0)
    array = rng.normal(100.0, 20.0, size=(6, 24, 24)).astype(np.float32)
    mask = np.zeros(array.shape, dtype=np.uint8)
    mask[2:4, 8:16, 8:14] = label
    array[mask > 0] += 100.0
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.7, 0.7, 4.0))
    mask_image = sitk.GetImageFromArray(mask)
    mask_image.CopyInformation(image)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        names = extractor.execute(image, mask_image).keys()
    return [name for name in names if not name.startswith("diagnostics_")]


def assemble_table(rows: Iterable[dict], radiomics_names: Sequence[str]):
    """Feature table with the section-5 column order, rows sorted by case id."""
    import pandas as pd

    rows = sorted(rows, key=lambda r: r["case_id"])
    fixed = {"case_id", *FM_TABLE_COLUMNS, SHAPE_NOTE_COLUMN, *TAIL_COLUMNS}
    names = list(radiomics_names)
    known = set(names)
    for row in rows:  # anything the probe did not produce, in first-seen order
        for key in row:
            if key not in fixed and key not in known:
                names.append(key)
                known.add(key)
    columns = ["case_id", *names, SHAPE_NOTE_COLUMN, *FM_TABLE_COLUMNS, *TAIL_COLUMNS]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    frame["error"] = frame["error"].fillna("").astype(str)
    frame[FM_T1_NOTE_COLUMN] = frame[FM_T1_NOTE_COLUMN].fillna("").astype(str)
    frame[SHAPE_NOTE_COLUMN] = frame[SHAPE_NOTE_COLUMN].fillna("").astype(str)
    failed = frame["error"] != ""
    frame["mask_empty"] = frame["mask_empty"].astype("Int64")
    for name in ("fm_lesion_count", "fm_bilateral", "fm_slice_count"):
        frame[name] = frame[name].astype("Int64")
    frame.loc[failed, "mask_empty"] = pd.NA
    return frame


def extract_features(
    images_dir,
    masks_dir,
    params_file=None,
    jobs: int = 2,
    out_csv=None,
    channel: int = 0,
    sequence: str | None = None,
    max_shape_surface_faces: int | None = DEFAULT_MAX_SHAPE_SURFACE_FACES,
    cluster: Any = None,
):
    """Feature table of every mask in ``masks_dir`` against its image.

    Args:
        images_dir: Folder of volumes (``CASE_0000.nii.gz`` or ``CASE.nii.gz``), or an
            nnU-Net raw dataset folder (the converter's output).
        masks_dir: Folder of FM masks (``CASE.nii.gz``), a dataset folder (its labels
            folders) or a predictions root (``oof``, ``internal_test``, ``external_test``).
        params_file: pyradiomics YAML; default the shipped ``radiomics_fm_t1.yaml``.
        jobs: Worker processes (1 = in this process).
        out_csv: If given, the table is written there atomically.
        channel: nnU-Net channel of the image to use (``CASE_<cccc>``).
        sequence: MR sequence of that channel (default: dataset.json's channel name,
            else ``T1``); T1-only fm_ features are NaN with a note for other sequences.
        max_shape_surface_faces: Per-case cap on the mask surface for pyradiomics' 3-D
            shape class (see :func:`extract_case`); ``None`` = no limit.
        cluster: ``None`` (or ``scheduler: none``): local processes (``jobs``). A
            :class:`nnunet_fm.cluster.ClusterConfig`, a ``distributed.Client`` or a
            scheduler address (``tcp://host:port``): one Dask
            task per case (needs ``dask[distributed]``; ``jobs`` is ignored); the table
            is the same as the local path's.

    Returns:
        The feature table (pandas DataFrame), one row per mask.
    """
    from nnunet_fm.atomic import write_csv

    params_file = Path(params_file) if params_file is not None else default_params_file()
    if not params_file.is_file():
        raise FileNotFoundError(f"pyradiomics parameter file {params_file} does not exist")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1; got {jobs}")
    if max_shape_surface_faces is not None and max_shape_surface_faces < 1:
        raise ValueError(f"max_shape_surface_faces must be >= 1 or None; got {max_shape_surface_faces}")
    tasks = pair_cases(images_dir, masks_dir, channel, sequence)
    names = radiomics_feature_names(params_file)
    started = time.perf_counter()
    rows = _extract_rows(tasks, str(params_file), jobs, cluster, max_shape_surface_faces)
    table = assemble_table(rows, names)
    n_failed = int((table["error"] != "").sum())
    LOG.info(
        "features: %d case(s) in %.1f s (%d failed, %d empty masks)",
        len(table), time.perf_counter() - started, n_failed, int((table["mask_empty"] == 1).sum()),
    )
    for message in table.loc[table["error"] != "", "error"]:
        LOG.warning("%s", message)
    if out_csv is not None:
        write_csv(out_csv, table)
    return table


def _run_task_single_threaded(task: CaseTask, params_file: str,
                              max_shape_surface_faces: int | None = DEFAULT_MAX_SHAPE_SURFACE_FACES) -> dict:
    """Dask task: :func:`_run_task` under the same thread limits as a local worker."""
    with _SingleThreaded():
        return _run_task(task, params_file, max_shape_surface_faces)


def _extract_rows(tasks: list[CaseTask], params_file: str, jobs: int, cluster: Any,
                  max_shape_surface_faces: int | None) -> list[dict]:
    """One row per task, in task order: Dask tasks, local processes or this process."""
    from nnunet_fm.cluster import ClusterConfig, map_items
    from nnunet_fm.parallel import map_with_progress

    if cluster is not None and not (isinstance(cluster, ClusterConfig) and cluster.kind == "none"):
        try:
            import dask.distributed  # noqa: F401 - only to fail with one clear line
        except ImportError as exc:
            raise RuntimeError("a Dask cluster needs Dask distributed: pip install 'dask[distributed]' "
                               "(or nnunet-fm[dask])") from exc
        run = functools.partial(_run_task_single_threaded, params_file=params_file,
                                max_shape_surface_faces=max_shape_surface_faces)
        if isinstance(cluster, str):  # any address Dask accepts (tcp://, tls://, inproc://)
            with _connect_scheduler(cluster) as client:
                return map_items(run, tasks, cluster=client, desc="features", item_id=lambda t: t.case_id)
        return map_items(run, tasks, cluster=cluster, desc="features", item_id=lambda t: t.case_id)
    run = functools.partial(_run_task, params_file=params_file, max_shape_surface_faces=max_shape_surface_faces)
    if jobs == 1 or len(tasks) <= 1:
        with _SingleThreaded():
            return map_with_progress(run, tasks, 1, "features", task_id=lambda t, i: t.case_id)
    # Largest masks first, so that no worker is left with a slow case at the end while
    # the other idles; rows go back to task order (the values do not depend on it).
    order = sorted(range(len(tasks)), key=lambda i: -_expected_cost(tasks[i]))
    rows = map_with_progress(run, [tasks[i] for i in order], jobs, "features", task_id=lambda t, i: t.case_id,
                             initializer=_single_thread_worker)
    by_index = dict(zip(order, rows))
    return [by_index[i] for i in range(len(rows))]


def _expected_cost(task: CaseTask) -> int:
    """Scheduling weight of a task: its mask file's size (compressed masks grow with the
    FM surface, which drives the 3-D shape class and the texture ROI); 0 when unknown."""
    if task.problem:
        return 0
    try:
        return os.path.getsize(task.mask_path)
    except OSError:
        return 0


def _connect_scheduler(address: str):
    """A Dask client of the scheduler at ``address``; unreachable is one clear line."""
    from distributed import Client

    from nnunet_fm.cluster import ClusterStartError

    try:
        return Client(address)
    except OSError as exc:
        raise ClusterStartError(f"scheduler {address}: cannot reach the Dask scheduler ({exc})") from exc
