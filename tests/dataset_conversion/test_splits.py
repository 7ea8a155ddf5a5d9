"""Set assignment, CV folds and the leakage check."""

from __future__ import annotations

from collections import Counter

import pytest

from dataset_conversion.splits import (
    PAPER_SET_COUNTS,
    SETS,
    SplitLeakageError,
    assign_center1_sets,
    assign_sets,
    check_splits,
    cv_folds,
    fold_of_case,
    set_sizes,
)


def paper_center1():
    """The paper's center 1: 462 axSpA, 186 non-axSpA."""
    ids = [f"P{i:04d}" for i in range(648)]
    dx = ["axSpA"] * 462 + ["non-axSpA"] * 186
    return ids, dx


def test_set_sizes_paper_and_small():
    assert set_sizes(648) == PAPER_SET_COUNTS == {"train": 455, "validation": 64, "internal_test": 129}
    assert set_sizes(10) == {"train": 7, "validation": 1, "internal_test": 2}
    assert set_sizes(6) == {"train": 4, "validation": 1, "internal_test": 1}
    for n in range(0, 200):
        assert sum(set_sizes(n).values()) == n


def test_center1_assignment_matches_paper_and_is_stratified():
    ids, dx = paper_center1()
    sets = assign_center1_sets(ids, dx, seed=3)
    assert Counter(sets.values()) == Counter(PAPER_SET_COUNTS)
    by = {p: d for p, d in zip(ids, dx)}
    share = {s: sum(by[p] == "axSpA" for p in ids if sets[p] == s) / PAPER_SET_COUNTS[s] for s in PAPER_SET_COUNTS}
    # Whole center: 462/648 = 0.713. Systematic stratified sampling keeps each set within
    # one patient of that share.
    assert share["internal_test"] * 129 == pytest.approx(462 / 648 * 129, abs=1.0)
    assert share["validation"] * 64 == pytest.approx(462 / 648 * 64, abs=1.0)
    assert share["train"] * 455 == pytest.approx(462 / 648 * 455, abs=1.5)


def test_center1_assignment_deterministic_and_order_free():
    ids, dx = paper_center1()
    a = assign_center1_sets(ids, dx, seed=11)
    b = assign_center1_sets(list(reversed(ids)), list(reversed(dx)), seed=11)
    c = assign_center1_sets(ids, dx, seed=12)
    assert a == b
    assert a != c


def test_cv_folds_patient_level_stratified_deterministic():
    ids, dx = paper_center1()
    sets = assign_center1_sets(ids, dx, seed=5)
    pool = [p for p in ids if sets[p] in ("train", "validation")]
    labels = [int(dx[ids.index(p)] == "axSpA") for p in pool]
    folds = cv_folds(pool, labels, 5, seed=5)
    assert folds == cv_folds(list(reversed(pool)), list(reversed(labels)), 5, seed=5)
    assert folds != cv_folds(pool, labels, 5, seed=6)
    assert len(folds) == 5
    vals = [c for f in folds for c in f["val"]]
    assert sorted(vals) == sorted(pool) and len(set(vals)) == len(pool)  # each case validated once
    label_of = dict(zip(pool, labels))
    for f in folds:
        assert not set(f["train"]) & set(f["val"])
        assert sorted(f["train"] + f["val"]) == sorted(pool)
        assert len(f["val"]) in (103, 104)  # 519 / 5
        positives = sum(label_of[c] for c in f["val"])
        assert abs(positives / len(f["val"]) - sum(labels) / len(labels)) < 0.02
    check_splits(sets, {p: p for p in ids}, folds)
    assert set(fold_of_case(folds)) == set(pool)


def test_cv_folds_too_few_cases():
    with pytest.raises(ValueError, match="cannot make 5 CV folds"):
        cv_folds(["a", "b", "c"], [0, 1, 1], 5, seed=0)


def _small():
    sets = {"c1": "train", "c2": "train", "c3": "validation", "c4": "train", "c5": "internal_test", "c6": "external_test"}
    patients = {c: f"p{c[1]}" for c in sets}
    folds = [{"train": ["c2", "c3", "c4"], "val": ["c1"]}, {"train": ["c1", "c3", "c4"], "val": ["c2"]},
             {"train": ["c1", "c2"], "val": ["c3", "c4"]}]
    return sets, patients, folds


