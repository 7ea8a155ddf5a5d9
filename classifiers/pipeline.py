"""The axSpA vs non-axSpA classifier on fat-metaplasia features, and its baselines.

Main model, one scikit-learn ``Pipeline`` so that every step is fitted on training data
only (and refitted inside every inner cross-validation split):

1. ``SimpleImputer(median)``: features of a case can be NaN (e.g. texture features of an
   empty predicted mask). ``keep_empty_features=True`` keeps an all-NaN column (filled
   with 0) so that column positions stay those of the input table; the next step drops it.
2. ``VarianceThreshold(0)``: drops constant columns (they carry nothing and make the
   F statistic undefined).
3. :class:`TopKSelector`: univariate selection of at most ``max_features`` columns
   (ANOVA F by default: deterministic and fast; ``k`` is capped at the columns left).
4. ``XGBClassifier`` (``tree_method="hist"``, ``eval_metric="logloss"``).

No scaling step: trees split on thresholds of one feature at a time, so any monotone
rescaling (standardisation included) gives the same trees, and the F test of step 3 is
scale invariant too. Scaling is used only for the logistic-regression clinical baseline,
where the L2 penalty and the solver do depend on the scale of age.

Baselines: ``fm_volume`` (the predicted FM volume itself is the score, nothing fitted)
and ``clinical`` (logistic regression on age and sex).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Mapping

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin, f_classif, mutual_info_classif
from sklearn.utils.validation import check_is_fitted, validate_data

LOG = logging.getLogger(__name__)

#: Score functions understood by :class:`TopKSelector` (strings keep the parameters JSON-able).
SCORE_FUNCTIONS = ("f_classif", "mutual_info")

#: Clinical baseline inputs, in this order.
CLINICAL_COLUMNS = ("age", "sex_male")


class TopKSelector(SelectorMixin, BaseEstimator):
    """Keep the ``k`` columns with the highest univariate score against the label.

    Like ``SelectKBest`` but ``k`` is an upper bound (``min(k, n_features)``) rather than
    a warning when fewer columns are left, and the score function is named by a string
    so the fitted pipeline can be written to JSON.

    Args:
        k: Maximum number of columns to keep (>= 1).
        score_func: ``"f_classif"`` (ANOVA F, deterministic) or ``"mutual_info"``
            (``mutual_info_classif`` seeded with ``random_state``).
        random_state: Seed for ``"mutual_info"`` (ignored by ``"f_classif"``).

    Attributes:
        scores_: Score per input column (NaN scores rank last).
        k_: Number of columns kept.
        n_features_in_: Number of input columns.
    """

    def __init__(self, k: int = 20, score_func: str = "f_classif", random_state: int | None = None):
        self.k = k
        self.score_func = score_func
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> "TopKSelector":
        """Score every column on ``(X, y)`` and remember the top ``k``."""
        X, y = validate_data(self, X, y, ensure_all_finite=True)
        if not isinstance(self.k, (int, np.integer)) or self.k < 1:
            raise ValueError(f"TopKSelector: k must be a positive integer, got {self.k!r}")
        if self.score_func == "f_classif":
            # A column constant within each class gets F = inf (perfect split) or NaN
            # (constant overall); both are ranked below, so sklearn's warning is noise.
            with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Features .* are constant", category=UserWarning)
                scores, _ = f_classif(X, y)
        elif self.score_func == "mutual_info":
            scores = mutual_info_classif(X, y, random_state=self.random_state)
        else:
            raise ValueError(f"TopKSelector: score_func must be one of {SCORE_FUNCTIONS}, got {self.score_func!r}")
        self.scores_ = np.asarray(scores, dtype=float)
        self.k_ = int(min(self.k, X.shape[1]))
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "scores_")
        # NaN (undefined F, e.g. a column constant within both classes) ranks last; a
        # stable sort keeps the input order among ties so the choice is deterministic.
        ranked = np.where(np.isnan(self.scores_), -np.inf, self.scores_)
        order = np.argsort(-ranked, kind="stable")
        mask = np.zeros(self.scores_.shape[0], dtype=bool)
        mask[order[: self.k_]] = True
        return mask


def build_pipeline(random_state: int, max_features: int = 20, score_func: str = "f_classif",
                   n_jobs: int = 1):
    """The unfitted feature -> axSpA-probability pipeline.

    Args:
        random_state: Seed of XGBoost (row/column subsampling) and of the selector.
        max_features: Upper bound on the columns the selector keeps.
        score_func: Selector score function, see :class:`TopKSelector`.
        n_jobs: XGBoost threads (keep small: the search runs many fits).

    Returns:
        ``Pipeline`` with steps ``impute``, ``variance``, ``select``, ``xgb``.
    """
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from xgboost import XGBClassifier

    return Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("variance", VarianceThreshold(threshold=0.0)),
        ("select", TopKSelector(k=max_features, score_func=score_func, random_state=random_state)),
        ("xgb", XGBClassifier(
            n_estimators=200, max_depth=3, learning_rate=0.05, subsample=0.8,
            colsample_bytree=0.8, tree_method="hist", eval_metric="logloss",
            random_state=random_state, n_jobs=n_jobs,
        )),
    ])


def param_distributions() -> dict[str, Any]:
    """Search space of :func:`tune_pipeline` (shallow, regularised trees: cohorts are small)."""
    from scipy.stats import loguniform, uniform

    return {
        "xgb__n_estimators": [100, 200, 400],
        "xgb__max_depth": [2, 3, 4],
        "xgb__learning_rate": loguniform(0.01, 0.3),
        "xgb__subsample": uniform(0.6, 0.4),
        "xgb__colsample_bytree": uniform(0.6, 0.4),
        "xgb__min_child_weight": [1, 3, 5],
        "xgb__reg_lambda": loguniform(0.1, 10.0),
    }


def inner_cv(y: Any, cv_folds: int, random_state: int):
    """Stratified, shuffled K-fold over the training cases (one case = one patient).

    Raises:
        ValueError: If a class has fewer cases than folds.
    """
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(np.asarray(y, dtype=int), minlength=2)
    if counts.min() < cv_folds:
        raise ValueError(f"inner cross-validation needs at least {cv_folds} cases of each class in "
                         f"training, got {int(counts[0])} non-axSpA and {int(counts[1])} axSpA")
    return StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=random_state)


def tune_pipeline(X: Any, y: Any, cv_folds: int = 3, n_iter: int = 12, random_state: int = 2024,
                  max_features: int = 20, score_func: str = "f_classif", n_jobs: int = 1):
    """Randomised hyper-parameter search of :func:`build_pipeline` on the training set only.

    Every candidate is scored by ROC AUC in a stratified inner cross-validation, and the
    whole pipeline (imputer, variance filter, selector included) is refitted inside each
    split, so no step sees the held-out fold. The best candidate is refitted on all of
    ``(X, y)``.

    Args:
        X: Training features (DataFrame; its column order is the model's column order).
        y: Training labels (1 = axSpA).
        cv_folds: Inner folds.
        n_iter: Candidates drawn.
        random_state: Seed of the candidate draws, the folds and the model.
        max_features: Upper bound of the selector.
        score_func: Selector score function.
        n_jobs: Parallel candidate fits (XGBoost itself runs one thread each).

    Returns:
        The fitted ``RandomizedSearchCV`` (``best_estimator_``, ``best_params_``,
        ``best_score_``, ``cv_results_``).
    """
    from sklearn.model_selection import RandomizedSearchCV

    y = _check_binary_labels(y)
    search = RandomizedSearchCV(
        build_pipeline(random_state, max_features, score_func=score_func, n_jobs=1),
        param_distributions=param_distributions(),
        n_iter=n_iter,
        scoring="roc_auc",
        cv=inner_cv(y, cv_folds, random_state),
        refit=True,
        random_state=random_state,
        n_jobs=n_jobs,
        error_score="raise",
    )
    return search.fit(X, y)


def out_of_fold_scores(estimator: Any, X: Any, y: Any, cv_folds: int, random_state: int,
                       n_jobs: int = 1) -> np.ndarray:
    """Cross-validated P(axSpA) of every training case (``cross_val_predict``).

    Each case is scored by a clone of ``estimator`` fitted on the other folds; these
    scores pick the operating threshold and are the training rows of the predictions.
    """
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_predict

    y = _check_binary_labels(y)
    proba = cross_val_predict(clone(estimator), X, y, cv=inner_cv(y, cv_folds, random_state),
                              method="predict_proba", n_jobs=n_jobs)
    return proba[:, 1]


def fm_volume_scores(features: Any, column: str = "fm_volume_ml") -> np.ndarray:
    """The ``fm_volume`` baseline: predicted FM volume (mL) as the score, nothing fitted.

    The direction is fixed (more FM = axSpA), never flipped to suit the data.
    """
    if column not in features.columns:
        raise ValueError(f"feature table has no {column!r} column for the fm_volume baseline")
    return features[column].to_numpy(dtype=float)


def clinical_features(cases: Any) -> Any:
    """Age (years) and sex (1 = male) from ``cases.csv`` rows, as a float DataFrame.

    Raises:
        ValueError: If a case has a sex other than F/M (blank is allowed: NaN; such rows
            get no clinical score, see ``classification.clinical_scores`` -- nothing is imputed).
    """
    import pandas as pd

    sex = cases["sex"].astype("string").str.strip().str.upper()
    bad = sex.notna() & ~sex.isin(["F", "M", ""])
    if bad.any():
        raise ValueError(f"cases.csv: sex must be F or M; case {cases.loc[bad, 'case_id'].iloc[0]} "
                         f"has {cases.loc[bad, 'sex'].iloc[0]!r}")
    sex_male = sex.map({"M": 1.0, "F": 0.0}).astype(float)
    return pd.DataFrame({"age": pd.to_numeric(cases["age"], errors="coerce").to_numpy(dtype=float),
                         "sex_male": sex_male.to_numpy(dtype=float)},
                        index=cases.index, columns=list(CLINICAL_COLUMNS))


def build_clinical_pipeline(random_state: int):
    """The ``clinical`` baseline: logistic regression on age and sex.

    Standardised first because the L2 penalty and lbfgs depend on the scale of age.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("logreg", LogisticRegression(max_iter=1000, random_state=random_state)),
    ])


