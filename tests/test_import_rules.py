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


def _full_imports(path: Path) -> set[str]:
    """Every absolute module name imported anywhere in the file (also inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
            elif node.args and isinstance(node.args[0], ast.JoinedStr):
                found.add("".join(v.value for v in node.args[0].values if isinstance(v, ast.Constant)).rstrip("."))
    return found


def _imports(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _full_imports(path)} & set(PACKAGES)


#: Timing scripts drive the CLI the way a user does (they are measurements, not product code,
#: and nothing imports them); every call goes through this one helper.
CLI_DRIVERS = {Path("benchmarks/cli_timing.py")}


def _is_cli(relative: Path) -> bool:
    return relative.parts[:2] == ("nnunet_fm", "cli")


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path


@pytest.mark.parametrize("package, path", list(_modules()), ids=lambda v: str(v).replace(str(ROOT) + "/", ""))
def test_imports_follow_the_one_way_rules(package, path):
    relative = path.relative_to(ROOT)
    if _is_cli(relative):
        return  # the CLI is the one module tree allowed to reach every package (lazily, checked below)
    forbidden = _imports(path) - ALLOWED[package]
    assert not forbidden, f"{relative} imports {sorted(forbidden)}"


@pytest.mark.parametrize("package, path", list(_modules()), ids=lambda v: str(v).replace(str(ROOT) + "/", ""))
def test_nothing_outside_the_cli_imports_the_cli(package, path):
    """Also forbids the stage runner -> CLI cycle: the runner receives its entry point."""
    relative = path.relative_to(ROOT)
    if _is_cli(relative) or relative in CLI_DRIVERS:
        return
    cli = sorted(n for n in _full_imports(path) if n == "nnunet_fm.cli" or n.startswith("nnunet_fm.cli."))
    assert not cli, f"{relative} imports the CLI ({cli}); pass what it needs in instead"


def test_the_import_scan_sees_lazy_and_importlib_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from nnunet_fm.cli import main\n"
                      "def g():\n    import importlib\n    importlib.import_module('nnunet_fm.cli')\n")
    assert {"nnunet_fm.cli", "nnunet_fm.cli.main"} <= _full_imports(module)


def test_cli_modules_import_only_first_party_packages():
    """The CLI may reach every package, but no unknown first-party tree (and never tests)."""
    for path in sorted((ROOT / "nnunet_fm" / "cli").glob("*.py")):
        names = {n.split(".")[0] for n in _full_imports(path)}
        assert "tests" not in names, f"{path.name} imports tests"


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
