"""Evaluate a folder of predicted masks against a folder of reference masks.

Files are matched by case id, the file name without its volume suffix
(``SIJ_1_0001.nii.gz`` -> ``SIJ_1_0001``). Every prediction needs a reference. A reference
without a prediction is an error that names the cases (``missing="error"``, the default),
or is skipped and reported (``missing="skip"``). Cases run in a process pool or as
Dask tasks (:func:`nnunet_fm.cluster.map_items`); the per-case table has the columns
of :data:`nnunet_fm.seg_metrics.CSV_COLUMNS` (ARCHITECTURE.md section 4).

Summaries:

* :func:`cv_summary`: per-fold mean DSC and the paper's cross-validation figure, the
  mean over folds of the per-fold mean DSC ± the sample SD (ddof = 1) over folds.
* :func:`test_set_summary`: mean ± sample SD (ddof = 1) of DSC over cases and a case
  bootstrap 95% percentile confidence interval of the mean DSC.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from nnunet_fm.image_io import GEOMETRY_TOLERANCE, VOLUME_SUFFIXES, strip_volume_suffix
from nnunet_fm.seg_metrics import (CSV_COLUMNS, DEFAULT_LESION_OVERLAP_FRACTION, DEFAULT_NSD_TOLERANCE_MM,
                                   LESION_COLUMNS)

LOG = logging.getLogger(__name__)

#: Metrics summarised (mean, SD, median) besides DSC in the summaries.
SUMMARY_METRICS = ("dice", "jaccard", "hd95_mm", "assd_mm", "hd95_mm_penalised", "assd_mm_penalised", "nsd",
                   "nsd_slice", "volume_similarity")
#: Text of the HD95/ASSD penalty in the summary (see :mod:`nnunet_fm.seg_metrics`).
PENALTY_DEFINITION = ("hd95_mm_penalised / assd_mm_penalised: when exactly one mask is empty, the undefined "
                      "distance is replaced by the diagonal of the image's physical extent in mm "
                      "(sqrt(sum (n_i * spacing_i)^2)); raw hd95_mm / assd_mm stay NaN and their means "
                      "leave those cases out")
#: What to do with a reference mask that has no prediction.
MISSING_POLICIES = ("error", "skip")


def list_volumes(folder: str | os.PathLike) -> dict[str, Path]:
    """Map case id -> volume file for every mask file in ``folder`` (not recursive).

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
        ValueError: Two files give the same case id (e.g. ``a.nii`` and ``a.nii.gz``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: mask folder does not exist")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or not path.name.endswith(VOLUME_SUFFIXES):
            continue
        case_id = strip_volume_suffix(path.name)
        if case_id in found:
            raise ValueError(f"{folder}: case {case_id} has two files ({found[case_id].name}, {path.name})")
        found[case_id] = path
    return found


def pair_case_files(pred_dir: str | os.PathLike, ref_dir: str | os.PathLike,
                    missing: str = "error") -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """Pair reference and predicted masks by case id, skipping or refusing unpredicted cases.

    Args:
        pred_dir: Folder of predicted masks.
        ref_dir: Folder of reference masks.
        missing: ``"error"``: a reference without a prediction is an error; ``"skip"``:
            it is left out and returned in the skipped list. A prediction without a
            reference is always an error.

    Returns:
        ``(sorted (case_id, ref_path, pred_path) pairs, sorted skipped case ids)``.

    Raises:
        ValueError: A folder holds no masks, a case lacks its partner file (see
            ``missing``), no case is left, or ``missing`` is unknown.
    """
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing must be one of {list(MISSING_POLICIES)}; got {missing!r}")
    refs, preds = list_volumes(ref_dir), list_volumes(pred_dir)
    if not refs:
        raise ValueError(f"{ref_dir}: no reference masks ({', '.join(VOLUME_SUFFIXES)})")
    missing_pred = sorted(set(refs) - set(preds))
    missing_ref = sorted(set(preds) - set(refs))
    problems = []
    if missing_pred and missing == "error":
        problems.append(f"{len(missing_pred)} case(s) have no prediction in {pred_dir}: {_names(missing_pred)} "
                        "(--missing skip evaluates the others)")
    if missing_ref:
        problems.append(f"{len(missing_ref)} prediction(s) have no reference in {ref_dir}: {_names(missing_ref)}")
    if problems:
        raise ValueError("; ".join(problems))
    pairs = [(case_id, refs[case_id], preds[case_id]) for case_id in sorted(refs) if case_id in preds]
    if not pairs:
        raise ValueError(f"{pred_dir}: none of the {len(refs)} reference case(s) has a prediction")
    return pairs, missing_pred


def match_case_files(pred_dir: str | os.PathLike, ref_dir: str | os.PathLike) -> list[tuple[str, Path, Path]]:
    """Pair reference and predicted masks by case id; every case needs both.

    Returns:
        Sorted list of ``(case_id, ref_path, pred_path)``.

    Raises:
        ValueError: A folder holds no masks, or a case lacks its partner file.
    """
    return pair_case_files(pred_dir, ref_dir, "error")[0]


def _names(ids: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", ... ({len(ids) - limit} more)" if len(ids) > limit else "")


def _read_mask_pair(case_id: str, ref_path, pred_path) -> list:
    """The reference and predicted masks of a case; a read error names the case and which mask."""
    from nnunet_fm.image_io import ImageReadError, read_image

    images = []
    for what, path in (("reference", ref_path), ("prediction", pred_path)):
        try:
            images.append(read_image(path))
        except ImageReadError as exc:
            raise ImageReadError(f"case {case_id}: {what} mask: {exc}") from None
    return images


def evaluate_case(case_id: str, ref_path: str | os.PathLike, pred_path: str | os.PathLike,
                  nsd_tolerance_mm: float = DEFAULT_NSD_TOLERANCE_MM,
                  geometry_tolerance: float = GEOMETRY_TOLERANCE) -> dict[str, Any]:
    """Read one pair of masks and compute its CSV row.

    Raises:
        ImageReadError: A file cannot be read (the message names the case and file).
        GeometryMismatchError, ValueError: Bad pair (the message names the case).
    """
    from nnunet_fm.seg_metrics import case_metrics

    images = _read_mask_pair(case_id, ref_path, pred_path)
    return case_metrics(images[0], images[1], nsd_tolerance_mm, geometry_tolerance, case_id=case_id)


def evaluate_case_with_lesions(case_id: str, ref_path: str | os.PathLike, pred_path: str | os.PathLike,
                               nsd_tolerance_mm: float = DEFAULT_NSD_TOLERANCE_MM,
                               geometry_tolerance: float = GEOMETRY_TOLERANCE,
                               lesion_overlap_fraction: float = DEFAULT_LESION_OVERLAP_FRACTION):
    """:func:`evaluate_case` plus the per-lesion rows (``LESION_COLUMNS``) of the case."""
    from nnunet_fm.seg_metrics import case_metrics

    images = _read_mask_pair(case_id, ref_path, pred_path)
    lesions: list = []
    row = case_metrics(images[0], images[1], nsd_tolerance_mm, geometry_tolerance, case_id=case_id,
                       lesion_overlap_fraction=lesion_overlap_fraction, lesions=lesions)
    return row, lesions


def _evaluate_star(task: tuple):
    return evaluate_case_with_lesions(*task)


def evaluate_folders(pred_dir: str | os.PathLike, ref_dir: str | os.PathLike,
                     out_csv: str | os.PathLike | None = None,
                     nsd_tolerance_mm: float = DEFAULT_NSD_TOLERANCE_MM, jobs: int = 1,
                     geometry_tolerance: float = GEOMETRY_TOLERANCE, progress: bool = True,
                     missing: str = "error", lesion_overlap_fraction: float = DEFAULT_LESION_OVERLAP_FRACTION,
                     lesions_csv: str | os.PathLike | None = None, cluster: Any = None):
    """Evaluate every case of two mask folders.

    Args:
        pred_dir: Folder of predicted masks.
        ref_dir: Folder of reference masks.
        out_csv: Where to write the per-case CSV atomically (``None``: do not write).
        nsd_tolerance_mm: Tolerance of the normalised surface Dice.
        jobs: Worker processes (1 runs in this process).
        geometry_tolerance: Tolerance of the grid check.
        progress: Show a tqdm progress bar on stderr.
        missing: ``"error"`` or ``"skip"`` for references without a prediction
            (:func:`pair_case_files`).
        lesion_overlap_fraction: Lesion detection threshold (fraction of a lesion's voxels).
        lesions_csv: Where to write the per-lesion table (``LESION_COLUMNS``; ``None``: not written).
        cluster: ``None`` (or ``scheduler: none``): ``jobs`` local processes. A
            :class:`nnunet_fm.cluster.ClusterConfig` or a ``distributed.Client``: one Dask
            task per case; the tables are the same as the local path's.

    Returns:
        pandas DataFrame with one row per evaluated case, columns ``CSV_COLUMNS``,
        sorted by case id; ``frame.attrs["skipped_case_ids"]`` lists the skipped cases,
        ``frame.attrs["lesions"]`` holds the per-lesion table and
        ``frame.attrs["lesion_overlap_fraction"]`` the threshold.
    """
    import pandas as pd

    from nnunet_fm.atomic import write_csv

    start = time.perf_counter()
    pairs, skipped = pair_case_files(pred_dir, ref_dir, missing)
    if skipped:
        LOG.warning("%d of %d reference case(s) have no prediction in %s and were skipped: %s", len(skipped),
                    len(skipped) + len(pairs), pred_dir, _names(skipped))
    tasks = [(case_id, str(ref), str(pred), nsd_tolerance_mm, geometry_tolerance, lesion_overlap_fraction)
             for case_id, ref, pred in pairs]
    from nnunet_fm.cluster import map_items

    results = map_items(_evaluate_star, tasks, cluster=cluster, jobs=jobs, desc="evaluate-seg",
                        item_id=lambda task: task[0], progress=progress)
    frame = pd.DataFrame([row for row, _ in results], columns=list(CSV_COLUMNS))
    lesions = pd.DataFrame([lesion for _, case_lesions in results for lesion in case_lesions],
                           columns=list(LESION_COLUMNS))
    frame.attrs["skipped_case_ids"] = list(skipped)
    frame.attrs["lesions"] = lesions
    frame.attrs["lesion_overlap_fraction"] = float(lesion_overlap_fraction)
    if out_csv is not None:
        write_csv(out_csv, frame)
    if lesions_csv is not None:
        write_csv(lesions_csv, lesions)
    flagged = frame[frame["empty_case"] != "none"]
    if len(flagged):
        LOG.warning("%d case(s) with an empty mask: %s", len(flagged),
                    _names([f"{c} ({e})" for c, e in zip(flagged["case_id"], flagged["empty_case"])]))
    LOG.info("evaluated %d cases in %.1f s (%d job(s)); %d skipped for lack of a prediction; mean DSC %.4f",
             len(frame), time.perf_counter() - start, jobs, len(skipped), float(frame["dice"].mean()))
    return frame


def _describe(values) -> dict[str, Any]:
    array = np.asarray(values, float)
    finite = array[~np.isnan(array)]
    return {
        "n": int(finite.size),
        "n_nan": int(array.size - finite.size),
        "mean": float(finite.mean()) if finite.size else math.nan,
        "sd": float(finite.std(ddof=1)) if finite.size > 1 else math.nan,
        "median": float(np.median(finite)) if finite.size else math.nan,
    }


def cv_summary(per_case, folds: Mapping[str, int]) -> dict[str, Any]:
    """Cross-validation DSC: per-fold means, then mean ± SD (ddof = 1) over folds.

    Args:
        per_case: Per-case table with ``case_id`` and ``dice``.
        folds: case id -> fold. Every case of ``per_case`` must have a fold.

    Returns:
        Dict with ``per_fold`` (fold, n_cases, mean_dice), ``n_folds``, ``mean_dice``
        (mean of the per-fold means), ``sd_dice`` (sample SD over folds, ddof = 1;
        NaN with one fold) and ``ddof``.

    Raises:
        ValueError: A case has no fold, or the table is empty.
    """
    if len(per_case) == 0:
        raise ValueError("no cases to summarise")
    missing = [c for c in per_case["case_id"] if c not in folds]
    if missing:
        raise ValueError(f"{len(missing)} case(s) have no fold: {_names(sorted(missing))}")
    fold_of = np.array([int(folds[c]) for c in per_case["case_id"]])
    dice = np.asarray(per_case["dice"], float)
    per_fold = []
    for fold in sorted(set(fold_of.tolist())):
        selected = dice[fold_of == fold]
        per_fold.append({"fold": fold, "n_cases": int(selected.size), "mean_dice": float(np.mean(selected))})
    means = np.array([f["mean_dice"] for f in per_fold])
    return {
        "definition": "mean over folds of the per-fold mean DSC; SD over folds with ddof=1",
        "n_folds": len(per_fold),
        "n_cases": int(dice.size),
        "mean_dice": float(means.mean()),
        "sd_dice": float(means.std(ddof=1)) if means.size > 1 else math.nan,
        "ddof": 1,
        "per_fold": per_fold,
    }


def bootstrap_mean_ci(values: Sequence[float], n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (cases resampled with replacement)."""
    values = np.asarray(values, float)
    if values.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = np.empty(int(n_boot))
    for start in range(0, int(n_boot), 500):  # bounded memory for large case sets
        stop = min(start + 500, int(n_boot))
        idx = rng.integers(0, values.size, size=(stop - start, values.size))
        means[start:stop] = values[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.percentile(means, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def test_set_summary(per_case, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Mean ± SD (ddof = 1) of DSC over cases and a case-bootstrap 95% CI of the mean.

    Args:
        per_case: Per-case table (``CSV_COLUMNS``).
        n_boot: Bootstrap resamples.
        seed: Seed of the bootstrap.

    Returns:
        Dict with ``n_cases``, ``mean_dice``, ``sd_dice``, ``ci95_dice`` (percentile CI),
        per-metric descriptions, empty-case counts and lesion totals.
    """
    dice = np.asarray(per_case["dice"], float)
    low, high = bootstrap_mean_ci(dice, n_boot, seed)
    described = {m: _describe(per_case[m]) for m in SUMMARY_METRICS if m in per_case}
    out = {
        "n_cases": int(dice.size),
        "mean_dice": described["dice"]["mean"],
        "sd_dice": described["dice"]["sd"],
        "ddof": 1,
        "ci95_dice": [low, high],
        "ci_method": f"case bootstrap, {int(n_boot)} resamples, percentile, seed {seed}",
        "metrics": described,
    }
    if "empty_case" in per_case:
        counts = per_case["empty_case"].value_counts()
        out["empty_cases"] = {k: int(counts.get(k, 0)) for k in ("none", "both", "ref_only", "pred_only")}
    if "hd95_mm_penalised" in per_case:
        out["penalty"] = _penalty_summary(per_case)
    if "ref_lesions" in per_case:
        ref_lesions = int(per_case["ref_lesions"].sum())
        detected = int(per_case["detected_lesions"].sum())
        out["lesions"] = {
            "ref_lesions": ref_lesions, "detected_lesions": detected,
            "fp_lesions": int(per_case["fp_lesions"].sum()),
            "lesion_sensitivity": detected / ref_lesions if ref_lesions else math.nan,
        }
    return out


def _penalty_summary(per_case) -> dict[str, Any]:
    """How many cases carry the one-empty-mask penalty, and the means with and without it."""
    penalised = per_case["empty_case"].isin(["ref_only", "pred_only"]) if "empty_case" in per_case else None
    penalties = np.asarray(per_case["penalty_mm"], float) if "penalty_mm" in per_case else np.array([])
    out: dict[str, Any] = {
        "penalty_mm": PENALTY_DEFINITION,
        "penalty_mm_range": [float(penalties.min()), float(penalties.max())] if penalties.size else None,
        "n_penalised": int(penalised.sum()) if penalised is not None else 0,
        "penalised_case_ids": sorted(per_case.loc[penalised, "case_id"].astype(str)) if penalised is not None else [],
    }
    for metric in ("hd95_mm", "assd_mm"):
        out[f"{metric}_mean_without_penalty"] = _describe(per_case[metric])["mean"]
        out[f"{metric}_mean_with_penalty"] = _describe(per_case[f"{metric}_penalised"])["mean"]
    return out


test_set_summary.__test__ = False  # not a pytest test despite its name


def _conventions(per_case) -> dict[str, Any]:
    """Segmentation conventions stated beside the numbers (spacing, NSD tolerance, lesions)."""
    out: dict[str, Any] = {"skipped_case_ids": list(per_case.attrs.get("skipped_case_ids", []))}
    out["n_skipped"] = len(out["skipped_case_ids"])
    if "slice_spacing_mm" in per_case and len(per_case):
        spacing = np.asarray(per_case["slice_spacing_mm"], float)
        out["nsd_slice_tolerance"] = ("nsd_slice: normalised surface Dice at a tolerance equal to the case's "
                                      "largest voxel spacing (its slice spacing), nsd_tolerance_slice_mm")
        out["slice_spacing_mm"] = {"min": float(spacing.min()), "median": float(np.median(spacing)),
                                   "max": float(spacing.max())}
    if "lesion_overlap_fraction" in per_case.attrs:
        fraction = float(per_case.attrs["lesion_overlap_fraction"])
        out["lesion_detection"] = (f"26-connected components in 3-D; a reference lesion is detected when >= "
                                   f"{fraction:g} of its voxels are predicted; a predicted component is a false "
                                   f"positive when < {fraction:g} of its voxels lie in the reference")
        out["lesion_overlap_fraction"] = fraction
    return out


def read_folds(cases_csv: str | os.PathLike) -> dict[str, int]:
    """case id -> fold from a ``cases.csv`` (ARCHITECTURE.md section 2); fold -1 = no CV fold."""
    import pandas as pd

    table = pd.read_csv(cases_csv, dtype={"case_id": str})
    missing = {"case_id", "fold"} - set(table.columns)
    if missing:
        raise ValueError(f"{cases_csv}: missing column(s) {sorted(missing)}")
    duplicated = table["case_id"][table["case_id"].duplicated()].tolist()
    if duplicated:
        raise ValueError(f"{cases_csv}: duplicated case_id(s) {_names(duplicated)}")
    return {str(c): int(f) for c, f in zip(table["case_id"], table["fold"])}


def summarise(per_case, folds: Mapping[str, int] | None = None, n_boot: int = 2000, seed: int = 0,
              nsd_tolerance_mm: float | None = None) -> dict[str, Any]:
    """Summary JSON content: test-set summary, plus the CV figure when folds are given.

    Cases with fold -1 (test sets) are left out of the CV figure; cases missing from
    ``folds`` are an error. ``per_case.attrs`` (from :func:`evaluate_folders`) add
    ``skipped_case_ids``, ``lesion_overlap_fraction`` and ``lesions_by_size_tertile``
    when present.
    """
    summary: dict[str, Any] = {"all_cases": test_set_summary(per_case, n_boot, seed)}
    if nsd_tolerance_mm is not None:
        summary["nsd_tolerance_mm"] = float(nsd_tolerance_mm)
    summary.update(_conventions(per_case))
    if folds is not None:
        unknown = [c for c in per_case["case_id"] if c not in folds]
        if unknown:
            raise ValueError(f"{len(unknown)} evaluated case(s) are not in the cases table: {_names(sorted(unknown))}")
        in_cv = per_case[[folds[c] >= 0 for c in per_case["case_id"]]]
        if len(in_cv):
            if len(in_cv) < len(per_case):
                LOG.info("%d case(s) with fold -1 left out of the CV figure", len(per_case) - len(in_cv))
            summary["cross_validation"] = cv_summary(in_cv, folds)
        else:
            LOG.info("no evaluated case has a CV fold; the summary has no CV figure")
    return summary
