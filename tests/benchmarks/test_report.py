"""The report rebuilds the committed reference run (made before the phase-B inputs existed) and
compares a user's run with it."""

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


def test_committed_run_report_is_rebuilt_with_new_sections_marked_not_available(tmp_path):
    run = tmp_path / "quick-synthetic"
    shutil.copytree(REFERENCE, run)
    build_report(run)
    text = (run / "report.md").read_text()
    # figures of the first report version are still shown
    assert "| FM DSC, external test (mean ± SD over cases) | 85.44% ± 6.09% | 73.30% ± 19.08%" in text
    # new sections whose inputs the old run lacks degrade to one line each
    assert "## Patient flow and baseline characteristics\n\nNot available: dataset/cases.csv is absent" in text
    assert "## AUC ceiling of the synthetic cohort\n\nNot available: dataset/ceiling.json is absent" in text
    assert (run / "tripod_ai.md").is_file()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["patient_flow"] == {"available": False, "reason": summary["patient_flow"]["reason"]}
    assert _absolute_strings(summary) == []


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
