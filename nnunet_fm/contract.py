"""The file contract between stages, declared once (docs/ARCHITECTURE.md, "Data contracts").

Set names, the set -> nnU-Net folder map, the columns of ``clinical.csv`` and
``cases.csv``, the dataset folder and case-id formats, the prediction subfolders, the
simulated reader names and the paper's cohort counts live here and nowhere else; every
stage imports them (``tests/core/test_contract.py`` fails when one is declared twice).
"""

from __future__ import annotations

import re
from typing import Mapping

#: Sets of ``cases.csv`` in pipeline order.
SETS = ("train", "validation", "internal_test", "external_test")
#: Sets that form the cross-validation pool (training rows of the classifier).
CV_SETS = SETS[:2]
#: Held-out test sets.
TEST_SETS = SETS[2:]
#: Set -> (images folder, labels folder) inside ``DatasetXXX_NAME``.
SET_FOLDERS: Mapping[str, tuple[str, str]] = {
    "train": ("imagesTr", "labelsTr"),
    "validation": ("imagesTr", "labelsTr"),
    "internal_test": ("imagesTs", "labelsTs"),
    "external_test": ("imagesExt", "labelsExt"),
}
#: Prediction subfolder (``WORK/predictions/<name>``) -> (images folder, labels folder) it covers:
#: out-of-fold masks of the CV pool, fold-ensemble masks of each test set.
PREDICTION_SETS: Mapping[str, tuple[str, str]] = {
    "oof": SET_FOLDERS["train"],
    **{name: SET_FOLDERS[name] for name in TEST_SETS},
}

#: Required columns of a cohort's ``clinical.csv`` (one row per patient), plus one image
#: column: ``image`` or ``image_<sequence>`` (one per channel).
CLINICAL_REQUIRED_COLUMNS = ("patient_id", "center", "mask")
#: Optional columns: without ``diagnosis`` the study is segmentation-only; without
#: ``age``/``sex`` there is no clinical baseline; ``set`` fixes the test split.
CLINICAL_OPTIONAL_COLUMNS = ("diagnosis", "age", "sex", "set")
#: Column order of a complete single-sequence ``clinical.csv`` (what ``synth`` writes).
CLINICAL_COLUMNS = ("patient_id", "center", "diagnosis", "age", "sex", "image", "mask")
#: Columns of the converter's ``cases.csv`` (one row per case).
CASES_COLUMNS = ("case_id", "set", "center", "diagnosis", "label", "fold", "age", "sex")

#: ``clinical.csv`` diagnoses: positive class (label 1) first.
DIAGNOSES = ("axSpA", "non-axSpA")

#: Allowed ``NAME`` of ``DatasetXXX_NAME``: what nnU-Net can parse back and a file system accepts.
DATASET_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

#: Simulated reader folders of the reader study: name -> (skill, assisted by the model).
READERS: Mapping[str, tuple[str, bool]] = {
    "resident_unassisted": ("resident", False),
    "resident_assisted": ("resident", True),
    "expert_unassisted": ("expert", False),
    "expert_assisted": ("expert", True),
}
#: Reader pairs compared with the paired test: (skill, without model, with model).
READER_PAIRS = (("resident", "resident_unassisted", "resident_assisted"),
                ("expert", "expert_unassisted", "expert_assisted"))


class ContractError(ValueError):
    """A name or value breaks the file contract."""


def validate_dataset_name(name: str, where: str = "dataset name") -> str:
    """Return ``name`` if it is a valid ``NAME`` of ``DatasetXXX_NAME``.

    Raises:
        ContractError: Empty, too long, or a character other than letters, digits, ``_`` and ``-``.
    """
    if not isinstance(name, str) or not DATASET_NAME_PATTERN.match(name):
        raise ContractError(f"{where} must be 1-64 letters, digits, '_' or '-' (not starting with '_' or '-'), "
                            f"got {name!r}")
    return name


def dataset_folder_prefix(dataset_id: int) -> str:
    """``Dataset501_``: the part of the dataset folder name fixed by the id."""
    return f"Dataset{int(dataset_id):03d}_"


