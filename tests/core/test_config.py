from __future__ import annotations

import pytest

from nnunet_fm.config import ConfigError, RunConfig, dump_yaml, load_run_config, to_dict


def test_defaults_are_the_quick_synthetic_run():
    config = load_run_config()
    assert config.name == "quick-synthetic"
    assert config.nnunet.profile == "quick"
    assert config.nnunet.folds == (0, 1, 2, 3, 4)
    assert config.is_synthetic
    assert "synthetic" in config.data_source and "scale 0.25" in config.data_source


def test_yaml_and_overrides_merge(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("name: mine\nnnunet:\n  profile: paper\n  folds: [0, 1]\nsynth:\n  scale: 0.5\n")
    config = load_run_config(path, {"nnunet": {"device": "cuda"}, "data_dir": "/data/sij"})
    assert (config.name, config.nnunet.profile, config.nnunet.folds, config.nnunet.device) == ("mine", "paper", (0, 1), "cuda")
    assert config.synth.scale == 0.5
    assert not config.is_synthetic and config.data_source == "user data (sij)"  # portable: the folder name only


def test_round_trip_through_yaml(tmp_path):
    config = load_run_config(overrides={"name": "x", "stats": {"n_bootstrap": 500}})
    path = tmp_path / "c.yaml"
    path.write_text(dump_yaml(config))
    assert load_run_config(path) == config
    assert to_dict(config)["nnunet"]["folds"] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"nnunet": {"profile": "fast"}}, "nnunet.profile"),
        ({"nnunet": {"folds": [0, 0]}}, "repeats"),
        ({"synth": {"scale": 0}}, "synth.scale"),
        ({"synth": {"scael": 1}}, "unknown config key(s) synth.scael"),
        ({"stats": {"n_bootstrap": "many"}}, "must be an integer"),
        ({"name": "../escape"}, "plain folder name"),
        ({"conversion": {"dataset_id": 1000}}, "dataset_id"),
    ],
)
def test_invalid_values_are_clear_errors(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_run_config(overrides=overrides)


def test_config_is_frozen():
    config = RunConfig()
    with pytest.raises(Exception):
        config.name = "other"  # type: ignore[misc]


def test_bad_yaml_is_a_config_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_run_config(path)


def test_user_runs_go_to_the_git_ignored_runs_folder_not_the_committed_reference():
    from pathlib import Path

    config = load_run_config()
    assert Path(config.out_dir, config.name) == Path("results/runs/quick-synthetic")
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "/results/runs/" in ignored


def test_mirroring_defaults_to_the_profiles():
    assert RunConfig().nnunet.mirroring is None
    assert load_run_config(overrides={"nnunet": {"mirroring": True}}).nnunet.mirroring is True


def test_old_features_dask_address_is_read_as_the_cluster_scheduler(tmp_path, caplog):
    old_null = tmp_path / "old_null.yaml"
    old_null.write_text("features:\n  jobs: 3\n  dask_address: null\n")
    config = load_run_config(old_null)
    assert config.features.jobs == 3 and config.cluster.scheduler == "none"

    old_address = tmp_path / "old_address.yaml"
    old_address.write_text("features:\n  dask_address: tcp://10.0.0.1:8786\n")
    with caplog.at_level("WARNING"):
        config = load_run_config(old_address)
    assert config.cluster.scheduler == "tcp://10.0.0.1:8786"
    assert "deprecated" in caplog.text and "old_address.yaml" in caplog.text


def test_old_features_dask_address_that_contradicts_the_cluster_section_is_refused(tmp_path):
    path = tmp_path / "both.yaml"
    path.write_text("features:\n  dask_address: tcp://10.0.0.1:8786\ncluster:\n  scheduler: local\n")
    with pytest.raises(ConfigError, match=r"both.yaml: features.dask_address .* cluster.scheduler"):
        load_run_config(path)


def test_max_shape_surface_faces_is_a_validated_feature_setting():
    assert load_run_config().features.max_shape_surface_faces == 100_000
    assert load_run_config(overrides={"features": {"max_shape_surface_faces": None}}).features.max_shape_surface_faces is None
    with pytest.raises(ConfigError, match="features.max_shape_surface_faces must be >= 1"):
        load_run_config(overrides={"features": {"max_shape_surface_faces": 0}})
