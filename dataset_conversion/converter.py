"""Convert a cohort folder (contract 1) into an nnU-Net v2 raw dataset (contract 2).

Order of work:
1. ``clinical.csv`` is validated (no image is read before the sheet is clean).
2. Pseudonymous case ids, sets and CV folds are planned (seeded, patient-level).
3. Cases are read, checked and written in a process pool into a temporary folder; each
   case is checked before it is written. Any problem discards the whole temporary folder.
4. ``dataset.json``, ``splits_final.json`` and ``cases.csv`` are written, the split is
   checked for leakage and nnU-Net's own ``verify_dataset_integrity`` runs on the folder.
5. Only then the folder is renamed into place (``nnunet_fm.atomic.atomic_dir``) and the
   id key is written beside (never inside) the dataset.

Several image columns (``image_t1``, ``image_stir``, ...) become nnU-Net channels ``_0000``,
``_0001``, ... in channel order; the mask must lie on the first channel's grid, and further
channels are put on that grid (resampled, and recorded, when they differ beyond the
tolerance). ``dataset_meta.json`` (:data:`dataset_conversion.study_design.DATASET_META_NAME`)
records the study mode, the clinical baseline, the channels and the resampled cases.

Images are written from their voxel arrays with only spacing, origin and direction copied,
so no source header field (DICOM tags, NIfTI ``descrip``/``aux_file``, NRRD/MHA keys) can
reach the dataset.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from nnunet_fm.atomic import NotOwnedError, atomic_dir, is_owned, write_json, write_text
from nnunet_fm.contract import (
    CASES_COLUMNS,
    CASES_FILE,
    ID_KEY_SUFFIX,
    SET_FOLDERS,
    ContractError,
    case_id,
    dataset_folder_name,
    dataset_folder_prefix,
    validate_dataset_name,
)
from nnunet_fm.image_io import DEFAULT_MAX_VOXELS, GEOMETRY_TOLERANCE
from nnunet_fm.parallel import map_with_progress

from dataset_conversion.case_validation import TOLERANCE_OPTION, load_and_check_case
from dataset_conversion.clinical_sheet import (
    ClinicalSheet,
    CohortValidationError,
    PatientRow,
    Problem,
    read_cohort_sheet,
)
from dataset_conversion.splits import CV_SETS, assign_sets, check_splits, cv_folds, fold_of_case
from dataset_conversion.study_design import DATASET_META_NAME, StudyDesign, describe_study, warn_about_design

LOG = logging.getLogger(__name__)

FILE_ENDING = ".nii.gz"
#: dataset.json channel names of a single-image cohort without declared names.
CHANNEL_NAMES = {"0": "T1"}
LABELS = {"background": 0, "fm": 1}


class DatasetIntegrityError(RuntimeError):
    """nnU-Net's ``verify_dataset_integrity`` rejected the converted dataset."""


@dataclass(frozen=True)
class PlannedCase:
    """Where one patient goes: pseudonymous id, set, fold."""

    case_id: str
    row: PatientRow
    set_name: str
    fold: int


def id_key_path(raw_root: str | os.PathLike, dataset_id: int, dataset_name: str) -> Path:
    """Path of the case-id <-> patient-id key, beside the dataset folder."""
    return Path(raw_root) / (dataset_folder_name(dataset_id, dataset_name) + ID_KEY_SUFFIX)


def error_report_path(raw_root: str | os.PathLike, dataset_id: int, dataset_name: str) -> Path:
    """Default path of the ``--collect-errors`` JSON report, beside the dataset folder."""
    return Path(raw_root) / f"{dataset_folder_name(dataset_id, dataset_name)}.conversion_errors.json"


def pseudonymous_ids(rows: list[PatientRow], seed: int) -> dict[str, str]:
    """Patient id -> ``SIJ_<center>_<nnnn>``, numbered in a seeded shuffled order per center.

    Patients are sorted before the shuffle, so ids depend on the patients and the seed
    only, never on the sheet order (which often follows dates or names).
    """
    out = {}
    for center in sorted({r.center for r in rows}):
        members = sorted(r.patient_id for r in rows if r.center == center)
        rng = np.random.default_rng([int(seed), int(center), 0x5EED])
        width = max(4, len(str(len(members))))
        for number, index in enumerate(rng.permutation(len(members)), start=1):
            out[members[index]] = case_id(center, number, width)
    return out