def selected_feature_names(pipeline: Any, feature_columns: list[str]) -> list[str]:
    """Input columns that reach the classifier, in the order the classifier sees them."""
    names = np.asarray(feature_columns, dtype=object)
    names = names[pipeline.named_steps["variance"].get_support()]
    names = names[pipeline.named_steps["select"].get_support()]
    return [str(n) for n in names]


def gain_importances(pipeline: Any, feature_columns: list[str]) -> Any:
    """Total and mean gain of each selected feature in the fitted booster, sorted descending.

    Returns:
        DataFrame ``feature, total_gain, gain, weight`` (``gain`` = mean gain per split,
        ``weight`` = number of splits); features never split on have zeros.
    """
    import pandas as pd

    names = selected_feature_names(pipeline, feature_columns)
    booster = pipeline.named_steps["xgb"].get_booster()
    rows = []
    by_type = {t: booster.get_score(importance_type=t) for t in ("total_gain", "gain", "weight")}
    for i, name in enumerate(names):
        key = f"f{i}"
        rows.append({"feature": name, **{t: float(by_type[t].get(key, 0.0)) for t in by_type}})
    frame = pd.DataFrame(rows, columns=["feature", "total_gain", "gain", "weight"])
    return frame.sort_values(["total_gain", "feature"], ascending=[False, True], kind="stable").reset_index(drop=True)


def jsonable_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Hyper-parameters with numpy scalars turned into plain Python values."""
    out = {}
    for key, value in params.items():
        out[key] = value.item() if hasattr(value, "item") and np.ndim(value) == 0 else value
    return out


def _check_binary_labels(y: Any) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {y.shape}")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"labels must be 0/1 (1 = axSpA), got values {sorted(values)}")
    if values != {0, 1}:
        raise ValueError("training labels must contain both classes (axSpA and non-axSpA)")
    return y.astype(int)
