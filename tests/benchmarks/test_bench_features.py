"""Smoke test of the feature-extraction timing script (no timing asserts)."""

import json

import pytest

pytest.importorskip("radiomics")

from benchmarks.bench_features import main, make_case  # noqa: E402


def test_phantom_has_fm_beside_the_joints():
    image, mask = make_case(3)
    assert image.shape == mask.shape == (16, 160, 192)
    assert 0 < mask.sum() < 0.01 * mask.size
    assert image[mask > 0].mean() > image[mask == 0].mean()


def test_writes_json(tmp_path):
    out = tmp_path / "features.json"
    assert main(["--cases", "2", "--repeats", "1", "--control-chunks", "2", "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["cases"] == 2 and result["failed_cases"] == 0 and result["identical_tables"]
    assert result["seconds_jobs1"] > 0 and result["seconds_jobs2"] > 0 and "speedup_jobs2" in result