def plan_cases(rows: list[PatientRow], seed: int, n_folds: int) -> tuple[list[PlannedCase], list[dict]]:
    """Assign ids, sets and CV folds (patient level, seeded).

    Sets come from the rows' fixed sets when the sheet has them, else they are drawn
    (:func:`dataset_conversion.splits.assign_sets`). Draws and folds are stratified by
    diagnosis when the rows have one, unstratified otherwise.

    Returns:
        ``(cases sorted by case id, folds in splits_final.json format)``.

    Raises:
        ValueError: Too few train/validation patients for ``n_folds`` folds.
    """
    ids = pseudonymous_ids(rows, seed)
    fixed = [r.fixed_set for r in rows] if any(r.fixed_set for r in rows) else None
    strata = ["-" if r.diagnosis is None else r.diagnosis for r in rows]
    sets = assign_sets([r.patient_id for r in rows], [r.center for r in rows], strata, seed, fixed)
    pool = sorted((ids[r.patient_id], -1 if r.label is None else r.label) for r in rows
                  if sets[r.patient_id] in CV_SETS)
    folds = cv_folds([c for c, _ in pool], [y for _, y in pool], n_folds, seed)
    fold = fold_of_case(folds)
    cases = [PlannedCase(ids[r.patient_id], r, sets[r.patient_id], fold.get(ids[r.patient_id], -1)) for r in rows]
    cases.sort(key=lambda c: c.case_id)
    check_splits({c.case_id: c.set_name for c in cases}, {c.case_id: c.row.patient_id for c in cases}, folds)
    return cases, folds


