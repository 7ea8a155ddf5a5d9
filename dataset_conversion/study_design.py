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
