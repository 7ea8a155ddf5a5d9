"""Recipe: a cohort folder (ARCHITECTURE.md, contract 1) from a local copy of the public UCL
"volume of hyperintense inflammation" (VHI) data, like nnU-Net's own dataset-conversion scripts.

Nothing is downloaded; the recipe only reads the repository's own layout::

    data/images_study/{T1W,STIR}/{Pre_Scans,Post_Scans}/<id>_{T1W,STIR}.nii.gz
    data/images_study/T1W/Additional_scans/{Pre_Scans,Post_Scans}/<id>_T1W.nii.gz
    data/segmentations/Disease_region_manual_segmentation/<id>_disease_region.nii.gz
        .../Test_data/<id>_disease_region.nii.gz        (held-out test scans -> internal_test)
        .../Additional_data/<id>_disease_region.nii.gz  (extra training scans)
    data/segmentations/Inflammation_manual_segmentation/<reader>/<id>_inflammation_<reader>.nii.gz

Tasks: ``disease-region`` (masks drawn on T1W; channel ``T1``) and ``inflammation`` (one
reader's masks drawn on STIR; channel ``STIR``, optionally ``T1`` as a second channel). The numeric id is the patient id, so Pre
and Post scans of one id are one patient; an id whose mask could belong to either is
matched by grid, and an id with masks in two sets is refused. The data hold no diagnosis
and no age/sex, so the cohort is segmentation-only without a clinical baseline; the
``set`` column fixes the held-out test scans.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from nnunet_fm.atomic import atomic_dir, write_json, write_text
from nnunet_fm.contract import LINKED_ROOTS_FILE
from nnunet_fm.image_io import GEOMETRY_TOLERANCE

LOG = logging.getLogger(__name__)

TASKS = ("disease-region", "inflammation")
READERS = ("R11", "R12", "R21", "R22")
IMAGES = Path("data/images_study")
DISEASE_REGION = Path("data/segmentations/Disease_region_manual_segmentation")
INFLAMMATION = Path("data/segmentations/Inflammation_manual_segmentation")
#: Mask sub-folder of the disease-region task -> set of its scans.
DISEASE_REGION_SETS = {"": "train", "Additional_data": "train", "Test_data": "internal_test"}
#: Masks are qform-only and their direction cosines differ from the image's by up to
#: 3.5e-5; the converter's default tolerance accepts that.
SUGGESTED_GEOMETRY_TOLERANCE = GEOMETRY_TOLERANCE
RECIPE_FILE = "ucl_vhi_import.json"
#: Run config the recipe writes beside the cohort (``nnunet-fm benchmark --config``).
RUN_CONFIG_FILE = "run.yaml"
#: Quick-profile epochs the recipe's run config asks for. Measured on 8 disease-region
#: scans (benchmarks/bench_real_quick_plan.py, 4-fold OOF DSC, seed 2024): the profile's
#: 40 epochs x 10 iterations gave 0.76, 120 epochs 0.84, 200 epochs 0.86 (~5 min per fold
#: on 2 CPU cores); the phantom needs only 40.
RECOMMENDED_QUICK_EPOCHS = 200
_NIFTI = re.compile(r"\.nii(\.gz)?$")


class UclLayoutError(ValueError):
    """The folder does not have the UCL VHI repository's layout, or a scan cannot be matched."""


@dataclass(frozen=True)
class Scan:
    """One cohort row: patient id, image, mask and the set it belongs to."""

    patient_id: str
    image: Path
    mask: Path
    set_name: str
    t1_image: Path | None = None  # second channel of the inflammation task (``with_t1``)


def _task_spec(task: str, reader: str) -> tuple[str, str, list[tuple[Path, str]], re.Pattern]:
    """(sequence folder, channel name, [(mask folder, set)], mask-name pattern) of a task."""
    if task == "disease-region":
        folders = [(DISEASE_REGION / sub, set_name) for sub, set_name in DISEASE_REGION_SETS.items()]
        return "T1W", "T1", folders, re.compile(r"^(?P<id>[A-Za-z0-9]+)_disease_region\.nii(\.gz)?$")
    if task == "inflammation":
        if reader not in READERS:
            raise ValueError(f"--reader {reader!r} is not one of {list(READERS)}")
        pattern = re.compile(rf"^(?P<id>[A-Za-z0-9]+)_inflammation_{reader}\.nii(\.gz)?$")
        return "STIR", "STIR", [(INFLAMMATION / reader, "train")], pattern
    raise ValueError(f"--task {task!r} is not one of {list(TASKS)}")


def image_folders(root: Path, sequence: str) -> list[Path]:
    """Folders that may hold ``<id>_<sequence>.nii.gz`` (study scans, then additional scans)."""
    base = root / IMAGES / sequence
    return [base / "Pre_Scans", base / "Post_Scans",
            base / "Additional_scans" / "Pre_Scans", base / "Additional_scans" / "Post_Scans"]


