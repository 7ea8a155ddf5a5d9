"""Patient-level set assignment and cross-validation folds (pure, seeded).

Center 1 is split into train / validation / internal test in the paper's 455 / 64 / 129
proportions, stratified by diagnosis; center 2 is the external test set. The 5 CV folds
run over train + validation, stratified by diagnosis. Without a diagnosis (a
segmentation-only study) every patient is in one stratum, i.e. the draws are
unstratified. A fixed split (``clinical.csv``'s ``set`` column) replaces the drawn sets;
the CV folds are then drawn inside its ``train`` patients. Every function sorts its
input first, so the result depends only on the patients and the seed, not on sheet order.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from nnunet_fm.contract import CV_SETS, SETS, TEST_SETS, paper_center1_set_counts

#: Paper cohort, center 1 (PAPER.md): training, validation, internal test (from paper_targets.yaml).
PAPER_SET_COUNTS = paper_center1_set_counts()
#: Sets a user may fix per patient (validation is always drawn as CV folds inside train).
FIXED_SETS = (SETS[0], *TEST_SETS)


class SplitLeakageError(ValueError):
    """A patient or case appears in two sets or two validation folds."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("split leakage: " + "; ".join(self.problems[:20])
                         + (f"; ... {len(self.problems) - 20} more" if len(self.problems) > 20 else ""))


def set_sizes(n_patients: int, proportions: Mapping[str, int] = PAPER_SET_COUNTS) -> dict[str, int]:
    """Split ``n_patients`` into sets in the given proportions (largest remainder, exact total)."""
    total = sum(proportions.values())
    quotas = {k: n_patients * v / total for k, v in proportions.items()}
    sizes = {k: int(np.floor(q)) for k, q in quotas.items()}
    # Hand leftover patients to the largest remainders; ties by the order given (train first).
    order = sorted(proportions, key=lambda k: -(quotas[k] - sizes[k]))
    for k in order[: n_patients - sum(sizes.values())]:
        sizes[k] += 1
    return sizes


def assign_center1_sets(patient_ids: Sequence[str], diagnoses: Sequence[str], seed: int,
                        proportions: Mapping[str, int] = PAPER_SET_COUNTS) -> dict[str, str]:
    """Assign center-1 patients to train / validation / internal_test, stratified by diagnosis.

    Patients of each diagnosis are shuffled and spread evenly over a ranking (systematic
    stratified sampling), so every set gets the diagnosis mix of the whole center while
    the set sizes are exactly those of :func:`set_sizes`.

    Args:
        patient_ids: Unique patient ids.
        diagnoses: Diagnosis of each patient (any hashable stratum label).
        seed: Random seed.
        proportions: Set name -> relative size, in the order sets are filled.

    Returns:
        Patient id -> set name.
    """
    if len(patient_ids) != len(diagnoses):
        raise ValueError("patient_ids and diagnoses differ in length")
    if len(set(patient_ids)) != len(patient_ids):
        raise SplitLeakageError(["duplicate patient ids given to the set assignment"])
    rng = np.random.default_rng(seed)
    pairs = sorted(zip(patient_ids, diagnoses))
    keyed = []
    for stratum in sorted({d for _, d in pairs}):
        members = [p for p, d in pairs if d == stratum]
        members = [members[i] for i in rng.permutation(len(members))]
        n = len(members)
        offset = rng.random()  # random phase, so small strata do not always lead the ranking
        keyed.extend(((i + offset) / n, rng.random(), p) for i, p in enumerate(members))
    keyed.sort()
    ranked = [p for _, _, p in keyed]
    sizes = set_sizes(len(ranked), proportions)
    # Test first, then validation, train takes the rest: the rare held-out sets get the
    # most evenly stratified slice of the ranking.
    fill = [k for k in reversed(list(proportions))]
    out: dict[str, str] = {}
    start = 0
    for name in fill:
        for p in ranked[start:start + sizes[name]]:
            out[p] = name
        start += sizes[name]
    return out


def assign_sets(patient_ids: Sequence[str], centers: Sequence[int], strata: Sequence, seed: int,
                fixed: Sequence[str | None] | None = None) -> dict[str, str]:
    """Set of every patient: the fixed sets when given, else drawn.

    Drawn: center 1 by :func:`assign_center1_sets` (stratified by ``strata``), center 2
    is the external test set.

    Args:
        patient_ids: Unique patient ids.
        centers: Center (1 or 2) of each patient.
        strata: Stratum of each patient (diagnosis; one constant for no stratification).
        seed: Random seed of the drawn split.
        fixed: Set of each patient from the sheet, or None to draw. Must be given for
            every patient or for none.

    Raises:
        ValueError: Lengths differ, a fixed set is unknown, or only some are fixed.
    """
    if not len(patient_ids) == len(centers) == len(strata):
        raise ValueError("patient_ids, centers and strata differ in length")
    if fixed is not None and any(f is not None for f in fixed):
        if len(fixed) != len(patient_ids):
            raise ValueError("fixed sets and patient_ids differ in length")
        if any(f is None for f in fixed):
            raise ValueError(f"the set is fixed for {sum(f is not None for f in fixed)} of {len(fixed)} "
                             "patients; fix it for every patient or for none")
        bad = sorted({str(f) for f in fixed if f not in FIXED_SETS})
        if bad:
            raise ValueError(f"fixed set(s) {bad} are not among {list(FIXED_SETS)}")
        return dict(zip(patient_ids, fixed))
    center1 = [(p, s) for p, c, s in zip(patient_ids, centers, strata) if c == 1]
    out = assign_center1_sets([p for p, _ in center1], [s for _, s in center1], seed)
    out.update({p: "external_test" for p, c in zip(patient_ids, centers) if c == 2})
    return out


