"""Small run folders for the report tests, written as the Phase-B file contract names them.

``classification_run`` holds every input of every section (synthetic cohort); ``segmentation_only_run``
holds what a segmentation-only study produces; the old committed run (results/quick-synthetic)
is the third kind (none of the new files). Summaries, ROC statistics and per-case tables are made
by the project's own library functions from plausible per-case values, so the report reads files
exactly as the stages write them. Seeds are development seeds (never the report seed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

DEV_SEED = 2024
SETS = {"train": 40, "validation": 10, "internal_test": 24, "external_test": 18}
SEG_SET_OF = {"train": "oof", "validation": "oof", "internal_test": "internal_test", "external_test": "external_test"}


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")


def _config(run: Path, name: str, data_dir) -> None:
    # the fixture's "report seed" is a project development seed: tests never use the real report seed
    config = {"name": name, "data_dir": data_dir, "seeds": {"report": DEV_SEED, "development": [7, 11]},
              "stats": {"n_bootstrap": 200, "ci_level": 0.95}}
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    _write_json(run / "provenance.json", {"package_version": "0.0.test", "git_commit": "fixture"})
    _write_json(run / "stages.json", {"stages": {"convert": {"time_s": 1.0, "peak_memory_mb": 10.0}}})


def _cases(rng: np.random.Generator, classification: bool) -> pd.DataFrame:
    rows, number = [], 0
    for set_name, n in SETS.items():
        for i in range(n):
            number += 1
            centre = 2 if set_name == "external_test" else 1
            label = int(rng.random() < 0.62)
            rows.append({"case_id": f"SIJ_{centre}_{number:04d}", "set": set_name, "center": centre,
                         "diagnosis": ("axSpA" if label else "non-axSpA") if classification else None,
                         "label": label if classification else None,
                         "fold": i % 5 if set_name in ("train", "validation") else -1,
                         "age": int(rng.integers(18, 60)) if classification else None,
                         "sex": ("F" if rng.random() < 0.4 else "M") if classification else None})
    return pd.DataFrame(rows)


def _segmentation(rng: np.random.Generator, cases: pd.DataFrame, run: Path) -> None:
    from nnunet_fm.seg_evaluation import summarise

    for seg_set in ("oof", "internal_test", "external_test"):
        part = cases[cases["set"].map(SEG_SET_OF) == seg_set].reset_index(drop=True)
        n = len(part)
        spacing = np.where(part["center"] == 2, 4.0, 3.3)
        ref_ml = rng.gamma(3.0, 1.5, n)
        dice = np.clip(rng.normal(0.8, 0.08, n), 0.2, 0.98)
        hd95 = rng.gamma(2.0, 1.5, n)
        empty = np.array(["none"] * n, dtype=object)
        empty[0] = "pred_only" if seg_set == "external_test" else "none"
        hd95_raw = np.where(empty == "none", hd95, np.nan)
        frame = pd.DataFrame({
            "case_id": part["case_id"], "dice": dice, "jaccard": dice / (2 - dice), "hd95_mm": hd95_raw,
            "assd_mm": hd95_raw / 4, "nsd": np.clip(dice + 0.1, 0, 1), "volume_similarity": 1 - rng.random(n) / 10,
            "ref_volume_ml": ref_ml, "pred_volume_ml": ref_ml * rng.normal(0.95, 0.1, n), "ref_lesions": 3,
            "detected_lesions": 2, "fp_lesions": 1, "empty_case": empty, "nsd_slice": np.clip(dice + 0.15, 0, 1),
            "nsd_tolerance_slice_mm": spacing, "slice_spacing_mm": spacing,
            "hd95_mm_penalised": np.where(empty == "none", hd95, 120.0),
            "assd_mm_penalised": np.where(empty == "none", hd95 / 4, 120.0), "penalty_mm": 120.0})
        frame.attrs["lesion_overlap_fraction"] = 0.1
        (run / "segmentation").mkdir(parents=True, exist_ok=True)
        frame.to_csv(run / "segmentation" / f"{seg_set}.csv", index=False)
        folds = dict(zip(part["case_id"], part["fold"])) if seg_set == "oof" else None
        _write_json(run / "segmentation" / f"{seg_set}_summary.json",
                    json.loads(json.dumps(summarise(frame, folds, n_boot=100, seed=DEV_SEED, nsd_tolerance_mm=2.0),
                                          default=float).replace("NaN", "null")))
        lesions = pd.DataFrame({"case_id": np.repeat(part["case_id"], 3), "lesion_id": np.tile([1, 2, 3], n),
                                "lesion_volume_ml": rng.gamma(2.0, 0.2, 3 * n),
                                "overlap_fraction": rng.random(3 * n)})
        lesions["detected"] = lesions["overlap_fraction"] >= 0.1
        lesions.to_csv(run / "segmentation" / f"{seg_set}_lesions.csv", index=False)


def _scores(rng: np.random.Generator, cases: pd.DataFrame, shift: float) -> pd.DataFrame:
    split = cases["set"].replace({"train": "training", "validation": "training"})
    y = cases["label"].to_numpy(int)
    signal = y * 1.6 + rng.normal(0, 1, len(y)) + shift
    clinical = y * 0.7 + rng.normal(0, 1, len(y))
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    return pd.DataFrame({"case_id": cases["case_id"], "set": cases["set"], "split": split, "label": y,
                         "score_xgboost": sigmoid(signal),
                         "score_fm_volume": np.exp(signal / 3 + rng.normal(0, 0.5, len(y))),
                         "score_clinical": sigmoid(clinical),
                         "score_clinical_imaging": sigmoid((signal + clinical) / 1.5),
                         "pred_xgboost": (signal > 0).astype(int), "score_source": "test"})


def _classification(rng: np.random.Generator, cases: pd.DataFrame, run: Path) -> pd.DataFrame:
    from nnunet_fm.roc_stats import roc_summary

    preds = _scores(rng, cases, 0.0)
    (run / "classifier").mkdir(parents=True)
    preds.to_csv(run / "classifier" / "predictions.csv", index=False)
    _write_json(run / "classifier" / "classifier.json", {
        "threshold": 0.55, "threshold_rule": "predicted positive if score >= threshold",
        "threshold_method": "Youden", "operating_point_source": "out-of-fold training scores (fixture)",
        "excluded_cases": [], "clinical_models": {"score_clinical_imaging": "logistic regression on age, sex and "
                                                  "logit(score_xgboost)"}})
    reference = _scores(np.random.default_rng(DEV_SEED + 1), cases, 0.3)
    (run / "classifier_reference").mkdir()
    reference.to_csv(run / "classifier_reference" / "predictions.csv", index=False)
    scores = {c: preds[c].to_numpy(float) for c in ("score_xgboost", "score_fm_volume", "score_clinical")}
    stats = roc_summary(preds["label"], scores, preds["split"], "training", n_boot=100, random_state=DEV_SEED)
    _write_json(run / "roc" / "roc_stats.json", json.loads(json.dumps(stats, default=float).replace("NaN", "null")))
    return preds


def _dataset(run: Path, cases: pd.DataFrame, meta: dict) -> None:
    (run / "dataset").mkdir(parents=True)
    cases.to_csv(run / "dataset" / "cases.csv", index=False)
    _write_json(run / "dataset" / "dataset_meta.json", meta)


def classification_run(root: Path) -> Path:
    """A synthetic classification run with every Phase-B input (ceiling, reference masks, lesions, ...)."""
    run = root / "classification"
    run.mkdir(parents=True)
    rng = np.random.default_rng(DEV_SEED)
    _config(run, "fixture-classification", None)
    cases = _cases(rng, True)
    _dataset(run, cases, {"study_mode": "classification", "study_mode_reason": "clinical.csv has both diagnoses",
                          "clinical_baseline_available": True, "clinical_baseline_reason": "age and sex given",
                          "split_source": "drawn", "channel_names": {"0": "T1", "1": "STIR"},
                          "resampled_cases": {"SIJ_2_0080": ["STIR"]},
                          "excluded_cases": [{"patient_id": "P0099", "reason": "mask grid differs from image"}]})
    _write_json(run / "dataset" / "ceiling.json", {
        "source": "cohort.json + truth.csv",
        "model": {"all": 0.9, "imaging": 0.86, "clinical": 0.7, "mc_patients": 200000, "mc_se": 0.001},
        "by_set": {"training": {"all": 0.91, "imaging": 0.87, "clinical": 0.71, "n": 50},
                   "internal_test": {"all": 0.89, "imaging": 0.85, "clinical": 0.69, "n": 24},
                   "external_test": {"all": 0.88, "imaging": 0.84, "clinical": 0.72, "n": 18}}})
    _segmentation(rng, cases, run)
    _classification(rng, cases, run)
    _write_json(run / "reader_study" / "reader_study.json", {
        "simulated": True, "readers": {n: {"mean_dice": v} for n, v in (
            ("resident_unassisted", 0.75), ("resident_assisted", 0.82), ("expert_unassisted", 0.85),
            ("expert_assisted", 0.86))},
        "paired_tests": [{"reader_a": "resident_unassisted", "reader_b": "resident_assisted", "p_value": 0.01,
                          "rank_biserial": -0.5}]})
    return run


def segmentation_only_run(root: Path) -> Path:
    """A segmentation-only user-data run: no diagnosis, no age/sex, no classifier, no ROC."""
    run = root / "segonly"
    run.mkdir(parents=True)
    rng = np.random.default_rng(7)
    _config(run, "fixture-segonly", "/data/ucl_cohort")
    cases = _cases(rng, False)
    _dataset(run, cases, {"study_mode": "segmentation_only",
                          "study_mode_reason": "clinical.csv has no diagnosis column",
                          "clinical_baseline_available": False,
                          "clinical_baseline_reason": "clinical.csv has no age column; clinical.csv has no sex column",
                          "split_source": "clinical.csv set column", "channel_names": {"0": "T1"},
                          "resampled_cases": {}})
    _segmentation(rng, cases, run)
    return run
