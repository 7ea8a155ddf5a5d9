"""A fake run folder of realistic size for the feature-study stage (no images, no nnU-Net).

Feature tables look like ``extract_features`` output (``case_id``, radiomics-like and
``fm_`` columns, the two text note columns, ``mask_empty``, ``error``); the reference
tables are the predicted ones plus feature-specific noise (some features barely
disturbed, others swamped), strictly positive skewed features included so the log
transform is exercised. The classifier folders are made by the real ``classify`` code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from nnunet_fm.contract import CASES_COLUMNS

SETS = {"train": 100, "validation": 20, "internal_test": 30, "external_test": 30}
PREDICTION_SETS = {"oof": ("train", "validation"), "internal_test": ("internal_test",),
                   "external_test": ("external_test",)}
EMPTY_CASE = "SIJ_1_0121"      # first internal-test case: empty predicted mask
FAILED_CASE = "SIJ_1_0122"     # second internal-test case: extraction failed on the predicted mask


def make_cases(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows, number = [], 0
    for name, n in SETS.items():
        for i in range(n):
            number += 1
            label = int(i % 2 == 0)
            center = 2 if name == "external_test" else 1
            rows.append({"case_id": f"SIJ_{center}_{number:04d}", "set": name, "center": center,
                         "diagnosis": "axSpA" if label else "non-axSpA", "label": label,
                         "fold": (i % 5) if name in ("train", "validation") else -1,
                         "age": int(rng.integers(20, 60)), "sex": "F" if rng.random() < 0.5 else "M"})
    return pd.DataFrame(rows, columns=list(CASES_COLUMNS))


def make_features(cases: pd.DataFrame, n_features: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predicted- and reference-mask tables for every case (first 5 features carry the label)."""
    rng = np.random.default_rng(seed)
    n = len(cases)
    label = cases["label"].to_numpy(dtype=float)
    truth = {"fm_volume_ml": rng.lognormal(1.0 + 0.6 * label, 0.8)}
    for j in range(n_features - 1):
        signal = 0.8 * label if j < 5 else 0.0
        base = rng.normal(signal, 1.0, n)
        truth[f"original_firstorder_F{j:03d}" if j % 3 else f"original_glcm_G{j:03d}"] = (
            np.exp(base) if j % 4 == 0 else base)  # every 4th: strictly positive, skewed
    noise = np.linspace(0.02, 2.0, len(truth))
    pred, ref = {}, {}
    for (name, values), sd in zip(truth.items(), noise):
        scale = np.std(values)
        ref[name] = values
        pred[name] = values * np.exp(rng.normal(0, sd * 0.3, n)) if np.all(values > 0) else \
            values + rng.normal(0, sd * scale, n)
    frames = []
    for columns in (pred, ref):
        frame = pd.DataFrame({"case_id": cases["case_id"].to_numpy(), **columns})
        frame["radiomics_shape_note"] = ""
        frame["fm_t1_features_note"] = ""
        frame["mask_empty"] = 0
        frame["error"] = ""
        frames.append(frame)
    pred_frame, ref_frame = frames
    radiomics = [c for c in pred_frame.columns if c.startswith("original_")]
    empty = pred_frame["case_id"] == EMPTY_CASE
    pred_frame.loc[empty, radiomics] = np.nan
    pred_frame.loc[empty, ["fm_volume_ml", "mask_empty"]] = [0.0, 1]
    failed = pred_frame["case_id"] == FAILED_CASE
    pred_frame.loc[failed, radiomics + ["fm_volume_ml"]] = np.nan
    pred_frame.loc[failed, "error"] = f"case {FAILED_CASE}: unreadable mask"
    pred_frame["mask_empty"] = pred_frame["mask_empty"].astype("Int64")
    pred_frame.loc[failed, "mask_empty"] = pd.NA
    return pred_frame, ref_frame


def write_run(run: Path, n_features: int = 120, seed: int = 2024, classify: bool = True,
              robust: bool = True, n_iter: int = 2) -> Path:
    """Fill ``run`` like a finished study up to roc (dataset, features, classifier folders)."""
    cases = make_cases(seed)
    pred, ref = make_features(cases, n_features, seed + 1)
    (run / "dataset").mkdir(parents=True, exist_ok=True)
    (run / "features").mkdir(parents=True, exist_ok=True)
    cases.to_csv(run / "dataset" / "cases.csv", index=False)
    (run / "dataset" / "dataset_meta.json").write_text(json.dumps({"study_mode": "classification"}))
    for name, sets in PREDICTION_SETS.items():
        ids = set(cases.loc[cases["set"].isin(sets), "case_id"])
        pred[pred["case_id"].isin(ids)].to_csv(run / "features" / f"{name}.csv", index=False)
        ref[ref["case_id"].isin(ids)].to_csv(run / "features" / f"reference_{name}.csv", index=False)
    if classify:
        _classify(run, [run / "features" / f"{n}.csv" for n in PREDICTION_SETS], run / "classifier", seed, n_iter)
    if classify and robust:
        robust_dir = _robust_features(run, pred, n_features)
        _classify(run, [robust_dir / f"{n}.csv" for n in PREDICTION_SETS], run / "classifier_robust", seed, n_iter)
        finish_robust(run, n_features)
    return run


def _classify(run: Path, tables: list[Path], out: Path, seed: int, n_iter: int) -> None:
    from classifiers.classification import run_classification

    run_classification(tables, run / "dataset" / "cases.csv", out, random_state=seed, inner_cv_folds=3,
                       n_iter=n_iter, max_features=10)


def _robust_features(run: Path, pred: pd.DataFrame, n_features: int) -> Path:
    """Feature tables restricted to the first half of the features (a stand-in for ICC >= tau)."""
    keep = [c for c in pred.columns if c.startswith(("original_", "fm_"))][: n_features // 2]
    folder = run / "classifier_robust_inputs"
    folder.mkdir(parents=True, exist_ok=True)
    for name in PREDICTION_SETS:
        table = pd.read_csv(run / "features" / f"{name}.csv", dtype={"case_id": str})
        table[["case_id", *keep, "mask_empty", "error"]].to_csv(folder / f"{name}.csv", index=False)
    (run / "classifier_robust").mkdir(parents=True, exist_ok=True)
    return folder


def finish_robust(run: Path, n_features: int = 120) -> None:
    """``robust_features.json`` beside the robust predictions (written after classify replaced the folder)."""
    pred = pd.read_csv(run / "features" / "oof.csv", nrows=1)
    keep = [c for c in pred.columns if c.startswith(("original_", "fm_"))][: n_features // 2]
    record = {"tau": 0.75, "n_features": n_features, "n_kept": len(keep), "features": keep}  # classify's layout
    (run / "classifier_robust" / "robust_features.json").write_text(json.dumps(record))