def dataset_folder_name(dataset_id: int, dataset_name: str) -> str:
    """``Dataset501_SIJFM`` style folder name (nnU-Net convention)."""
    return dataset_folder_prefix(dataset_id) + validate_dataset_name(dataset_name)


def case_id(center: int, number: int, width: int = 4) -> str:
    """Pseudonymous case id ``SIJ_<center>_<nnnn>`` (``width`` digits, zero-padded)."""
    return f"SIJ_{int(center)}_{int(number):0{int(width)}d}"


def paper_center1_set_counts() -> dict[str, int]:
    """The paper's center-1 patients per set: ``{"train": 455, "validation": 64, "internal_test": 129}``.

    Read from ``paper_targets.yaml``, the one place the paper's numbers are stored.
    """
    from nnunet_fm.paper_targets import load_paper_targets

    cohort = load_paper_targets()["cohort"]
    return {name: int(cohort[name]["n"]) for name in ("train", "validation", "internal_test")}


def paper_stratum_counts() -> dict[tuple[int, str], int]:
    """The paper's patients per (center, diagnosis): ``{(1, "axSpA"): 462, ...}`` (from ``paper_targets.yaml``)."""
    from nnunet_fm.paper_targets import load_paper_targets

    cohort = load_paper_targets()["cohort"]
    out = {}
    for center, key in ((1, "center1_total"), (2, "external_test")):
        for diagnosis, column in zip(DIAGNOSES, ("axspa", "non_axspa")):
            out[(center, diagnosis)] = int(cohort[key][column])
    return out

#: ``RUN/features/<prefix><set>.csv``: the same extraction on the reference masks (labelsTr/Ts/Ext).
REFERENCE_FEATURES_PREFIX = "reference_"
#: ``RUN/segmentation/<set><suffix>.csv``: one row per reference lesion.
LESIONS_SUFFIX = "_lesions"
#: Run subfolders of the classify stage: default model, reference-mask sensitivity analysis,
#: robust-feature model (features with training ICC(A,1) >= classifier.robust_icc_tau).
CLASSIFIER_DIR, CLASSIFIER_REFERENCE_DIR, CLASSIFIER_ROBUST_DIR = "classifier", "classifier_reference", "classifier_robust"

#: Files of the converter's dataset folder (``NNUNET_RAW/DatasetXXX_NAME/``) that the study copies
#: into ``RUN/<RUN_DATASET_DIR>/`` (the report is rebuilt from the run folder alone).
CASES_FILE, DATASET_META_FILE = "cases.csv", "dataset_meta.json"
#: ``NNUNET_RAW/DatasetXXX_NAME<ID_KEY_SUFFIX>``: pseudonymised case id -> patient id, kept beside the dataset.
ID_KEY_SUFFIX = ".id_key.csv"
#: Run subfolder holding copies of ``cases.csv`` / ``dataset_meta.json`` and, for synthetic cohorts,
#: the Bayes-optimal AUC ceiling per set (``ceiling.json``).
RUN_DATASET_DIR = "dataset"
CEILING_FILE = "ceiling.json"
#: Sets of ``ceiling.json``'s ``by_set``: ``training`` pools train + validation (the CV pool).
CEILING_SETS: Mapping[str, tuple[str, ...]] = {"training": CV_SETS, **{name: (name,) for name in TEST_SETS}}
#: Run subfolder of the feature study (robustness, univariate, SHAP; ``nnunet-fm feature-study``).
FEATURE_STUDY_DIR = "feature_study"
#: ``RUN/reader_study/reader_study.json`` of the reader study (``"simulated": true`` for simulated readers).
READER_STUDY_DIR, READER_STUDY_FILE = "reader_study", "reader_study.json"
#: ``COHORT/<LINKED_ROOTS_FILE>``: JSON list of folders outside the cohort that its symbolic links may point
#: into (written by ``import-ucl-vhi``); any other link leaving the cohort folder is refused.
LINKED_ROOTS_FILE = "linked_roots.json"
