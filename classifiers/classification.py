"""The ``classify`` stage: feature tables + ``cases.csv`` -> axSpA scores for every case.

Training set = ``train`` + ``validation`` cases (their features come from out-of-fold
predicted masks); test sets = ``internal_test`` and ``external_test`` (features from the
fold-ensemble masks). Everything that is fitted (imputer, variance filter, selector,
XGBoost, hyper-parameters, the clinical baseline, the operating threshold) sees training
cases only; the test rows are scored once, at the end.

Outputs in ``out_dir`` (each written atomically; ``classifier.json`` last):

- ``predictions.csv``: ``case_id, set, split, label, score_xgboost, score_fm_volume,
  score_clinical, score_clinical_imaging, pred_xgboost, score_source`` (``oof-cv`` for
  training rows: scores from ``cross_val_predict``; ``test`` for test rows: scores of the
  model fitted on all training cases).
- ``score_clinical``: logistic regression on age and sex; ``score_clinical_imaging``:
  logistic regression on age, sex and the logit of the XGBoost score (training: its
  out-of-fold score, so the stacked model never sees a score made with the case
  itself; test: the final model's score). Both are fitted on training cases only, and
  their training rows are themselves out of fold (same stratified folds as XGBoost's).
  Without age and sex (``clinical_available=False``, or a blank age/sex) the scores
  are left empty with a note in ``classifier.json`` -- never filled with a default.
- ``feature_importances.csv``: gain of each selected feature, sorted.
- ``model/``: ``model.json`` + ``pipeline.json`` (:mod:`classifiers.model_io`).
- ``classifier.json``: best parameters, inner-CV AUC, threshold, counts, excluded cases.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from nnunet_fm.atomic import write_csv, write_json
from nnunet_fm.contract import CASES_COLUMNS, SETS as ALL_SETS, CV_SETS as TRAINING_SETS, TEST_SETS
from nnunet_fm.roc_stats import THRESHOLD_RULE, youden_threshold

LOG = logging.getLogger(__name__)

#: Feature-table columns that are bookkeeping, not features.
FEATURE_META_COLUMNS = ("case_id", "error")

PREDICTION_COLUMNS = ("case_id", "set", "split", "label", "score_xgboost", "score_fm_volume", "score_clinical",
                      "score_clinical_imaging", "pred_xgboost", "score_source")
#: Score columns of ``predictions.csv`` (the ROC analysis reads these).
SCORE_COLUMNS = ("score_xgboost", "score_fm_volume", "score_clinical", "score_clinical_imaging")
#: Scores are clipped to [EPS, 1 - EPS] before the logit of the clinical + imaging model.
LOGIT_EPS = 1e-6
#: What the operating threshold's training scores are (``classifier.json`` "operating_point_source").
OPERATING_POINT_SOURCE = (
    "out-of-fold training scores: cross_val_predict of a clone of the tuned pipeline (search.best_estimator_, "
    "i.e. the final hyper-parameters) over the stratified inner folds (same seed); each training case is scored "
    "by a model fitted without it. The hyper-parameters were chosen on the same training cases, so these scores "
    "(and the threshold's training sensitivity/specificity) are mildly optimistic; the threshold is applied "
    "unchanged to the final model's test scores")


def load_cases(cases_csv: str | os.PathLike) -> Any:
    """Read and check ``cases.csv``.

    Raises:
        ValueError: Missing columns, a repeated case id (a case in two sets), an unknown
            set, a label other than 0/1, a label that contradicts the diagnosis, or a
            ``patient_id`` (when present) that appears in both training and test.
    """
    import pandas as pd

    path = Path(cases_csv)
    if not path.is_file():
        raise FileNotFoundError(f"cases table not found: {path}")
    cases = pd.read_csv(path, dtype={"case_id": str, "set": str, "diagnosis": str, "sex": str},
                        keep_default_na=False, na_values=[""])
    missing = [c for c in CASES_COLUMNS if c not in cases.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    cases["case_id"] = cases["case_id"].str.strip()
    if cases["case_id"].isna().any():
        raise ValueError(f"{path}: row {int(cases['case_id'].isna().to_numpy().argmax()) + 2} has no case_id")
    repeated = cases["case_id"][cases["case_id"].duplicated(keep=False)]
    if not repeated.empty:
        case_id = repeated.iloc[0]
        sets = sorted(set(cases.loc[cases["case_id"] == case_id, "set"].astype(str)))
        raise ValueError(f"{path}: case {case_id} is listed {int((cases['case_id'] == case_id).sum())} times "
                         f"(sets {sets}); a case must be in exactly one set, never in both training and test")
    bad_set = ~cases["set"].isin(ALL_SETS)
    if bad_set.any():
        raise ValueError(f"{path}: case {cases.loc[bad_set, 'case_id'].iloc[0]} has set "
                         f"{cases.loc[bad_set, 'set'].iloc[0]!r}; expected one of {list(ALL_SETS)}")
    labels = pd.to_numeric(cases["label"], errors="coerce")
    bad_label = ~labels.isin([0, 1])
    if bad_label.any():
        raise ValueError(f"{path}: case {cases.loc[bad_label, 'case_id'].iloc[0]} has label "
                         f"{cases.loc[bad_label, 'label'].iloc[0]!r}; expected 1 (axSpA) or 0 (non-axSpA)")
    cases["label"] = labels.astype(int)
    expected = cases["diagnosis"].map({"axSpA": 1, "non-axSpA": 0})
    contradicts = expected.notna() & (expected != cases["label"])
    if contradicts.any():
        row = cases.loc[contradicts].iloc[0]
        raise ValueError(f"{path}: case {row['case_id']} has diagnosis {row['diagnosis']!r} but label {row['label']}")
    if "patient_id" in cases.columns:
        check_no_patient_overlap(cases, id_column="patient_id")
    return cases


def check_no_patient_overlap(cases: Any, id_column: str = "case_id") -> None:
    """Fail loudly if one patient (or case) is both a training and a test case.

    Raises:
        ValueError: Naming the first patient found in both.
    """
    is_train = cases["set"].isin(TRAINING_SETS)
    train_ids = set(cases.loc[is_train, id_column].astype(str))
    test_ids = set(cases.loc[cases["set"].isin(TEST_SETS), id_column].astype(str))
    both = sorted(train_ids & test_ids)
    if both:
        raise ValueError(f"patient-level split violated: {id_column} {both[0]} is in both training and test "
                         f"({len(both)} such ids); fix the split before classifying")


def load_features(feature_csvs: Sequence[str | os.PathLike]) -> tuple[Any, list[str]]:
    """Read and stack the feature tables (section 5 of ARCHITECTURE.md).

    Returns:
        ``(table, feature_columns)``: the stacked table with a ``source_file`` column, and
        the numeric feature columns in the first table's order.

    Raises:
        ValueError: A table without ``case_id``/``error``, a case in two rows or two
            tables, tables with different feature columns, or a feature table carrying
            ``cases.csv`` columns (labels must never travel with features).
    """
    import pandas as pd

    if not feature_csvs:
        raise ValueError("no feature tables given")
    frames, columns_ref, seen = [], None, {}
    for csv in feature_csvs:
        path = Path(csv)
        if not path.is_file():
            raise FileNotFoundError(f"feature table not found: {path}")
        frame = pd.read_csv(path, dtype={"case_id": str, "error": str}, keep_default_na=True)
        for required in FEATURE_META_COLUMNS:
            if required not in frame.columns:
                raise ValueError(f"{path}: missing column {required!r}")
        leaking = [c for c in CASES_COLUMNS if c != "case_id" and c in frame.columns]
        if leaking:
            raise ValueError(f"{path}: feature table has cases.csv column(s) {leaking}; labels and splits "
                             "come from cases.csv only")
        frame["case_id"] = frame["case_id"].str.strip()
        frame["error"] = frame["error"].fillna("").astype(str).str.strip()
        for case_id in frame["case_id"]:
            if case_id in seen:
                where = "twice in" if seen[case_id] == str(path) else f"in both {seen[case_id]} and"
                raise ValueError(f"case {case_id} appears {where} {path}; each case must have exactly one "
                                 "feature row (training features from out-of-fold masks, test features "
                                 "from the ensemble, never both)")
            seen[case_id] = str(path)
        names = [c for c in frame.columns if c not in FEATURE_META_COLUMNS]
        if columns_ref is None:
            columns_ref = names
        elif set(names) != set(columns_ref):
            extra, lacking = sorted(set(names) - set(columns_ref)), sorted(set(columns_ref) - set(names))
            raise ValueError(f"{path}: feature columns differ from {feature_csvs[0]} (extra {extra[:5]}, "
                             f"missing {lacking[:5]}); compute all tables with the same feature settings")
        frame = frame.copy()  # consolidate blocks after the column rewrites above
        frame["source_file"] = str(path)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True, sort=False)

    feature_columns = []
    for name in columns_ref:
        if name.startswith("diagnostics_"):
            continue  # pyradiomics provenance (versions, hashes, spacing): not features
        values = table[name]
        if values.dtype == object or str(values.dtype) in ("string", "str"):
            converted = pd.to_numeric(values, errors="coerce")
            if (converted.isna() & values.notna()).any():
                LOG.warning("feature column %s is not numeric; left out of the classifier", name)
                continue
            table[name] = converted
        elif values.dtype == bool:
            table[name] = values.astype(float)
        feature_columns.append(name)
    if not feature_columns:
        raise ValueError("the feature tables have no numeric feature columns")
    return table.copy(), feature_columns


def join_features(cases: Any, features: Any) -> tuple[Any, list[dict[str, str]]]:
    """Join feature rows to cases; drop (and report) failed and missing cases.

    Returns:
        ``(joined, excluded)``: joined rows in ``cases.csv`` order, and one record
        ``{case_id, set, reason}`` per case left out.

    Raises:
        ValueError: If a feature row names a case that ``cases.csv`` does not know.
    """
    known = set(cases["case_id"])
    unknown = [c for c in features["case_id"] if c not in known]
    if unknown:
        raise ValueError(f"{len(unknown)} case(s) in the feature tables are not in cases.csv, e.g. "
                         f"{unknown[0]} (from {features.loc[features['case_id'] == unknown[0], 'source_file'].iloc[0]})")
    joined = cases.merge(features, on="case_id", how="left", validate="one_to_one", indicator=True)
    excluded = []
    no_features = joined["_merge"] == "left_only"
    for _, row in joined.loc[no_features].iterrows():
        excluded.append({"case_id": row["case_id"], "set": row["set"], "reason": "no feature row"})
    if no_features.any():
        LOG.warning("%d case(s) in cases.csv have no feature row and are left out: %s",
                    int(no_features.sum()), ", ".join(joined.loc[no_features, "case_id"].head(10)))
    failed = (~no_features) & (joined["error"].fillna("") != "")
    for _, row in joined.loc[failed].iterrows():
        excluded.append({"case_id": row["case_id"], "set": row["set"], "reason": f"feature error: {row['error']}"})
        LOG.warning("case %s (%s) left out: feature extraction failed: %s", row["case_id"], row["set"], row["error"])
    joined = joined.loc[~no_features & ~failed].drop(columns="_merge").reset_index(drop=True)
    _warn_mixed_sources(joined)
    return joined, excluded


def run_classification(feature_csvs: Sequence[str | os.PathLike], cases_csv: str | os.PathLike,
                       out_dir: str | os.PathLike, random_state: int = 2024, inner_cv_folds: int = 3,
                       n_iter: int = 12, max_features: int = 20, n_jobs: int = 1,
                       clinical_available: bool = True, clinical_reason: str = "",
                       feature_subset: Sequence[str] | None = None,
                       extra_summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """Tune and fit the classifier on training cases, score every case, write the outputs.

    Args:
        feature_csvs: Feature tables (training: out-of-fold masks; test: ensemble masks).
        cases_csv: ``cases.csv`` of the nnU-Net raw dataset.
        out_dir: Output folder (created; files in it are replaced).
        random_state: Seed of the search, the folds, XGBoost and the clinical baseline.
        inner_cv_folds: Folds of the inner cross-validation (search and out-of-fold scores).
        n_iter: Randomised-search candidates.
        max_features: Upper bound of the feature selector.
        n_jobs: Parallel fits in the search.
        clinical_available: ``False`` (the dataset has no age/sex for every patient):
            ``score_clinical`` and ``score_clinical_imaging`` are left empty.
        clinical_reason: Why the clinical baseline is unavailable (for the note).
        feature_subset: Only these feature columns enter the model (robust-feature
            classifier); names absent from the tables are an error.
        extra_summary: Added to ``classifier.json`` (e.g. the analysis it belongs to).

    Returns:
        The content of ``classifier.json``.
    """
    from classifiers.pipeline import tune_pipeline

    started = time.perf_counter()
    out_dir = Path(out_dir)
    cases, train, test, feature_columns, excluded = _training_and_test_rows(feature_csvs, cases_csv)
    if feature_subset is not None:
        feature_columns = _restrict_features(feature_columns, feature_subset)
    X_train, y_train = train[feature_columns], train["label"].to_numpy(dtype=int)
    X_test = test[feature_columns]

    # 1. Hyper-parameters: randomised search, inner stratified CV on training cases only.
    tic = time.perf_counter()
    search = tune_pipeline(X_train, y_train, cv_folds=inner_cv_folds, n_iter=n_iter,
                           random_state=random_state, max_features=max_features, n_jobs=n_jobs)
    model = search.best_estimator_
    LOG.info("search: %d candidates x %d folds in %.1f s; inner-CV AUC %.3f", n_iter, inner_cv_folds,
             time.perf_counter() - tic, search.best_score_)

    # 2-3. Out-of-fold threshold, test scores and the baselines.
    predictions, threshold, clinical_notes = _score_cases(
        model, cases, train, test, feature_columns, inner_cv_folds, random_state, n_jobs,
        clinical_available, clinical_reason)

    # 4. Model files, checked by reloading them before anything refers to them.
    drift = _save_checked_model(model, out_dir, feature_columns, threshold, random_state, search.best_params_,
                                y_train, check_frames=[X_train, X_test])
    from classifiers.pipeline import gain_importances

    write_csv(out_dir / "feature_importances.csv", gain_importances(model, feature_columns))
    write_csv(out_dir / "predictions.csv", predictions[list(PREDICTION_COLUMNS)])

    summary = _classifier_summary(search, model, predictions, threshold, feature_columns, excluded, drift,
                                  random_state=random_state, inner_cv_folds=inner_cv_folds, n_iter=n_iter,
                                  max_features=max_features)
    # input files by name only: results must not reveal the machine's directory layout
    summary["clinical_models"] = clinical_notes
    summary.update(extra_summary or {})
    summary["feature_csvs"] = [Path(p).name for p in feature_csvs]
    summary["cases_csv"] = Path(cases_csv).name
    summary["elapsed_s"] = round(time.perf_counter() - started, 2)
    write_json(out_dir / "classifier.json", summary)
    LOG.info("classify done in %.1f s: threshold %.4f, %s", summary["elapsed_s"], threshold,
             ", ".join(f"{k} AUC {v['score_xgboost']:.3f}" for k, v in summary["auc_descriptive"].items()
                       if v.get("score_xgboost") is not None))
    return summary


def robust_feature_selection(training_csv: str | os.PathLike, reference_csv: str | os.PathLike,
                             cases_csv: str | os.PathLike, tau: float) -> tuple[dict[str, Any], Any]:
    """Features whose ICC(A,1) between predicted- and reference-mask values reaches ``tau``, training cases only.

    Args:
        training_csv: Features of the training cases from out-of-fold predicted masks.
        reference_csv: The same extraction on the reference masks.
        cases_csv: ``cases.csv``; only ``train``/``validation`` cases enter the ICC.
        tau: ICC(A,1) threshold in [0, 1].

    Returns:
        ``(record, icc_table)``: the ``robust_features.json`` content (tau, counts, kept
        names) and the per-feature table of :func:`classifiers.feature_study.feature_icc_table`.
    """
    import pandas as pd

    from classifiers.feature_study import feature_icc_table, robust_features

    cases = load_cases(cases_csv)
    training_ids = set(cases.loc[cases["set"].isin(TRAINING_SETS), "case_id"])
    tables = []
    for csv in (training_csv, reference_csv):
        if not Path(csv).is_file():
            raise FileNotFoundError(f"feature table not found: {csv}")
        table = pd.read_csv(csv, dtype={"case_id": str, "error": str}, keep_default_na=True)
        if "case_id" not in table.columns or "error" not in table.columns:
            raise ValueError(f"{csv}: feature table needs case_id and error columns")
        tables.append(table[table["case_id"].str.strip().isin(training_ids)].reset_index(drop=True))
    _, model_columns = load_features([training_csv])
    icc = feature_icc_table(tables[0], tables[1])
    icc = icc[icc["feature"].isin(model_columns)].reset_index(drop=True)
    kept = robust_features(icc, tau)
    record = {
        "tau": float(tau),
        "icc": "ICC(A,1) (two-way, absolute agreement, single rater) per feature between out-of-fold "
               "predicted-mask and reference-mask features of the training cases only "
               "(classifiers.feature_study.feature_icc_table, log transform for skewed positive features)",
        "n_training_cases": int(icc["n_cases"].max()) if len(icc) else 0,
        "n_features": int(len(icc)),
        "n_kept": len(kept),
        "features": kept,
        "training_csv": Path(training_csv).name,
        "reference_csv": Path(reference_csv).name,
    }
    return record, icc


def _training_and_test_rows(feature_csvs: Sequence[str | os.PathLike], cases_csv: str | os.PathLike):
    """Cases joined with their features, split into training and test rows (checked).

    Returns:
        ``(cases, train, test, feature_columns, excluded)``.
    """
    cases = load_cases(cases_csv)
    check_no_patient_overlap(cases)
    features, feature_columns = load_features(feature_csvs)
    data, excluded = join_features(cases, features)
    check_no_patient_overlap(data)
    is_train = data["set"].isin(TRAINING_SETS).to_numpy()
    train, test = data.loc[is_train].reset_index(drop=True), data.loc[~is_train].reset_index(drop=True)
    if train.empty:
        raise ValueError("no training cases (set train/validation) with features")
    if test.empty:
        LOG.warning("no test cases (internal_test/external_test) with features; only training scores are written")
    LOG.info("classifying: %d training cases (%d axSpA), %d test cases, %d feature columns",
             len(train), int(train["label"].astype(int).sum()), len(test), len(feature_columns))
    return cases, train, test, feature_columns, excluded


def _restrict_features(feature_columns: list[str], subset: Sequence[str]) -> list[str]:
    unknown = [name for name in subset if name not in feature_columns]
    if unknown:
        raise ValueError(f"{len(unknown)} requested feature(s) are not numeric columns of the feature tables, "
                         f"e.g. {unknown[0]!r}")
    if not subset:
        raise ValueError("the feature subset is empty; nothing to train on")
    wanted = set(subset)
    return [name for name in feature_columns if name in wanted]


def _score_cases(model: Any, cases: Any, train: Any, test: Any, feature_columns: list[str], inner_cv_folds: int,
                 random_state: int, n_jobs: int, clinical_available: bool = True,
                 clinical_reason: str = "") -> tuple[Any, float, dict[str, Any]]:
    """Prediction rows of every case (XGBoost, FM volume, clinical, clinical + imaging), the Youden
    threshold and the notes on the clinical models."""
    import pandas as pd

    from classifiers.pipeline import fm_volume_scores, out_of_fold_scores

    X_train, y_train, X_test = train[feature_columns], train["label"].to_numpy(dtype=int), test[feature_columns]
    # Out-of-fold training scores -> operating threshold (never looks at test cases); see
    # OPERATING_POINT_SOURCE for what they are and why they are mildly optimistic.
    oof = out_of_fold_scores(model, X_train, y_train, inner_cv_folds, random_state, n_jobs=n_jobs)
    threshold = youden_threshold(y_train, oof)
    if not np.isfinite(threshold):
        LOG.warning("no cut-off on the training scores beats calling every case axSpA; threshold is %s",
                    threshold)
    test_scores = model.predict_proba(X_test)[:, 1] if len(test) else np.empty(0)
    clinical, notes = clinical_scores(train, test, oof, test_scores, inner_cv_folds, random_state,
                                      clinical_available, clinical_reason)
    if "fm_volume_ml" in feature_columns:
        vol_train, vol_test = fm_volume_scores(train), fm_volume_scores(test)
    else:
        LOG.warning("feature tables have no fm_volume_ml column; score_fm_volume is left empty")
        vol_train, vol_test = np.full(len(train), np.nan), np.full(len(test), np.nan)

    predictions = pd.concat([
        _prediction_rows(train, oof, vol_train, clinical["train"], threshold, "oof-cv"),
        _prediction_rows(test, test_scores, vol_test, clinical["test"], threshold, "test"),
    ], ignore_index=True)
    order = {case_id: i for i, case_id in enumerate(cases["case_id"])}
    predictions = predictions.sort_values("case_id", key=lambda s: s.map(order), kind="stable")
    return predictions.reset_index(drop=True), threshold, notes


def clinical_scores(train: Any, test: Any, xgb_oof: np.ndarray, xgb_test: np.ndarray, cv_folds: int,
                    random_state: int, available: bool = True, reason: str = "") -> tuple[dict, dict[str, Any]]:
    """``score_clinical`` and ``score_clinical_imaging`` of training (out of fold) and test rows.

    Rows without age or sex get no score (never an imputed one); the models are fitted on
    the complete training rows only. The clinical + imaging model's inputs are age, sex
    and logit(XGBoost score): out-of-fold scores for training rows, the final model's
    scores for test rows.

    Returns:
        ``({"train": {"clinical": arr, "clinical_imaging": arr}, "test": {...}}, notes)``.
    """
    from classifiers.pipeline import clinical_features

    empty = {"train": _nan_scores(len(train)), "test": _nan_scores(len(test))}
    notes: dict[str, Any] = {
        "score_clinical": "logistic regression (standardised) on age and sex_male",
        "score_clinical_imaging": "logistic regression (standardised) on age, sex_male and logit(score_xgboost); "
                                  "training rows: out-of-fold XGBoost scores in, out-of-fold predictions out "
                                  "(same stratified folds); test rows: the final XGBoost's scores",
    }
    if not available:
        why = reason or "dataset_meta: clinical_baseline_available false"
        notes["note"] = f"clinical baseline unavailable ({why}); score_clinical and score_clinical_imaging left empty"
        LOG.warning("%s", notes["note"])
        return empty, notes
    clin_train, clin_test = clinical_features(train), clinical_features(test)
    ok_train, ok_test = clin_train.notna().all(axis=1).to_numpy(), clin_test.notna().all(axis=1).to_numpy()
    y = train["label"].to_numpy(dtype=int)
    notes["n_rows_without_age_or_sex"] = {"training": int((~ok_train).sum()), "test": int((~ok_test).sum())}
    counts = np.bincount(y[ok_train], minlength=2)
    if counts.min() < cv_folds:
        notes["note"] = (f"only {int(counts[1])} axSpA and {int(counts[0])} non-axSpA training cases have age and "
                         f"sex (< {cv_folds} folds); score_clinical and score_clinical_imaging left empty")
        LOG.warning("%s", notes["note"])
        return empty, notes
    if (~ok_train).any() or (~ok_test).any():
        notes["note"] = (f"{int((~ok_train).sum())} training and {int((~ok_test).sum())} test case(s) without age "
                         "or sex have no clinical scores (nothing imputed)")
        LOG.warning("%s", notes["note"])
    inputs_train = _with_logit(clin_train, xgb_oof)
    inputs_test = _with_logit(clin_test, xgb_test)
    out = {"train": _nan_scores(len(train)), "test": _nan_scores(len(test))}
    for name, columns in (("clinical", list(clin_train.columns)), ("clinical_imaging", list(inputs_train.columns))):
        oof, fitted = _fit_clinical_model(inputs_train.loc[ok_train, columns], y[ok_train], cv_folds, random_state)
        out["train"][name][ok_train] = oof
        if ok_test.any():
            out["test"][name][ok_test] = fitted.predict_proba(inputs_test.loc[ok_test, columns])[:, 1]
    return out, notes


def _nan_scores(n: int) -> dict[str, np.ndarray]:
    return {"clinical": np.full(n, np.nan), "clinical_imaging": np.full(n, np.nan)}


def _with_logit(clinical: Any, scores: np.ndarray) -> Any:
    clipped = np.clip(np.asarray(scores, dtype=float), LOGIT_EPS, 1.0 - LOGIT_EPS)
    out = clinical.copy()
    out["logit_xgboost"] = np.log(clipped / (1.0 - clipped))
    return out


def _fit_clinical_model(X: Any, y: np.ndarray, cv_folds: int, random_state: int) -> tuple[np.ndarray, Any]:
    """Out-of-fold scores (stratified folds of :func:`classifiers.pipeline.inner_cv`) and the model fitted on all."""
    from classifiers.pipeline import build_clinical_pipeline, out_of_fold_scores

    model = build_clinical_pipeline(random_state)
    oof = out_of_fold_scores(model, X, y, cv_folds, random_state)
    return oof, model.fit(X, y)


def _save_checked_model(model: Any, out_dir: Path, feature_columns: list[str], threshold: float, random_state: int,
                        best_params: dict, y_train: np.ndarray, check_frames: list) -> float:
    """Save the model, reload it and return the largest score difference (raises above 1e-6)."""
    import pandas as pd

    from classifiers.model_io import load_model, save_model

    summary_for_model = {"n_training_cases": int(len(y_train)), "n_training_axspa": int(y_train.sum())}
    save_model(model, out_dir / "model", feature_columns, threshold, random_state,
               hyper_parameters=best_params, extra=summary_for_model)
    reloaded = load_model(out_dir / "model")
    check_rows = pd.concat(check_frames, ignore_index=True)
    drift = float(np.max(np.abs(reloaded.predict_proba(check_rows) - model.predict_proba(check_rows))))
    if drift > 1e-6:
        raise RuntimeError(f"saved model does not reproduce the fitted one (max difference {drift:.2e})")
    return drift


def _classifier_summary(search: Any, model: Any, predictions: Any, threshold: float, feature_columns: list[str],
                        excluded: list, drift: float, **settings: int) -> dict[str, Any]:
    """The content of ``classifier.json`` (without input names and elapsed time)."""
    from classifiers.model_io import package_versions
    from classifiers.pipeline import jsonable_params, selected_feature_names

    best = int(search.best_index_)
    return {
        "model": "XGBoost on FM features (impute median -> variance filter -> top-k F test -> XGBClassifier)",
        **{key: int(value) for key, value in settings.items()},
        "best_params": jsonable_params(search.best_params_),
        "inner_cv_auc": float(search.best_score_),
        "inner_cv_auc_sd": float(search.cv_results_["std_test_score"][best]),
        "threshold": float(threshold),
        "threshold_method": "Youden index (pROC thresholds, nnunet_fm.roc_stats.youden_threshold) on "
                            "out-of-fold (cross_val_predict) training scores; applied unchanged to test sets",
        "threshold_rule": THRESHOLD_RULE,
        "operating_point_source": OPERATING_POINT_SOURCE,
        "auc_descriptive": _auc_by_set(predictions),
        "n_per_set": _counts(predictions),
        "n_feature_columns": len(feature_columns),
        "n_after_variance_filter": int(model.named_steps["variance"].get_support().sum()),
        "selected_features": selected_feature_names(model, feature_columns),
        "excluded_cases": excluded,
        "model_dir": "model",
        "model_roundtrip_max_abs_diff": drift,
        "versions": package_versions(),
    }


def _prediction_rows(rows: Any, xgb_scores: np.ndarray, volume: np.ndarray, clinical: dict[str, np.ndarray],
                     threshold: float, source: str) -> Any:
    import pandas as pd

    return pd.DataFrame({
        "case_id": rows["case_id"].to_numpy(),
        "set": rows["set"].to_numpy(),
        # evaluation group: train + validation pooled as "training" (the Youden threshold's group)
        "split": np.where(rows["set"].isin(TRAINING_SETS), "training", rows["set"].to_numpy()),
        "label": rows["label"].to_numpy(dtype=int),
        "score_xgboost": np.asarray(xgb_scores, dtype=float),
        "score_fm_volume": np.asarray(volume, dtype=float),
        "score_clinical": np.asarray(clinical["clinical"], dtype=float),
        "score_clinical_imaging": np.asarray(clinical["clinical_imaging"], dtype=float),
        "pred_xgboost": (np.asarray(xgb_scores, dtype=float) >= threshold).astype(int),
        "score_source": source,
    }, columns=list(PREDICTION_COLUMNS))


def _auc_by_set(predictions: Any) -> dict[str, dict[str, float | None]]:
    """Plain ROC AUC per evaluation group (no CIs here: ``nnunet-fm roc`` does statistics)."""
    from sklearn.metrics import roc_auc_score

    groups = {"training_oof": predictions["set"].isin(TRAINING_SETS)}
    groups.update({name: predictions["set"] == name for name in TEST_SETS})
    out = {}
    for name, mask in groups.items():
        rows = predictions.loc[mask]
        if rows.empty:
            continue
        aucs = {}
        for column in SCORE_COLUMNS:
            ok = rows[column].notna()
            labels = rows.loc[ok, "label"]
            aucs[column] = (float(roc_auc_score(labels, rows.loc[ok, column]))
                            if labels.nunique() == 2 else None)
        out[name] = aucs
    return out


def _counts(predictions: Any) -> dict[str, dict[str, int]]:
    out = {}
    for name in ALL_SETS:
        rows = predictions.loc[predictions["set"] == name]
        out[name] = {"n": int(len(rows)), "axSpA": int(rows["label"].sum()),
                     "non_axSpA": int(len(rows) - rows["label"].sum())}
    return out


def _warn_mixed_sources(joined: Any) -> None:
    """Training features must come from out-of-fold masks and test features from the ensemble."""
    for source, rows in joined.groupby("source_file", sort=False):
        kinds = set(np.where(rows["set"].isin(TRAINING_SETS), "training", "test"))
        if len(kinds) > 1:
            LOG.warning("%s holds both training and test cases; check that training features come from "
                        "out-of-fold masks and test features from the fold ensemble", source)
