"""The report rebuilds the committed reference run byte-identically and compares a user's run with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.engine.report import build_report, default_reference_run

REFERENCE = default_reference_run()
pytestmark = pytest.mark.skipif(not (REFERENCE / "report.md").is_file(), reason="no committed reference run")


def _absolute_strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _absolute_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _absolute_strings(v)]
    return [value] if isinstance(value, str) and value.startswith("/") else []


def test_committed_run_report_is_rebuilt_byte_identically_with_portable_summary(tmp_path):
    run = tmp_path / "quick-synthetic"
    shutil.copytree(REFERENCE, run)
    build_report(run)
    assert (run / "report.md").read_bytes() == (REFERENCE / "report.md").read_bytes()
    assert _absolute_strings(json.loads((run / "summary.json").read_text())) == []


def test_another_run_shows_the_reference_headline_beside_its_own(tmp_path):
    run = tmp_path / "mine"
    shutil.copytree(REFERENCE, run)
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("name: quick-synthetic", "name: mine"))
    build_report(run)
    text = (run / "report.md").read_text()
    assert "## Beside the committed reference run (quick-synthetic, profile quick)" in text
    assert "| axSpA AUC, external test |" in text
    build_report(run, reference_dir=tmp_path / "absent")
    assert "Beside the committed reference run" not in (run / "report.md").read_text()
