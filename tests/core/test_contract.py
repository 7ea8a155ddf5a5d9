"""The file contract lives in nnunet_fm/contract.py only (AST scan of every package)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nnunet_fm import contract

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("nnunet_fm", "dataset_conversion", "classifiers", "benchmarks")
CONTRACT_FILE = Path("nnunet_fm/contract.py")
FOLDERS = {folder for pair in contract.SET_FOLDERS.values() for folder in pair}
PAPER_NUMBERS = {455, 64, 129, 648, 462, 186, 58, 37, 21}

#: Files whose owners still have to replace their copy by an import from the contract
#: (listed in the session report); remove an entry once its copy is gone.
PENDING: set[str] = set()


def _strings(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _ints(node: ast.AST) -> set[int]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and type(n.value) is int}


def _lists_set_names(node: ast.AST) -> bool:
    """A tuple/list/set of set names, or a dict keyed by set names (a value that *is* a set is usage)."""
    names = set(contract.SETS)
    for n in ast.walk(node):
        items = n.elts if isinstance(n, (ast.Tuple, ast.List, ast.Set)) else n.keys if isinstance(n, ast.Dict) else []
        if sum(isinstance(i, ast.Constant) and i.value in names for i in items) >= 2:
            return True
    return False


def _declared_values(tree: ast.Module):
    """Values of module- and class-level assignments (where constants are declared)."""
    bodies = [tree.body] + [n.body for n in tree.body if isinstance(n, ast.ClassDef)]
    for body in bodies:
        for node in body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                yield node.lineno, node.value


def contract_copies(path: Path) -> list[str]:
    """Where ``path`` re-declares a contract constant or re-implements a contract format."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for line, value in _declared_values(tree):
        strings, ints = _strings(value), _ints(value)
        checks = {
            "set names": _lists_set_names(value),
            "nnU-Net set folders": bool(strings & FOLDERS),
            "cases.csv columns": {"case_id", "set", "fold"} <= strings,
            "clinical.csv columns": {"patient_id", "image", "mask"} <= strings,
            "reader names": bool(strings & set(contract.READERS)),
            "paper cohort counts": len(ints & PAPER_NUMBERS) >= 2 or bool(ints & {455, 462}),
        }
        found += [f"line {line}: {what}" for what, hit in checks.items() if hit]
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            head = str(node.values[0].value)
            if head.startswith("Dataset") or head.startswith("SIJ_"):
                found.append(f"line {node.lineno}: folder/case-id format {head!r}")
    return found


def _package_files():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT)


@pytest.mark.parametrize("relative", [p for p in _package_files() if p != CONTRACT_FILE and str(p) not in PENDING],
                         ids=str)
def test_no_contract_constant_is_declared_twice(relative):
    copies = contract_copies(ROOT / relative)
    assert not copies, f"{relative} re-declares the file contract ({'; '.join(copies)}); import it from nnunet_fm.contract"


def test_pending_copies_still_exist():
    """A pending entry whose copy is gone must leave PENDING (so the scan covers it again)."""
    stale = sorted(p for p in PENDING if not (ROOT / p).exists() or not contract_copies(ROOT / p))
    assert not stale, f"remove from PENDING: {stale}"


def test_the_scan_finds_a_copy(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('SETS = ("train", "validation")\nF = {"x": ("imagesExt", "labelsExt")}\nN = {"a": 455, "b": 64}\n'
                      'def f(i, n):\n    return f"Dataset{i:03d}_{n}"\n')
    found = " ".join(contract_copies(module))
    for what in ("set names", "set folders", "paper cohort counts", "folder/case-id format"):
        assert what in found


def test_contract_values():
    assert contract.SETS == ("train", "validation", "internal_test", "external_test")
    assert contract.CV_SETS + contract.TEST_SETS == contract.SETS
    assert dict(contract.PREDICTION_SETS) == {"oof": ("imagesTr", "labelsTr"), "internal_test": ("imagesTs", "labelsTs"),
                                              "external_test": ("imagesExt", "labelsExt")}
    assert contract.dataset_folder_name(7, "SIJFM") == "Dataset007_SIJFM"
    assert contract.case_id(2, 31) == "SIJ_2_0031" and contract.case_id(1, 12345, width=5) == "SIJ_1_12345"


def test_paper_counts_come_from_paper_targets_yaml():
    assert contract.paper_center1_set_counts() == {"train": 455, "validation": 64, "internal_test": 129}
    strata = contract.paper_stratum_counts()
    assert strata == {(1, "axSpA"): 462, (1, "non-axSpA"): 186, (2, "axSpA"): 37, (2, "non-axSpA"): 21}
    assert sum(contract.paper_center1_set_counts().values()) == strata[(1, "axSpA")] + strata[(1, "non-axSpA")]


@pytest.mark.parametrize("name", ["", "-x", "_x", "a b", "a/b", "ä", "x" * 65, None])
def test_bad_dataset_names_are_refused(name):
    with pytest.raises(contract.ContractError, match="dataset name"):
        contract.validate_dataset_name(name)
