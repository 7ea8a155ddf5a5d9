"""What a cohort can support: study mode and clinical baseline, decided from ``clinical.csv``.

A cohort without a diagnosis, or with a single diagnosis, is *segmentation-only*: there is
nothing to classify. A cohort without age or sex for every patient has no clinical
baseline. Both are stated explicitly in the dataset (:data:`DATASET_META_NAME`) and
warned about at conversion time; no default value is ever filled in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from nnunet_fm.contract import DATASET_META_FILE

from dataset_conversion.clinical_sheet import ClinicalSheet

#: File beside ``cases.csv`` in the converted dataset describing the study design.
DATASET_META_NAME = DATASET_META_FILE  # declared in the contract
CLASSIFICATION = "classification"
SEGMENTATION_ONLY = "segmentation_only"


@dataclass(frozen=True)
class StudyDesign:
    """What the converted dataset supports, with the reasons."""

    study_mode: str  # CLASSIFICATION or SEGMENTATION_ONLY
    study_mode_reason: str
    clinical_baseline_available: bool
    clinical_baseline_reason: str
    stratified_by: str | None  # "diagnosis" or None (unstratified splits)
    split_source: str  # "drawn" or "clinical.csv set column"

    def to_dict(self) -> dict:
        """JSON-ready mapping."""
        return asdict(self)


def _study_mode(sheet: ClinicalSheet) -> tuple[str, str]:
    if "diagnosis" not in sheet.columns:
        return SEGMENTATION_ONLY, "clinical.csv has no diagnosis column"
    diagnoses = sorted({r.diagnosis for r in sheet.rows if r.diagnosis is not None})
    if not diagnoses:
        return SEGMENTATION_ONLY, "clinical.csv's diagnosis column is empty for every patient"
    if len(diagnoses) == 1:
        return SEGMENTATION_ONLY, f"every patient in clinical.csv has the diagnosis {diagnoses[0]!r} (one class)"
    return CLASSIFICATION, f"clinical.csv has both diagnoses {diagnoses}"


def _clinical_baseline(sheet: ClinicalSheet) -> tuple[bool, str]:
    reasons = []
    for column in ("age", "sex"):
        if column not in sheet.columns:
            reasons.append(f"clinical.csv has no {column} column")
            continue
        empty = sum(getattr(r, column) is None for r in sheet.rows)
        if empty:
            reasons.append(f"{column} is empty for {empty} of {len(sheet.rows)} patient(s)")
    if reasons:
        return False, "; ".join(reasons)
    return True, "age and sex are given for every patient"


def describe_study(sheet: ClinicalSheet) -> StudyDesign:
    """Study mode, clinical baseline and split design of a checked sheet."""
    mode, mode_reason = _study_mode(sheet)
    baseline, baseline_reason = _clinical_baseline(sheet)
    fixed = any(r.fixed_set is not None for r in sheet.rows)
    return StudyDesign(
        study_mode=mode,
        study_mode_reason=mode_reason,
        clinical_baseline_available=baseline,
        clinical_baseline_reason=baseline_reason,
        stratified_by="diagnosis" if mode == CLASSIFICATION else None,
        split_source="clinical.csv set column" if fixed else "drawn",
    )


def warn_about_design(design: StudyDesign, sheet_path, log) -> None:
    """One warning line per limitation, naming clinical.csv (logged before any image is read)."""
    if design.study_mode == SEGMENTATION_ONLY:
        log.warning("%s: segmentation-only study (%s); classification and ROC will be skipped",
                    sheet_path, design.study_mode_reason)
    elif not design.clinical_baseline_available:
        log.warning("%s: no clinical baseline (age + sex) will be fitted: %s",
                    sheet_path, design.clinical_baseline_reason)


def study_mode_with_reason(cohort_dir) -> tuple[str, str]:
    """``(study mode, reason)`` of a cohort, from its ``clinical.csv`` diagnosis column alone.

    Cheap (no image, no full validation): what the study pipeline needs when it builds its
    stages. ``None`` (the synthetic cohort, written later) is a classification study, and
    so is a cohort whose sheet does not exist yet or cannot be read: ``convert`` then fails
    on it with the full message before any stage that depends on the mode runs.
    """
    import csv
    from pathlib import Path

    from dataset_conversion.clinical_sheet import normalise_diagnosis

    if cohort_dir is None:
        return CLASSIFICATION, "synthetic cohort (both diagnoses by construction)"
    sheet = Path(cohort_dir) / "clinical.csv"
    try:
        with open(sheet, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = {(c or "").strip() for c in (reader.fieldnames or [])}
            if "diagnosis" not in columns:
                return SEGMENTATION_ONLY, "clinical.csv has no diagnosis column"
            key = next(c for c in (reader.fieldnames or []) if (c or "").strip() == "diagnosis")
            values = {normalise_diagnosis(v) for row in reader if (v := (row.get(key) or "").strip())}
    except (OSError, UnicodeDecodeError, csv.Error):
        return CLASSIFICATION, f"{sheet} not readable yet; convert checks it"
    diagnoses = sorted(v for v in values if v is not None)
    if not diagnoses:
        return SEGMENTATION_ONLY, "clinical.csv's diagnosis column is empty for every patient"
    if len(diagnoses) == 1:
        return SEGMENTATION_ONLY, f"every patient in clinical.csv has the diagnosis {diagnoses[0]!r} (one class)"
    return CLASSIFICATION, f"clinical.csv has both diagnoses {diagnoses}"


def study_mode_of_cohort(cohort_dir) -> str:
    """``classification`` or ``segmentation_only`` (see :func:`study_mode_with_reason`)."""
    return study_mode_with_reason(cohort_dir)[0]


def prediction_sets_of_cohort(cohort_dir) -> tuple[str, ...]:
    """Prediction sets (``oof`` + the test sets) a cohort will have after conversion.

    Cheap, from ``clinical.csv`` alone, for building the study's stages: with a ``set``
    column the test sets are the ones it names; without one the converter draws an internal
    test set from centre 1 and every centre-2 patient is an external test case. ``None`` (the
    synthetic cohort) and an unreadable sheet give every set (``convert`` then reports the
    sheet's problems before any later stage runs).
    """
    import csv
    from pathlib import Path

    from nnunet_fm.contract import PREDICTION_SETS, TEST_SETS

    everything = tuple(PREDICTION_SETS)
    if cohort_dir is None:
        return everything
    sheet = Path(cohort_dir) / "clinical.csv"
    try:
        with open(sheet, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            names = {(c or "").strip(): c for c in (reader.fieldnames or [])}
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error):
        return everything
    if "set" in names:
        present = {(row.get(names["set"]) or "").strip() for row in rows}
    else:
        centers = {(row.get(names.get("center", "center")) or "").strip() for row in rows}
        present = {TEST_SETS[0]} | ({TEST_SETS[1]} if "2" in centers else set())
    return tuple(name for name in everything if name not in TEST_SETS or name in present)