def cv_folds(case_ids: Sequence[str], labels: Sequence[int], n_folds: int, seed: int) -> list[dict[str, list[str]]]:
    """Stratified k-fold split over cases (one case per patient), nnU-Net ``splits_final`` format.

    Deterministic for a seed and independent of the input order.

    Args:
        case_ids: Ids of the train + validation cases.
        labels: Stratum of each case (diagnosis label).
        n_folds: Number of folds (>= 2).
        seed: Random seed of the shuffle.

    Returns:
        ``[{"train": [...], "val": [...]}, ...]`` with sorted ids in each list.

    Raises:
        ValueError: Fewer cases than folds.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    if len(case_ids) != len(labels):
        raise ValueError("case_ids and labels differ in length")
    if len(case_ids) < n_folds:
        raise ValueError(f"{len(case_ids)} train+validation case(s) cannot make {n_folds} CV folds")
    if len(set(case_ids)) != len(case_ids):
        raise SplitLeakageError(["duplicate case ids given to the CV split"])
    # Deal each diagnosis's shuffled cases round-robin over the folds, strata one after
    # the other: every fold gets within one case of each stratum's share and fold sizes
    # differ by at most one. Unlike sklearn's StratifiedKFold this also works when every
    # class has fewer members than folds (tiny cohorts).
    rng = np.random.default_rng([int(seed), 0xF01D])
    pairs = sorted(zip(case_ids, labels), key=lambda t: str(t[0]))
    sequence = []
    for stratum in sorted({y for _, y in pairs}, key=str):
        members = [c for c, y in pairs if y == stratum]
        sequence.extend(members[i] for i in rng.permutation(len(members)))
    fold_order = rng.permutation(n_folds)
    val = [[] for _ in range(n_folds)]
    for position, case in enumerate(sequence):
        val[fold_order[position % n_folds]].append(case)
    everything = sorted(sequence)
    folds = []
    for k in range(n_folds):
        chosen = set(val[k])
        folds.append({"train": [c for c in everything if c not in chosen], "val": sorted(chosen)})
    return folds


def fold_of_case(folds: Sequence[Mapping[str, Sequence[str]]]) -> dict[str, int]:
    """Case id -> index of the fold that validates it."""
    return {case: k for k, fold in enumerate(folds) for case in fold["val"]}


def check_splits(case_set: Mapping[str, str], case_patient: Mapping[str, str],
                 folds: Sequence[Mapping[str, Sequence[str]]]) -> None:
    """Fail loudly if any patient or case leaks between sets or validation folds.

    Args:
        case_set: Case id -> set name (one of :data:`SETS`).
        case_patient: Case id -> patient id.
        folds: CV folds over the train + validation cases.

    Raises:
        SplitLeakageError: With every leak found, e.g. a patient in two sets, a case in
            two validation folds, a case in train and val of one fold, a test case in a
            fold, or a train/validation case never validated.
    """
    problems: list[str] = []
    for case, name in case_set.items():
        if name not in SETS:
            problems.append(f"case {case}: unknown set {name!r}")
        if case not in case_patient:
            problems.append(f"case {case}: no patient id")
    patient_sets: dict[str, set[str]] = {}
    for case, patient in case_patient.items():
        patient_sets.setdefault(patient, set()).add(case_set.get(case, "?"))
    for patient, names in sorted(patient_sets.items()):
        if len(names) > 1:
            problems.append(f"patient {patient} is in {len(names)} sets: {sorted(names)}")

    pool = {c for c, s in case_set.items() if s in CV_SETS}
    val_fold: dict[str, int] = {}
    patient_val_fold: dict[str, int] = {}
    for k, fold in enumerate(folds):
        train, val = set(fold["train"]), set(fold["val"])
        for case in sorted(train & val):
            problems.append(f"case {case} is in both train and val of fold {k}")
        for case in sorted((train | val) - pool):
            problems.append(f"case {case} in fold {k} is not a train/validation case "
                            f"(set {case_set.get(case, 'unknown')!r})")
        for case in sorted(val):
            if case in val_fold:
                problems.append(f"case {case} is in the validation folds {val_fold[case]} and {k}")
            val_fold.setdefault(case, k)
            patient = case_patient.get(case)
            if patient is not None:
                if patient in patient_val_fold and patient_val_fold[patient] != k:
                    problems.append(f"patient {patient} is in the validation folds {patient_val_fold[patient]} and {k}")
                patient_val_fold.setdefault(patient, k)
        val_patients = {case_patient.get(v) for v in val} - {None}
        for case in sorted(train):
            patient = case_patient.get(case)
            if patient is not None and patient in val_patients:
                problems.append(f"patient {patient} is in both train and val of fold {k}")
    if folds:
        for case in sorted(pool - set(val_fold)):
            problems.append(f"case {case} ({case_set[case]}) is in no validation fold")
    if problems:
        raise SplitLeakageError(problems)