def find_masks(root: Path, folders: list[tuple[Path, str]], pattern: re.Pattern) -> dict[str, tuple[Path, str]]:
    """Patient id -> (mask file, set) over the task's mask folders (each not recursive).

    Raises:
        UclLayoutError: No mask folder exists, or one id has masks in two folders.
    """
    if not any((root / folder).is_dir() for folder, _ in folders):
        raise UclLayoutError(f"{root / folders[0][0]} does not exist; --root must be the UCL VHI repository "
                             "(the folder holding data/images_study and data/segmentations)")
    found: dict[str, tuple[Path, str]] = {}
    for folder, set_name in folders:
        if not (root / folder).is_dir():
            continue
        for path in sorted((root / folder).iterdir()):
            if not path.is_file() or not _NIFTI.search(path.name):
                continue
            match = pattern.match(path.name)
            if match is None:
                LOG.warning("%s: not a mask of this task (expected %s); skipped", path, pattern.pattern)
                continue
            pid = match.group("id")
            if pid in found:
                raise UclLayoutError(f"patient {pid} has masks in two places ({found[pid][0]}, {path}); one patient "
                                     "cannot be in two sets")
            found[pid] = (path, set_name)
    return found


def _same_grid(mask: Path, image: Path, tolerance: float) -> bool:
    """Whether two files' headers describe the same grid (headers only; no voxels read)."""
    import SimpleITK as sitk

    from nnunet_fm.image_io import Geometry

    def geometry(path: Path) -> Geometry:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        return Geometry(tuple(reader.GetSize()), tuple(reader.GetSpacing()), tuple(reader.GetOrigin()),
                        tuple(reader.GetDirection()))

    return not geometry(image).differences(geometry(mask), tolerance)


def match_image(root: Path, pid: str, mask: Path, sequence: str, tolerance: float) -> Path:
    """The ``<id>_<sequence>`` image a mask was drawn on.

    An id found in several scan folders (Pre and Post scans of one patient) is matched
    by grid: exactly one candidate must share the mask's grid.

    Raises:
        UclLayoutError: No image, or no unique grid match.
    """
    names = (f"{pid}_{sequence}.nii.gz", f"{pid}_{sequence}.nii")
    candidates = [folder / name for folder in image_folders(root, sequence) for name in names
                  if (folder / name).is_file()]
    if not candidates:
        raise UclLayoutError(f"patient {pid}: no image {names[0]} under {root / IMAGES / sequence} for the mask "
                             f"{mask.name}")
    if len(candidates) == 1:
        return candidates[0]
    on_grid = [c for c in candidates if _same_grid(mask, c, tolerance)]
    if len(on_grid) != 1:
        listed = ", ".join(str(c.relative_to(root)) for c in candidates)
        raise UclLayoutError(f"patient {pid}: the mask {mask.name} matches the grid of {len(on_grid)} of the "
                             f"images {listed}; expected exactly one")
    return on_grid[0]


def t1w_partner(root: Path, pid: str, stir: Path) -> Path:
    """The T1W scan of the same session as a STIR scan (same ``Pre_Scans``/``Post_Scans`` folder).

    Raises:
        UclLayoutError: The T1W scan is missing.
    """
    partner = root / IMAGES / "T1W" / stir.parent.name / stir.name.replace("_STIR", "_T1W")
    if not partner.is_file():
        raise UclLayoutError(f"patient {pid}: no T1W scan {partner.relative_to(root)} beside {stir.name}")
    return partner


def collect_scans(root: str | os.PathLike, task: str = "disease-region", reader: str = "R11",
                  tolerance: float = SUGGESTED_GEOMETRY_TOLERANCE,
                  with_t1: bool = False) -> tuple[list[Scan], tuple[str, ...]]:
    """Every (image, mask) scan of a task, and the channel names.

    ``with_t1`` (inflammation only) adds the same session's T1W scan as a second channel;
    the converter resamples it onto the STIR grid when the grids differ.

    Raises:
        ValueError: Unknown task or reader.
        UclLayoutError: Layout or matching problems (the message names the file or id).
    """
    root = Path(root).resolve()
    sequence, channel, folders, pattern = _task_spec(task, reader)
    masks = find_masks(root, folders, pattern)
    if not masks:
        raise UclLayoutError(f"no {task} masks under {root / folders[0][0]}")
    if with_t1 and task != "inflammation":
        raise ValueError("--with-t1 adds T1W to the inflammation task (the disease-region masks are on T1W already)")
    scans = []
    for pid, (mask, set_name) in sorted(masks.items(), key=lambda item: _id_key(item[0])):
        image = match_image(root, pid, mask, sequence, tolerance)
        scans.append(Scan(pid, image, mask, set_name, t1w_partner(root, pid, image) if with_t1 else None))
    return scans, ((channel, "T1") if with_t1 else (channel,))


def _id_key(pid: str) -> tuple:
    return (0, int(pid), pid) if pid.isdigit() else (1, 0, pid)


