"""The feature-study verb: its study stage, its config channel and one clear line for bad input."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.engine.study import RunPaths
from nnunet_fm.cli import feature_study as cli
from nnunet_fm.cli import main
from nnunet_fm.cli.pipeline import STAGE_VERBS
from nnunet_fm.config import RunConfig, load_run_config
from tests.classifiers.feature_study_run import make_cases, make_features


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _tables(tmp_path: Path) -> tuple[Path, Path]:
    pred, ref = make_features(make_cases(3), 12, 4)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pred.to_csv(a, index=False)
    ref.to_csv(b, index=False)
    return a, b


def test_stage_runs_after_roc_on_the_run_folder(tmp_path):
    assert STAGE_VERBS.index("feature_study") == STAGE_VERBS.index("roc") + 1
    config, paths = RunConfig(), RunPaths(tmp_path / "run", tmp_path / "work")
    stage = cli.study_stage(config, paths)
    assert stage.name == "feature_study"
    assert stage.commands == (("feature-study", "--run", str(paths.run_dir), "--config", str(paths.config_file)),)
    assert stage.outputs == (paths.run_dir / "feature_study" / "feature_study.json",)


def test_segmentation_only_cohort_gets_the_flag(tmp_path):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    (cohort / "clinical.csv").write_text("patient_id,center,image,mask\nP1,1,img/P1.nii.gz,msk/P1.nii.gz\n")
    config = load_run_config(None, {"data_dir": str(cohort)})
    stage = cli.study_stage(config, RunPaths(tmp_path / "run", tmp_path / "work"))
    assert stage.commands[0][-1] == "--segmentation-only"
    with_diagnosis = tmp_path / "cohort2"
    with_diagnosis.mkdir()
    for name in "abcd":
        (with_diagnosis / f"{name}.nii.gz").write_bytes(b"")  # the sheet check needs the files to exist
    (with_diagnosis / "clinical.csv").write_text("patient_id,center,diagnosis,image,mask\n"
                                                 "P1,1,axSpA,a.nii.gz,b.nii.gz\nP2,1,non-axSpA,c.nii.gz,d.nii.gz\n")
    stage = cli.study_stage(load_run_config(None, {"data_dir": str(with_diagnosis)}),
                            RunPaths(tmp_path / "run", tmp_path / "work"))
    assert "--segmentation-only" not in stage.commands[0]


def test_flags_override_the_config_section(tmp_path):
    a, b = _tables(tmp_path)
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("feature_study: {icc_thresholds: [0.5], top_n: 3}\nstats: {ci_level: 0.9}\n")
    out = tmp_path / "out"
    assert main(["-q", "feature-study", "--features-a", str(a), "--features-b", str(b), "--out", str(out),
                 "--config", str(yaml_file), "--top-n", "4"]) == 0
    summary = json.loads((out / "feature_study.json").read_text(encoding="utf-8"))
    assert summary["settings"]["icc_thresholds"] == [0.5] and summary["settings"]["top_n"] == 4
    assert summary["settings"]["level"] == 0.9
    counts = summary["robustness"]["groups"]["cases"]
    assert "n_icc_at_least_0_5" in counts and "n_icc_at_least_0_75" not in counts
    assert set(pd.read_csv(out / "icc.csv")["group"]) == {"cases"}


@pytest.mark.parametrize("argv, message", [
    ([], "needs exactly one input"),
    (["--run", "RUN", "--features-a", "A"], "needs exactly one input: --run RUN, or --features-a/--features-b"),
    (["--features-a", "A"], "--features-a and --features-b go together"),
    (["--masks-a", "A", "--masks-b", "B"], "--masks-a, --masks-b and --images go together"),
    (["--features-a", "A", "--features-b", "B"], "--out is required without --run"),
    (["--run", "NOWHERE"], "no such run folder"),
])
def test_bad_combinations_give_one_line(tmp_path, caplog, argv, message):
    argv = [str(tmp_path / a) if a.isupper() else a for a in argv]
    assert main(["feature-study", *argv]) == 1
    errors = _errors(caplog)
    assert len(errors) == 1 and message in errors[0] and "\n" not in errors[0]


def test_missing_table_is_named(tmp_path, caplog):
    a, _ = _tables(tmp_path)
    assert main(["feature-study", "--features-a", str(a), "--features-b", str(tmp_path / "nope.csv"),
                 "--out", str(tmp_path / "o")]) == 1
    errors = _errors(caplog)
    assert len(errors) == 1 and "nope.csv" in errors[0]
    assert not (tmp_path / "o").exists()


def test_malformed_cases_csv_of_a_run_is_named(tmp_path, caplog):
    run = tmp_path / "run"
    a, b = _tables(tmp_path)
    (run / "features").mkdir(parents=True)
    (run / "dataset").mkdir()
    for name in ("internal_test", "external_test"):
        (run / "features" / f"{name}.csv").write_text(a.read_text(encoding="utf-8"))
        (run / "features" / f"reference_{name}.csv").write_text(b.read_text(encoding="utf-8"))
    (run / "dataset" / "cases.csv").write_text("case_id,set\nX,train\n")
    assert main(["feature-study", "--run", str(run)]) == 1
    errors = _errors(caplog)
    assert len(errors) == 1 and "cases.csv" in errors[0] and "missing column" in errors[0]


@pytest.mark.parametrize("flag, value", [("--top-n", "0"), ("--fdr-alpha", "1"), ("--icc-thresholds", "1.5"),
                                         ("--skew-threshold", "-1"), ("--level", "0.2")])
def test_out_of_range_flags_are_refused_by_name(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit):
        main(["feature-study", "--run", str(tmp_path), flag, value])
    assert flag in capsys.readouterr().err


def test_bad_config_value_is_named(tmp_path, caplog):
    a, b = _tables(tmp_path)
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("feature_study: {fdr_alpha: 2}\n")
    assert main(["feature-study", "--features-a", str(a), "--features-b", str(b), "--out", str(tmp_path / "o"),
                 "--config", str(yaml_file)]) == 1
    errors = _errors(caplog)
    assert len(errors) == 1 and "feature_study.fdr_alpha" in errors[0]
