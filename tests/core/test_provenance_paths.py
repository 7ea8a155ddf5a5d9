"""Recorded paths are portable: relative inside the output folder, a name outside it."""

from __future__ import annotations

from nnunet_fm.config import load_run_config
from nnunet_fm.provenance import portable_config, portable_path, provenance


def test_portable_path_is_relative_inside_and_a_name_outside(tmp_path):
    out = tmp_path / "run" / "roc"
    assert portable_path(out / "sub" / "a.json", out) == "sub/a.json"
    assert portable_path(tmp_path / "work" / "readers" / "expert", out) == "expert"
    assert portable_path(out, out) == "."


def test_provenance_keeps_relative_config_paths_and_names_absolute_ones():
    config = load_run_config(None, {"out_dir": "/home/someone/results", "work_dir": "work_runs",
                                    "data_dir": "/srv/hospital/cohort", "features": {"params_file": "/opt/p.yaml"}})
    record = portable_config(config)
    assert (record["out_dir"], record["work_dir"], record["data_dir"]) == ("results", "work_runs", "cohort")
    assert record["features"]["params_file"] == "p.yaml"
    assert "/home/someone" not in str(provenance(config)) and "/srv/hospital" not in str(provenance(config))
