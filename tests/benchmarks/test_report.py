"""The report rebuilds the committed reference run from its files and compares a user's run with it."""

from __future__ import annotations

import json
import shutil

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


def test_committed_run_report_is_rebuilt_byte_identically_from_its_files(tmp_path):
    run = tmp_path / "quick-synthetic"
    shutil.copytree(REFERENCE, run)
    for made in ("report.md", "summary.json", "tripod_ai.md"):
        (run / made).unlink()
    build_report(run)
    assert (run / "report.md").read_bytes() == (REFERENCE / "report.md").read_bytes()
    assert (run / "tripod_ai.md").read_bytes() == (REFERENCE / "tripod_ai.md").read_bytes()
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary == json.loads((REFERENCE / "summary.json").read_text(encoding="utf-8"))
    assert _absolute_strings(summary) == []
    text = (run / "report.md").read_text(encoding="utf-8")
    assert "## AUC ceiling of the synthetic cohort" in text and "not** a reproduction of the paper" in text


def test_another_run_shows_the_reference_headline_beside_its_own(tmp_path):
    run = tmp_path / "mine"
    shutil.copytree(REFERENCE, run)
    config = run / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("name: quick-synthetic", "name: mine"))
    build_report(run)
    text = (run / "report.md").read_text(encoding="utf-8")
    assert "## Beside the committed reference run (quick-synthetic, profile quick)" in text
    assert "| axSpA AUC, external test |" in text
    build_report(run, reference_dir=tmp_path / "absent")
    assert "Beside the committed reference run" not in (run / "report.md").read_text(encoding="utf-8")


def test_stage_table_shows_cpu_time_and_skipped_stages_with_their_reason():
    from benchmarks.engine.report_paper import render_stages_and_files

    lines = render_stages_and_files({"stages": {
        "train": {"done": True, "time_s": 10.0, "cpu_s": 19.5, "peak_memory_mb": 100.0},
        "classify": {"done": True, "skipped": True, "reason": "segmentation-only study"},
        "old": {"done": True, "time_s": 2.5, "peak_memory_mb": 50.0},
    }})
    assert "| train | 10.0 | 19.5 | 100.0 |" in lines
    assert "| classify | skipped: segmentation-only study | | |" in lines
    assert "| old | 2.5 | n/a | 50.0 |" in lines
    assert "| **total** | 12.5 | 19.5 | |" in lines