def test_check_splits_accepts_clean_split():
    check_splits(*_small())


def test_check_splits_patient_in_two_sets():
    sets, patients, folds = _small()
    patients["c5"] = "p1"  # patient p1 has a train case and an internal-test case
    with pytest.raises(SplitLeakageError, match=r"patient p1 is in 2 sets: \['internal_test', 'train'\]"):
        check_splits(sets, patients, folds)


def test_check_splits_case_in_two_validation_folds():
    sets, patients, folds = _small()
    folds[1]["val"].append("c1")
    folds[1]["train"].remove("c1")
    with pytest.raises(SplitLeakageError, match="case c1 is in the validation folds 0 and 1"):
        check_splits(sets, patients, folds)


def test_check_splits_patient_in_two_validation_folds():
    sets, patients, folds = _small()
    patients["c2"] = "p1"  # two cases of one patient validated in different folds
    with pytest.raises(SplitLeakageError, match="patient p1 is in the validation folds 0 and 1"):
        check_splits(sets, patients, folds)


def test_check_splits_train_and_val_and_test_case_in_fold():
    sets, patients, folds = _small()
    folds[0]["train"].append("c1")
    folds[2]["val"].append("c5")
    with pytest.raises(SplitLeakageError) as info:
        check_splits(sets, patients, folds)
    text = str(info.value)
    assert "case c1 is in both train and val of fold 0" in text
    assert "case c5 in fold 2 is not a train/validation case (set 'internal_test')" in text


def test_check_splits_unvalidated_case():
    sets, patients, folds = _small()
    folds[2]["val"].remove("c4")
    with pytest.raises(SplitLeakageError, match=r"case c4 \(train\) is in no validation fold"):
        check_splits(sets, patients, folds)


def test_cv_folds_tiny_pool_every_class_below_fold_count():
    """sklearn's StratifiedKFold refuses this; tiny (synthetic) cohorts need it."""
    cases = ["a", "b", "c", "d", "e", "f"]
    labels = [1, 1, 1, 1, 0, 0]
    folds = cv_folds(cases, labels, 5, seed=1)
    assert sorted(c for f in folds for c in f["val"]) == cases
    assert sorted(len(f["val"]) for f in folds) == [1, 1, 1, 1, 2]
    # The two non-axSpA cases never share a validation fold.
    assert all(sum(c in ("e", "f") for c in f["val"]) <= 1 for f in folds)


def test_fixed_sets_override_the_draw():
    ids = [f"P{i}" for i in range(6)]
    fixed = ["train", "train", "internal_test", "external_test", "train", "train"]
    sets = assign_sets(ids, [1, 1, 1, 1, 2, 2], ["-"] * 6, seed=1, fixed=fixed)
    assert sets == dict(zip(ids, fixed))  # center does not move a fixed patient


def test_fixed_sets_for_some_patients_only_are_refused():
    with pytest.raises(ValueError, match="fixed for 1 of 3 patients"):
        assign_sets(["a", "b", "c"], [1, 1, 1], ["-"] * 3, seed=1, fixed=["train", None, None])
    with pytest.raises(ValueError, match=r"\['validation'\] are not among"):
        assign_sets(["a", "b"], [1, 1], ["-"] * 2, seed=1, fixed=["train", "validation"])


def test_unstratified_draw_without_diagnosis_matches_set_sizes():
    ids = [f"P{i:03d}" for i in range(40)]
    sets = assign_sets(ids, [1] * 36 + [2] * 4, ["-"] * 40, seed=9)
    counts = {name: sum(v == name for v in sets.values()) for name in SETS}
    assert counts == {**set_sizes(36), "external_test": 4}
    pool = sorted(p for p, s in sets.items() if s in ("train", "validation"))
    folds = cv_folds(pool, [-1] * len(pool), 5, seed=9)
    assert len(pool) == 29 and sorted(len(f["val"]) for f in folds) == [5, 6, 6, 6, 6]