def _init_worker() -> None:
    """One ITK thread per process: the pool already uses the cores."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def convert_case(case_id: str, image_paths: list[str], mask_path: str, image_targets: list[str],
                 label_target: str, tolerance: float, channel_names: list[str] | None = None,
                 max_voxels: int = DEFAULT_MAX_VOXELS) -> dict:
    """Check one case and, if clean, write its image channels and uint8 mask as NIfTI.

    The written images are rebuilt from the voxel arrays (no metadata dictionary) with
    the first channel's spacing, origin and direction; further channels are on that grid
    (resampled when they were not, see :func:`dataset_conversion.case_validation.align_channel`);
    the mask gets the image's geometry after the tolerance check.

    Returns:
        ``{"case_id", "faults", "mask_voxels", "resampled", "seconds"}``; nothing is
        written when ``faults`` is not empty.
    """
    import SimpleITK as sitk

    from nnunet_fm.image_io import write_image

    start = time.perf_counter()
    checked, faults = load_and_check_case(image_paths, mask_path, tolerance, channel_names, max_voxels=max_voxels)
    result = {"case_id": case_id, "faults": faults, "mask_voxels": 0, "resampled": []}
    if faults:
        return {**result, "seconds": time.perf_counter() - start}
    for channel, target in zip(checked.channels, image_targets):
        image = sitk.GetImageFromArray(sitk.GetArrayFromImage(channel))
        image.CopyInformation(checked.image)  # spacing, origin, direction only; no metadata
        write_image(image, target)
    mask = sitk.GetImageFromArray(sitk.GetArrayFromImage(checked.mask).astype(np.uint8))
    mask.CopyInformation(checked.image)
    write_image(mask, label_target)
    return {**result, "mask_voxels": checked.mask_voxels, "resampled": list(checked.resampled),
            "seconds": time.perf_counter() - start}


def _convert_task(task: dict) -> dict:
    """:func:`convert_case` of one task dict (top level: picklable for the process pool)."""
    return convert_case(**task)


def _run_cases(tasks: list[dict], jobs: int, collect_errors: bool) -> list[dict]:
    """Run :func:`convert_case` over ``tasks`` with a progress bar; stop at the first fault
    unless ``collect_errors``."""
    return map_with_progress(_convert_task, tasks, jobs, "convert",
                             task_id=lambda t, i: t.get("case_id", f"item {i}"), initializer=_init_worker,
                             stop_when=None if collect_errors else (lambda r: bool(r["faults"])))


def _source_description(input_dir: Path, n_patients: int) -> str:
    """Data-source sentence for dataset.json (no paths or ids: they may identify people)."""
    meta_path = input_dir / "cohort.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        params = {k: meta[k] for k in ("seed", "scale") if isinstance(meta, dict) and k in meta}
        extra = ", ".join(f"{k} {v}" for k, v in params.items())
        return (f"Synthetic two-center SIJ MRI phantom cohort generated by nnunet-fm synth"
                f"{' (' + extra + ')' if extra else ''}; {n_patients} patients. Not patient data.")
    return (f"Clinical SIJ MRI cohort converted from clinical.csv by nnunet-fm convert; {n_patients} "
            "pseudonymised patients (center 1 internal, center 2 external); source ids are kept only "
            "in the id key outside this folder.")


def _write_manifest(folder: Path, cases: list[PlannedCase]) -> None:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CASES_COLUMNS)
    for c in cases:
        writer.writerow([c.case_id, c.set_name, c.row.center, c.row.diagnosis, c.row.label, c.fold,
                         "" if c.row.age is None else c.row.age, c.row.sex or ""])
    write_text(folder / CASES_FILE, buffer.getvalue())


def _write_id_key(path: Path, cases: list[PlannedCase]) -> None:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("case_id", "patient_id"))
    for c in cases:
        writer.writerow((c.case_id, c.row.patient_id))
    write_text(path, buffer.getvalue())


def verify_with_nnunet(folder: Path, num_processes: int) -> None:
    """Run nnU-Net's ``verify_dataset_integrity`` on ``folder``; raise if it fails.

    nnU-Net prints its findings; they are captured and logged (debug on success, error
    on failure). Only the folder path is used, never the nnUNet_raw environment variable.
    Its per-file checks run on :func:`nnunet_fm.nnunet.integrity.verify_dataset`'s pool,
    where a dead worker is an error instead of a wait for ever.
    """
    from concurrent.futures.process import BrokenProcessPool

    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            # Imported here: nnunetv2.paths prints about unset nnUNet_* variables on import.
            from nnunet_fm.nnunet.integrity import verify_dataset

            verify_dataset(str(folder), num_processes)
    except BrokenProcessPool as exc:
        raise DatasetIntegrityError(f"nnU-Net verify_dataset_integrity could not finish: a worker process "
                                    f"died ({exc}); rerun with --jobs 1 or with more free memory") from exc
    except (AssertionError, RuntimeError, FileNotFoundError, ValueError) as exc:
        LOG.error("nnU-Net verify_dataset_integrity output:\n%s", captured.getvalue())
        raise DatasetIntegrityError(f"nnU-Net verify_dataset_integrity failed: {exc}") from exc
    LOG.debug("nnU-Net verify_dataset_integrity output:\n%s", captured.getvalue())


def _fail(problems: list[Problem], report: Path | None) -> None:
    if report is not None:
        write_json(report, {"n_problems": len(problems), "problems": [p.to_dict() for p in problems]})
        LOG.error("wrote the problem report to %s", report)
    raise CohortValidationError(problems, report)


def _check_arguments(input_dir: Path, raw_root: Path, dataset_id: int, dataset_name: str,
                     geometry_tolerance: float, overwrite: bool, error_report, collect_errors: bool
                     ) -> tuple[Path, Path | None]:
    """(dataset folder, problem-report path or None); raises on a bad argument."""
    if not 1 <= int(dataset_id) <= 999:
        raise ValueError(f"dataset id must be in 1..999, got {dataset_id}")
    validate_dataset_name(dataset_name)
    if not (np.isfinite(geometry_tolerance) and geometry_tolerance >= 0):  # NaN would switch the check off
        raise ValueError(f"{TOLERANCE_OPTION} must be a finite number >= 0, got {geometry_tolerance}")
    target = raw_root / dataset_folder_name(dataset_id, dataset_name)
    _refuse_reused_id(raw_root, dataset_id, target.name)
    if os.path.lexists(target) and not overwrite:
        raise FileExistsError(f"{target} already exists (use --overwrite to replace it)")
    if os.path.lexists(target) and not is_owned(target):
        raise NotOwnedError(f"{target} exists but was not written by nnunet-fm convert (no ownership marker); "
                            "--overwrite only replaces folders it wrote: remove it yourself or choose another name")
    if not input_dir.is_dir():
        raise FileNotFoundError(f"cohort folder {input_dir} does not exist")
    report = Path(error_report).resolve() if error_report else error_report_path(raw_root, dataset_id, dataset_name)
    if target in report.parents or report == target:
        raise ValueError(f"the error report {report} must lie outside the dataset folder {target}")
    return target, (report if collect_errors else None)


def _refuse_reused_id(raw_root: Path, dataset_id: int, folder_name: str) -> None:
    """nnU-Net fails late ("More than one dataset name found") when one id has two names: refuse now."""
    if not raw_root.is_dir():
        return
    prefix = dataset_folder_prefix(dataset_id)
    others = sorted(p.name for p in raw_root.glob(prefix + "*") if p.is_dir() and p.name != folder_name)
    if others:
        raise ContractError(f"dataset id {int(dataset_id)} is already used by {raw_root / others[0]}; choose "
                            f"another --dataset-id, or the dataset name {others[0][len(prefix):]!r}")


def _read_and_plan(input_dir: Path, channel_names, seed: int, n_folds: int, collect_errors: bool,
                   report: Path | None) -> tuple[ClinicalSheet, StudyDesign, list[PlannedCase], list[dict]]:
    """Check clinical.csv, warn about the study design at once, and plan ids, sets and folds."""
    sheet = read_cohort_sheet(input_dir, channel_names)
    problems = list(sheet.problems)
    if problems and not collect_errors:
        _fail(problems[:1], None)
    if not sheet.rows:
        _fail(problems or [Problem("-", "no valid patient rows")], report)
    LOG.info("clinical.csv: %d valid patient row(s), %d problem(s); channels %s", len(sheet.rows), len(problems),
             list(sheet.channel_names))
    design = describe_study(sheet)
    warn_about_design(design, sheet.path, LOG)
    try:
        cases, folds = plan_cases(sheet.rows, seed, n_folds)
    except ValueError as exc:
        _fail(problems + [Problem("-", f"cannot plan the split: {exc}")], report)
    return sheet, design, cases, folds


def _case_tasks(tmp: Path, cases: list[PlannedCase], channel_names: tuple[str, ...], tolerance: float,
                max_voxels: int = DEFAULT_MAX_VOXELS) -> list[dict]:
    tasks = []
    for c in cases:
        images, labels = SET_FOLDERS[c.set_name]
        tasks.append({"case_id": c.case_id, "image_paths": [str(p) for p in c.row.images],
                      "mask_path": str(c.row.mask),
                      "image_targets": [str(tmp / images / f"{c.case_id}_{k:04d}{FILE_ENDING}")
                                        for k in range(len(c.row.images))],
                      "label_target": str(tmp / labels / f"{c.case_id}{FILE_ENDING}"),
                      "tolerance": float(tolerance), "channel_names": list(channel_names),
                      "max_voxels": int(max_voxels)})
    return tasks


def _convert_cases(tmp: Path, cases: list[PlannedCase], sheet: ClinicalSheet, tolerance: float, jobs: int,
                   collect_errors: bool, report: Path | None, max_voxels: int = DEFAULT_MAX_VOXELS) -> list[dict]:
    """Read, check and write every case into ``tmp``; fail with every (or the first) problem."""
    for images, labels in set(SET_FOLDERS.values()):
        (tmp / images).mkdir()
        (tmp / labels).mkdir()
    t0 = time.perf_counter()
    results = _run_cases(_case_tasks(tmp, cases, sheet.channel_names, tolerance, max_voxels), jobs, collect_errors)
    LOG.info("read, checked and wrote %d case(s) in %.1f s with %d process(es)",
             len(results), time.perf_counter() - t0, jobs)
    problems = list(sheet.problems)
    patient_of = {c.case_id: c.row.patient_id for c in cases}
    order = {c.case_id: i for i, c in enumerate(cases)}
    for result in sorted(results, key=lambda r: order[r["case_id"]]):
        problems.extend(Problem(patient_of[result["case_id"]], f) for f in result["faults"])
    if problems:
        _fail(problems if collect_errors else problems[:1], report)
    return results


def _write_dataset_files(tmp: Path, input_dir: Path, folder_name: str, cases: list[PlannedCase],
                         folds: list[dict], channel_names: tuple[str, ...], meta: dict) -> None:
    """dataset.json (nnU-Net's generator), splits_final.json, cases.csv and the study-design file."""
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    generate_dataset_json(
        str(tmp), {str(k): name for k, name in enumerate(channel_names)}, dict(LABELS),
        sum(c.set_name in CV_SETS for c in cases), FILE_ENDING,
        dataset_name=folder_name,
        description=_source_description(input_dir, len(cases)),
        reference="Li X et al. Insights into Imaging 2024;15:93 (study design reproduced)",
        license="see the data source",
        converted_by="nnunet-fm convert",
        numTest=sum(c.set_name == "internal_test" for c in cases),
        numExternalTest=sum(c.set_name == "external_test" for c in cases),
        test_folders={"internal_test": "imagesTs/labelsTs", "external_test": "imagesExt/labelsExt"},
    )
    write_json(tmp / "splits_final.json", folds)
    _write_manifest(tmp, cases)
    write_json(tmp / DATASET_META_NAME, meta)
    check_splits({c.case_id: c.set_name for c in cases}, {c.case_id: c.row.patient_id for c in cases}, folds)


def _dataset_meta(design: StudyDesign, channel_names: tuple[str, ...], tolerance: float,
                  results: list[dict]) -> dict:
    """Content of :data:`DATASET_META_NAME`: study design, channels, resampled cases."""
    resampled = {r["case_id"]: r["resampled"] for r in sorted(results, key=lambda r: r["case_id"]) if r["resampled"]}
    return {**design.to_dict(), "channel_names": {str(k): n for k, n in enumerate(channel_names)},
            "geometry_tolerance": float(tolerance), "resampled_cases": resampled}


def _log_summary(target: Path, cases: list[PlannedCase], folds: list[dict], results: list[dict],
                 meta: dict, started: float) -> None:
    for name in SET_FOLDERS:
        n = sum(c.set_name == name for c in cases)
        if meta["study_mode"] == "classification":
            n_axspa = sum(c.set_name == name and c.row.label == 1 for c in cases)
            LOG.info("set %-13s %4d case(s) (%d axSpA, %d non-axSpA)", name, n, n_axspa, n - n_axspa)
        else:
            LOG.info("set %-13s %4d case(s)", name, n)
    if meta["resampled_cases"]:
        LOG.warning("%d case(s) had channels resampled onto the first channel's grid: %s",
                    len(meta["resampled_cases"]), ", ".join(f"{c} ({'/'.join(v)})"
                                                            for c, v in list(meta["resampled_cases"].items())[:10]))
    empty = sum(r["mask_voxels"] == 0 for r in results)
    if empty:
        LOG.warning("%d case(s) have an empty FM mask", empty)
    LOG.info("wrote %s (%d cases, %d folds) in %.1f s", target, len(cases), len(folds), time.perf_counter() - started)


@contextlib.contextmanager
def _removed_if_left_empty(folder: Path):
    """Remove ``folder`` again if this conversion created it and failed leaving it empty (no debris)."""
    existed = os.path.lexists(folder)
    try:
        yield
    except BaseException:
        if not existed and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise


def convert_cohort(input_dir: str | os.PathLike, raw_root: str | os.PathLike, dataset_id: int,
                   dataset_name: str = "SIJFM", seed: int = 2024, n_folds: int = 5,
                   geometry_tolerance: float = GEOMETRY_TOLERANCE, collect_errors: bool = False,
                   overwrite: bool = False, jobs: int = 2, error_report: str | os.PathLike | None = None,
                   channel_names: Sequence[str] | None = None, max_image_voxels: int = DEFAULT_MAX_VOXELS) -> Path:
    """Convert a cohort folder into ``raw_root/DatasetXXX_NAME`` (nnU-Net v2 raw format).

    Args:
        input_dir: Cohort folder with ``clinical.csv`` (ARCHITECTURE.md, contract 1).
        raw_root: nnU-Net raw root (the folder that holds ``DatasetXXX_*`` folders).
        dataset_id: nnU-Net dataset id, 1..999.
        dataset_name: Dataset name (letters, digits, ``_``, ``-``).
        seed: Seed of the case-id shuffle, the set assignment and the CV folds.
        n_folds: Number of CV folds over train + validation.
        geometry_tolerance: Largest accepted mask-vs-image (and channel-vs-channel)
            difference in spacing and origin (mm) and direction cosines.
        collect_errors: Check every patient and report all problems at once (also as
            JSON at ``error_report``) instead of stopping at the first one.
        overwrite: Replace an existing dataset folder.
        jobs: Worker processes for reading/writing cases and for nnU-Net's check.
        error_report: Path of the JSON problem report (default: beside the dataset,
            ``DatasetXXX_NAME.conversion_errors.json``); must be outside the dataset.
        channel_names: Channel (sequence) names, e.g. ``("T1", "STIR")``: the sheet's
            ``image_t1``, ``image_stir`` columns (or its single ``image`` column for one
            name). Default: ``T1`` for ``image``, else the ``image_*`` column suffixes.
        max_image_voxels: Largest voxel count of an input volume (checked on the header,
            before any voxel is read).

    Returns:
        The dataset folder (with ``dataset_meta.json``: study mode, clinical baseline,
        channels, resampled cases).

    Raises:
        CohortValidationError: Bad sheet rows or cases (``.problems`` lists them).
        FileExistsError: The dataset exists and ``overwrite`` is false (``NotOwnedError``: it
            exists and was not written by the converter, so it is never replaced).
        ContractError: Bad dataset name, or the id is used by another dataset name in ``raw_root``.
        DatasetIntegrityError: nnU-Net's integrity check failed.
    """
    input_dir, raw_root = Path(input_dir).resolve(), Path(raw_root).resolve()
    target, report = _check_arguments(input_dir, raw_root, dataset_id, dataset_name, geometry_tolerance,
                                      overwrite, error_report, collect_errors)
    jobs = max(1, int(jobs))
    started = time.perf_counter()
    sheet, design, cases, folds = _read_and_plan(input_dir, channel_names, seed, n_folds, collect_errors, report)
    with _removed_if_left_empty(raw_root), atomic_dir(target, overwrite=overwrite, owner_marker=True) as tmp:
        results = _convert_cases(tmp, cases, sheet, geometry_tolerance, jobs, collect_errors, report,
                                 max_image_voxels)
        meta = _dataset_meta(design, sheet.channel_names, geometry_tolerance, results)
        _write_dataset_files(tmp, input_dir, target.name, cases, folds, sheet.channel_names, meta)
        t0 = time.perf_counter()
        verify_with_nnunet(tmp, jobs)
        LOG.info("nnU-Net verify_dataset_integrity passed in %.1f s", time.perf_counter() - t0)
        # The key is written before the rename: a dataset never exists without its key.
        _write_id_key(id_key_path(raw_root, dataset_id, dataset_name), cases)
    stale = error_report_path(raw_root, dataset_id, dataset_name)
    if stale.exists() and error_report is None:
        stale.unlink()
    _log_summary(target, cases, folds, results, meta, started)
    return target
