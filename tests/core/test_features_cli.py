"""The features verb: reference-mask tables in the study stage, channel/sequence passed through."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks.engine.study import RunPaths
from nnunet_fm.cli import features as features_cli
from nnunet_fm.cli import main
from nnunet_fm.config import RunConfig


def test_study_stage_adds_reference_mask_tables(tmp_path):
    config, paths = RunConfig(), RunPaths(tmp_path / "run", tmp_path / "work")
    stage = features_cli.study_stage(config, paths)
    dataset = paths.dataset(config)
    outs = {Path(c[c.index("--out") + 1]).name: Path(c[c.index("--masks") + 1]) for c in stage.commands}
    assert outs == {
        "oof.csv": paths.predictions / "oof", "internal_test.csv": paths.predictions / "internal_test",
        "external_test.csv": paths.predictions / "external_test",
        "reference_oof.csv": dataset / "labelsTr", "reference_internal_test.csv": dataset / "labelsTs",
        "reference_external_test.csv": dataset / "labelsExt",
    }
    images = {Path(c[c.index("--out") + 1]).name: Path(c[c.index("--images") + 1]).name for c in stage.commands}
    assert images["reference_oof.csv"] == images["oof.csv"] == "imagesTr"
    assert images["reference_external_test.csv"] == "imagesExt"
    assert {p.name for p in stage.outputs} == set(outs)


def test_channel_and_sequence_reach_extract_features(tmp_path, monkeypatch):
    import classifiers.feature_extraction as fe

    seen = {}

    def fake_extract(images, masks, **kwargs):
        seen.update(kwargs)
        return pd.DataFrame({"case_id": ["a"], "fm_volume_ml": [1.0], "error": [""]})

    monkeypatch.setattr(fe, "extract_features", fake_extract)
    out = tmp_path / "f.csv"
    assert main(["-q", "features", "--images", str(tmp_path), "--masks", str(tmp_path), "--out", str(out),
                 "--channel", "2", "--sequence", "STIR", "--jobs", "1"]) == 0
    assert seen["channel"] == 2 and seen["sequence"] == "STIR" and seen["jobs"] == 1
    assert main(["-q", "features", "--images", str(tmp_path), "--masks", str(tmp_path), "--out", str(out)]) == 0
    assert seen["channel"] == 0 and seen["sequence"] is None  # extract_features picks dataset.json's name
    assert seen["max_shape_surface_faces"] == 100_000 and seen["cluster"].scheduler == "none"
    assert main(["-q", "features", "--images", str(tmp_path), "--masks", str(tmp_path), "--out", str(out),
                 "--max-shape-surface-faces", "77", "--dask-address", "tcp://10.0.0.1:8786"]) == 0
    assert seen["max_shape_surface_faces"] == 77 and seen["cluster"].scheduler == "tcp://10.0.0.1:8786"
    assert "dask_address" not in seen  # one setting for the scheduler: cluster.scheduler


@pytest.mark.parametrize("flag, value", [("--channel", "-1"), ("--channel", "x"), ("--jobs", "0")])
def test_bad_numbers_are_refused(tmp_path, flag, value, capsys):
    with pytest.raises(SystemExit):
        main(["-q", "features", "--images", str(tmp_path), "--masks", str(tmp_path),
              "--out", str(tmp_path / "f.csv"), flag, value])
    assert flag in capsys.readouterr().err
