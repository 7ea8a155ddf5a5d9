"""The design's one-way import rules, checked on the source (AST), not by convention."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nnunet_fm", "dataset_conversion", "classifiers", "benchmarks")
#: package -> first-party packages it may import
ALLOWED = {
    "nnunet_fm": {"nnunet_fm"},
    "dataset_conversion": {"nnunet_fm", "dataset_conversion"},
    "classifiers": {"nnunet_fm", "classifiers"},
    "benchmarks": {"nnunet_fm", "classifiers", "benchmarks"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path


@pytest.mark.parametrize("package, path", list(_modules()), ids=lambda v: str(v).replace(str(ROOT) + "/", ""))
def test_imports_follow_the_one_way_rules(package, path):
    relative = path.relative_to(ROOT)
    if relative.parts[:2] == ("nnunet_fm", "cli"):
        return  # the CLI is the one module tree allowed to reach every package (lazily)
    forbidden = _imports(path) - ALLOWED[package]
    assert not forbidden, f"{relative} imports {sorted(forbidden)}"


def test_cli_verb_modules_import_nothing_heavy_at_module_level():
    heavy = {"SimpleITK", "torch", "nnunetv2", "pandas", "xgboost", "radiomics", "sklearn", "matplotlib",
             "dataset_conversion", "classifiers", "benchmarks"}
    for path in sorted((ROOT / "nnunet_fm" / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = set()
        for node in tree.body:
            if isinstance(node, ast.Import):
                top.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                top.add(node.module.split(".")[0])
        assert not (top & heavy), f"{path.name} imports {sorted(top & heavy)} at module level"


def test_no_print_calls_or_star_imports_in_packages():
    for _, path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                pytest.fail(f"{path.relative_to(ROOT)}:{node.lineno} uses print (use logging)")
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                pytest.fail(f"{path.relative_to(ROOT)}:{node.lineno} uses import *")