def _place(source: Path, target: Path, copy: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if copy:
        shutil.copy2(source, target)
    else:
        target.symlink_to(source)


def _nifti_suffix(path: Path) -> str:
    return ".nii.gz" if path.name.endswith(".nii.gz") else ".nii"


def _mask_name(scan: Scan) -> str:
    return f"{scan.patient_id}_mask{_nifti_suffix(scan.mask)}"


def _sheet_text(scans: list[Scan], channels: tuple[str, ...]) -> str:
    columns = ",".join(f"image_{c.lower()}" for c in channels)
    lines = [f"patient_id,center,set,{columns},mask"]
    for scan in scans:
        images = [scan.image] + ([scan.t1_image] if scan.t1_image is not None else [])
        paths = ",".join(f"images/{p.name}" for p in images)
        lines.append(f"{scan.patient_id},1,{scan.set_name},{paths},masks/{_mask_name(scan)}")
    return "\n".join(lines) + "\n"


def run_config_text(cohort: Path, task: str) -> str:
    """The recipe's run config: the cohort as data and the quick profile's schedule for it."""
    return (f"# Run config for the UCL VHI {task} cohort, written by `nnunet-fm import-ucl-vhi`.\n"
            f"# Use: nnunet-fm benchmark --config {cohort / RUN_CONFIG_FILE}\n"
            f"name: ucl-{task}\n"
            f"data_dir: {cohort}\n"
            f"nnunet:\n"
            f"  # The quick profile's 40 epochs under-train this task (8 scans, out-of-fold DSC 0.76;\n"
            f"  # 0.86 at 200 epochs, docs/REAL_DATA.md); ~5 min per fold on 2 CPU cores.\n"
            f"  num_epochs: {RECOMMENDED_QUICK_EPOCHS}\n")


def import_ucl_vhi(root: str | os.PathLike, out: str | os.PathLike, task: str = "disease-region",
                   reader: str = "R11", copy: bool = False, overwrite: bool = False, with_t1: bool = False) -> Path:
    """Build a cohort folder from a local copy of the UCL VHI repository.

    Writes ``OUT/clinical.csv`` (``patient_id, center, set, image_<channel>, mask``; no
    diagnosis, age or sex: the data have none), ``OUT/images/`` and ``OUT/masks/`` as
    symbolic links to the source files (or copies), ``OUT/ucl_vhi_import.json`` (task,
    reader, counts per set, suggested geometry tolerance) and ``OUT/run.yaml`` (the run
    config for ``nnunet-fm benchmark --config``: this cohort, the quick profile with
    :data:`RECOMMENDED_QUICK_EPOCHS`).

    Args:
        root: The repository folder (holding ``data/``).
        out: Cohort folder to create.
        task: ``disease-region`` or ``inflammation``.
        reader: Inflammation reader and trial (``R11``, ``R12``, ``R21``, ``R22``).
        copy: Copy the files instead of linking them.
        overwrite: Replace an existing cohort folder.
        with_t1: Inflammation task: add the T1W scan as a second channel (``image_t1``).

    Returns:
        The cohort folder.
    """
    scans, channels = collect_scans(root, task, reader, with_t1=with_t1)
    with atomic_dir(Path(out), overwrite=overwrite, owner_marker=True) as tmp:
        for scan in scans:
            _place(scan.image, tmp / "images" / scan.image.name, copy)
            if scan.t1_image is not None:
                _place(scan.t1_image, tmp / "images" / scan.t1_image.name, copy)
            _place(scan.mask, tmp / "masks" / _mask_name(scan), copy)
        write_text(tmp / "clinical.csv", _sheet_text(scans, channels))
        if not copy:  # the converter follows links out of the cohort only into the folders listed here
            sources = [f for scan in scans for f in (scan.image, scan.t1_image, scan.mask) if f is not None]
            write_json(tmp / LINKED_ROOTS_FILE, sorted({str(Path(f).resolve().parent) for f in sources}))
        counts = {name: sum(s.set_name == name for s in scans) for name in ("train", "internal_test")}
        write_json(tmp / RECIPE_FILE, {
            "recipe": "nnunet-fm import-ucl-vhi", "task": task, "reader": reader if task == "inflammation" else None,
            "channels": list(channels), "files": "copies" if copy else "symbolic links", "counts": counts,
            "geometry_tolerance": SUGGESTED_GEOMETRY_TOLERANCE,
            "geometry_note": "masks are qform-only; their direction cosines differ from the image's by up to "
                             "3.5e-5, accepted by this tolerance",
            "study": "segmentation-only (no diagnosis); no clinical baseline (no age or sex)",
            "run_config": RUN_CONFIG_FILE})
        write_text(tmp / RUN_CONFIG_FILE, run_config_text(Path(out).resolve(), task))
    LOG.info("wrote %s: %d scan(s) (%s) for task %s, channels %s, as %s", out, len(scans),
             ", ".join(f"{n} {k}" for k, n in counts.items()), task, "+".join(channels),
             "copies" if copy else "links")
    return Path(out)
