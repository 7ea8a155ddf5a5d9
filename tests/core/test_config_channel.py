"""One config channel: every field of the resolved RunConfig reaches the stage that uses it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from benchmarks.engine.study import run_paths
from nnunet_fm.cli import build_parser
from nnunet_fm.cli.pipeline import RUN_LAYOUT_FIELDS, STAGE_VERBS, build_stages, consumers, verb_module
from nnunet_fm.cli.settings import resolve_config
from nnunet_fm.config import ConfigError, RunConfig, dump_yaml, load_run_config
from nnunet_fm.nnunet.profiles import resolve_profile

#: A value different from the default for every field (a new field must be added here too).
NON_DEFAULT = {
    "name": "channel-test", "out_dir": "res_x", "work_dir": "work_x",
    "seeds": {"report": 99, "development": [1, 2]},
    "synth": {"scale": 0.5, "seed": 11, "jobs": 3},
    "conversion": {"dataset_id": 777, "dataset_name": "Other-FM", "n_folds": 3, "seed": 12, "geometry_tolerance": 0.002,
                   "channel_names": ["STIR"], "max_image_voxels": 1000000},
    "nnunet": {"profile": "paper", "folds": [1, 2], "device": "cuda", "num_processes": 5, "num_processes_da": 2,
               "mirroring": False, "num_epochs": 7, "iterations_per_epoch": 9, "seed": 13,
               "val_iterations_per_epoch": 3, "patch_voxel_budget": 20000},
    "cluster": {"scheduler": "tcp://scheduler:8786", "n_workers": 3, "gpus_per_worker": 2, "worker_memory_limit": "2GB",
                "dashboard": False, "queue": "gpu", "account": "lab", "cores": 8, "memory": "64GB",
                "walltime": "02:00:00", "jobs": 3, "job_extra_directives": ["--qos=long"],
                "job_script_prologue": ["module load cuda"], "local_directory": "/scratch", "log_directory": "logs",
                "python": "/opt/venv/bin/python", "interface": "ib0"},
    "features": {"params_file": "some_params.yaml", "jobs": 4, "max_shape_surface_faces": 5000},
    "classifier": {"seed": 14, "inner_cv_folds": 4, "n_iter": 5, "max_features": 6, "robust_icc_tau": 0.6},
    "stats": {"n_bootstrap": 300, "seed": 15, "ci_level": 0.9},
    "reader_study": {"seed": 16},
    "feature_study": {"icc_thresholds": [0.5, 0.8], "skew_threshold": 2.0, "top_n": 7, "fdr_alpha": 0.1},
}


def _fields(cls, prefix: str = "") -> list[str]:
    out = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.type) or (isinstance(f.default_factory, type)
                                                and dataclasses.is_dataclass(f.default_factory)):
            out += _fields(f.default_factory, prefix + f.name + ".")
        else:
            out.append(prefix + f.name)
    return out


def _get(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _verb_settings(verb: str, argv) -> dict:
    """Dotted field -> value the verb resolves from its own command line (as the stage child would)."""
    module = verb_module(verb)
    args = build_parser().parse_args(list(argv))
    if hasattr(module, "settings"):
        return module.settings(args)
    config = resolve_config(args, getattr(module, "CONFIG_FLAGS", {}))
    return {field: _get(config, field) for field in module.CONSUMES}


def _stage_settings(config: RunConfig, root: Path) -> dict[str, dict]:
    paths = run_paths(config, root)
    paths.run_dir.mkdir(parents=True)
    paths.config_file.write_text(dump_yaml(config), encoding="utf-8")
    out: dict[str, dict] = {}
    names = {verb_module(v).study_stage(config, paths).name: v for v in STAGE_VERBS
             if verb_module(v).study_stage(config, paths) is not None}
    for stage in build_stages(config, paths):
        if stage.skip_reason is not None:
            continue
        verb = names[stage.name]
        for argv in stage.commands:
            out.setdefault(verb, {}).update(_verb_settings(verb, argv))
    return out


def test_every_config_field_has_a_consumer():
    registry = consumers()
    missing = [f for f in _fields(RunConfig) if f not in registry]
    assert not missing, f"config field(s) nobody consumes: {missing}; wire them into a verb's CONFIG_FLAGS/CONSUMES"
    unknown = [f for f in registry if f not in _fields(RunConfig)]
    assert not unknown, f"CONSUMES names unknown field(s) {unknown}"


def test_non_default_values_cover_every_field():
    config = load_run_config(None, NON_DEFAULT)
    defaults = RunConfig()
    same = [f for f in _fields(RunConfig) if f != "data_dir" and _get(config, f) == _get(defaults, f)]
    assert not same, f"give these fields a non-default value in NON_DEFAULT: {same}"


@pytest.mark.parametrize("data_dir", [None, "user_cohort"], ids=["synthetic", "user-data"])
def test_every_field_reaches_each_stage_that_consumes_it(tmp_path, data_dir):
    config = load_run_config(None, {**NON_DEFAULT, "data_dir": data_dir})
    reached = _stage_settings(config, tmp_path)
    skipped = {"synth", "reader_study"} if data_dir else set()
    for field, verbs in consumers().items():
        for verb in verbs:
            if verb in ("run_layout", "provenance") or verb in skipped or (field == "data_dir" and data_dir is None):
                continue
            assert reached[verb][field] == _get(config, field), f"{field} does not reach {verb}"
    paths = run_paths(config, tmp_path)
    assert paths.run_dir == tmp_path / "res_x" / "channel-test" and paths.work_dir == tmp_path / "work_x" / "channel-test"
    assert set(RUN_LAYOUT_FIELDS) == {f for f, v in consumers().items() if v == ["run_layout"]}


@pytest.mark.parametrize(("nnunet", "expected"), [
    ({"profile": "paper"}, True),                       # regression: was sent as --no-mirroring
    ({"profile": "paper", "mirroring": False}, False),
    ({"profile": "quick"}, False),
    ({"profile": "quick", "mirroring": True}, True),
])
def test_benchmark_predicts_with_the_profiles_or_the_configs_mirroring(tmp_path, nnunet, expected):
    config = load_run_config(None, {"nnunet": nnunet})
    paths = _prepared(config, tmp_path)
    predict = next(s for s in build_stages(config, paths) if s.name == "predict")
    args = build_parser().parse_args(list(predict.commands[0]))
    resolved = resolve_config(args, verb_module("predict").CONFIG_FLAGS)
    assert resolve_profile(resolved.nnunet).mirroring is expected


def test_predict_flag_overrides_the_configs_mirroring(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("nnunet: {profile: paper, mirroring: true}\n")
    args = build_parser().parse_args(["predict", "--raw", "r", "--out", "o", "--config", str(yaml_file), "--no-mirroring"])
    assert resolve_profile(resolve_config(args, verb_module("predict").CONFIG_FLAGS).nnunet).mirroring is False
    args = build_parser().parse_args(["predict", "--raw", "r", "--out", "o", "--config", str(yaml_file)])
    assert resolve_profile(resolve_config(args, verb_module("predict").CONFIG_FLAGS).nnunet).mirroring is True


def _prepared(config: RunConfig, root: Path):
    paths = run_paths(config, root)
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(dump_yaml(config), encoding="utf-8")
    return paths


def test_roc_defaults_are_the_configs():
    args = build_parser().parse_args(["roc", "--predictions", "p.csv", "--label", "y", "--score", "s", "--out", "o"])
    settings = verb_module("roc").settings(args)
    stats = RunConfig().stats
    assert settings == {"stats.n_bootstrap": stats.n_bootstrap, "stats.ci_level": stats.ci_level, "stats.seed": stats.seed}
    assert settings["stats.seed"] == RunConfig().seeds.report  # regression: the CLI default was 0


def test_convert_n_folds_is_a_count_and_folds_is_its_alias():
    parser = build_parser()
    assert parser.parse_args(["convert", "--out", "o", "--n-folds", "3"]).n_folds == 3
    assert parser.parse_args(["convert", "--out", "o", "--folds", "4"]).n_folds == 4


@pytest.mark.parametrize("name", ["SIJFM", "SIJ-FM", "sij_fm2", "2024FM"])
def test_dataset_names_the_converter_accepts_are_valid_config_names(name):
    assert load_run_config(None, {"conversion": {"dataset_name": name}}).conversion.dataset_name == name


@pytest.mark.parametrize("name", ["", "has space", "-lead", "a/b", "x" * 65])
def test_bad_dataset_names_are_config_errors(name):
    with pytest.raises(ConfigError, match="conversion.dataset_name"):
        load_run_config(None, {"conversion": {"dataset_name": name}})


def test_stage_seeds_default_to_the_report_seed_which_no_development_seed_equals():
    config = RunConfig()
    assert set(config.stage_seeds.values()) == {config.seeds.report} and config.uses_report_seed
    assert config.seeds.report not in config.seeds.development
    moved = load_run_config(None, {"seeds": {"report": 5}, "stats": {"seed": 7}})
    assert moved.synth.seed == 5 and moved.stats.seed == 7 and not moved.uses_report_seed
    with pytest.raises(ConfigError, match="seeds.report"):
        load_run_config(None, {"seeds": {"report": 7, "development": [7]}})


def test_benchmark_seed_overrides_every_stage_seed():
    from nnunet_fm.cli.benchmark import overrides_from_args

    args = build_parser().parse_args(["benchmark", "--seed", "12", "--scheduler", "local"])
    config = load_run_config(None, overrides_from_args(args))
    assert set(config.stage_seeds.values()) == {12} and config.cluster.scheduler == "local"


def test_the_study_records_its_seeds_in_the_provenance(tmp_path):
    import json

    from benchmarks.engine.study import prepare_run

    config = load_run_config(None, {"seeds": {"report": 99, "development": [1, 2]}})
    paths = run_paths(config, tmp_path)
    prepare_run(config, paths)
    seeds = json.loads((paths.run_dir / "provenance.json").read_text(encoding="utf-8"))["seeds"]
    assert seeds["report"] == 99 and seeds["development"] == [1, 2] and seeds["synth"] == 99
    assert seeds["uses_report_seed"] is True


def test_training_profile_takes_the_configs_patch_budget_and_validation_iterations():
    from nnunet_fm.cli.train import training_profile

    config = load_run_config(None, {"nnunet": {"patch_voxel_budget": 30000, "val_iterations_per_epoch": 2}})
    profile = training_profile(config.nnunet)
    assert (profile.patch_voxel_budget, profile.val_iterations_per_epoch) == (30000, 2)
    assert training_profile(RunConfig().nnunet) == resolve_profile(RunConfig().nnunet)


@pytest.mark.parametrize("text, message", [("", "is empty"), ("a: !!python/name:os.system\n", "not allowed"),
                                           ("[1, 2]\n", "mapping"), ("name: [unclosed\n", "invalid YAML")])
def test_bad_config_files_are_one_line_errors_naming_the_file(tmp_path, text, message):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_run_config(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
