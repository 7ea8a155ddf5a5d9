"""The synthetic cohort's AUC ceiling per study set (``RUN/dataset/ceiling.json``).

The generator writes the Bayes-optimal AUC of its diagnosis model (``cohort.json``,
``bayes_auc``) and each patient's true log-likelihood ratio (``truth.csv``,
``bayes_llr_{all,imaging,clinical}``). The ceiling of a study set is the AUC of those
ratios on that set's patients: what a perfect model of the generator could reach there.
Patients are matched to sets through the converter's id key (case id -> patient id).
"""

from __future__ import annotations

from typing import Any, Mapping

from nnunet_fm.contract import CEILING_SETS, DIAGNOSES

#: Parts of the latent truth a ceiling is given for (``bayes_llr_<part>`` columns of truth.csv).
CEILING_PARTS = ("all", "imaging", "clinical")
#: Keys of ``cohort.json``'s ``bayes_auc`` copied into the ceiling's ``model`` entry.
MODEL_KEYS = (*CEILING_PARTS, "mc_patients", "mc_se")


class CeilingError(ValueError):
    """truth.csv, the id key and cases.csv do not describe the same patients."""


def _truth_per_case(cases, id_key, truth):
    """cases.csv rows joined to their patient's truth row; every case must map to one patient."""
    key = id_key.set_index("case_id")["patient_id"].astype(str)
    unknown = sorted(set(cases["case_id"]) - set(key.index))
    if unknown:
        raise CeilingError(f"id key lacks case(s) {unknown[:3]} of cases.csv")
    patients = cases["case_id"].map(key)
    by_patient = truth.assign(patient_id=truth["patient_id"].astype(str)).set_index("patient_id")
    lacking = ~patients.isin(by_patient.index)
    if lacking.any():  # name the pseudonymised case, never the patient id
        raise CeilingError(f"truth.csv has no row for {int(lacking.sum())} case(s) of cases.csv, "
                           f"e.g. {cases['case_id'][lacking].iloc[0]}")
    columns = [f"bayes_llr_{part}" for part in CEILING_PARTS]
    return by_patient.loc[patients.to_numpy(), columns].reset_index(drop=True)


def ceiling_by_set(cases, id_key, truth, model_auc: Mapping[str, Any]) -> dict[str, Any]:
    """``ceiling.json`` content: the model's Bayes AUC and the AUC of the true ratios per set.

    Args:
        cases: The converter's ``cases.csv`` (``case_id``, ``set``, ``diagnosis``).
        id_key: ``DatasetXXX_NAME.id_key.csv`` (``case_id``, ``patient_id``).
        truth: The cohort's ``truth.csv`` (``patient_id``, ``bayes_llr_*``).
        model_auc: ``cohort.json``'s ``bayes_auc`` (Monte Carlo AUCs of the model).

    Returns:
        ``{"source", "model": {all, imaging, clinical, mc_patients, mc_se}, "by_set":
        {"training": {all, imaging, clinical, n}, "internal_test": ..., "external_test": ...}}``;
        ``training`` pools train and validation. A set with one class has AUCs ``None``.

    Raises:
        CeilingError: A case has no patient in the id key, or a patient no truth row.
    """
    from nnunet_fm.roc_stats import auc

    cases = cases.reset_index(drop=True)
    llr = _truth_per_case(cases, id_key, truth)
    positive = (cases["diagnosis"] == DIAGNOSES[0]).to_numpy()
    by_set = {}
    for name, members in CEILING_SETS.items():
        rows = cases["set"].isin(members).to_numpy()
        both = positive[rows].any() and not positive[rows].all()
        by_set[name] = {part: (float(auc(positive[rows].astype(int), llr[f"bayes_llr_{part}"].to_numpy()[rows]))
                               if both else None) for part in CEILING_PARTS}
        by_set[name]["n"] = int(rows.sum())
    return {"source": "cohort.json + truth.csv",
            "model": {k: model_auc[k] for k in MODEL_KEYS if k in model_auc},
            "by_set": by_set}


def write_ceiling(cohort_dir, dataset_dir, id_key_file, out_file) -> dict[str, Any]:
    """Read the cohort's truth and the converted dataset's tables; write ``ceiling.json`` atomically."""
    import json
    from pathlib import Path

    import pandas as pd

    from nnunet_fm.atomic import write_json
    from nnunet_fm.contract import CASES_FILE

    cohort_dir = Path(cohort_dir)
    info = json.loads((cohort_dir / "cohort.json").read_text(encoding="utf-8"))
    cases = pd.read_csv(Path(dataset_dir) / CASES_FILE, dtype={"case_id": str})
    id_key = pd.read_csv(id_key_file, dtype=str)
    truth = pd.read_csv(cohort_dir / "truth.csv", dtype={"patient_id": str})
    content = ceiling_by_set(cases, id_key, truth, info["bayes_auc"])
    write_json(out_file, content)
    return content
