"""The whole study as one resumable pipeline: ``nnunet-fm benchmark``.

synth -> convert -> train (plan, preprocess, 5 folds) -> predict (out-of-fold +
ensembles) -> segmentation evaluation -> features -> classifier -> ROC statistics ->
reader study -> report. Stages run through the ``nnunet-fm`` verbs in child processes
(:mod:`benchmarks.stage_runner`); they meet only through files.

Layout of a run named NAME:
- ``OUT/NAME/``  (small, shareable): report, CSVs, JSON, plots, config, provenance,
  ``stages.json``.
- ``WORK/NAME/`` (large, never committed): cohort, nnU-Net folders, predicted masks.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from benchmarks.stage_runner import Stage, run_stages
from nnunet_fm.config import RunConfig, dump_yaml, load_run_config

LOG = logging.getLogger(__name__)

#: Evaluated mask sets: name -> (nnU-Net raw image folder, label folder).
MASK_SETS = {
    "oof": ("imagesTr", "labelsTr"),
    "internal_test": ("imagesTs", "labelsTs"),
    "external_test": ("imagesExt", "labelsExt"),
}
READERS = ("resident_unassisted", "resident_assisted", "expert_unassisted", "expert_assisted")


class ConfigChangedError(ValueError):
    """A run folder already holds results made with a different configuration."""


@dataclass(frozen=True)
class RunPaths:
    """Folders and files of one run."""

    run_dir: Path
    work_dir: Path

    @property
    def cohort(self) -> Path:
        return self.work_dir / "cohort"

    @property
    def raw_root(self) -> Path:
        return self.work_dir / "nnUNet_raw"

    @property
    def preprocessed(self) -> Path:
        return self.work_dir / "nnUNet_preprocessed"

    @property
    def results(self) -> Path:
        return self.work_dir / "nnUNet_results"

    @property
    def predictions(self) -> Path:
        return self.work_dir / "predictions"

    @property
    def readers(self) -> Path:
        return self.work_dir / "readers"

    def dataset(self, config: RunConfig) -> Path:
        c = config.conversion
        return self.raw_root / f"Dataset{c.dataset_id:03d}_{c.dataset_name}"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "stages.json"


def run_paths(config: RunConfig, root: Path | None = None) -> RunPaths:
    """Run folders for ``config`` (relative config paths resolve against ``root`` or cwd)."""
    root = Path.cwd() if root is None else Path(root)
    return RunPaths(run_dir=root / config.out_dir / config.name, work_dir=root / config.work_dir / config.name)


def build_stages(config: RunConfig, paths: RunPaths) -> list[Stage]:
    """The study pipeline for ``config`` as a list of stages."""
    c, nn = config.conversion, config.nnunet
    dataset = paths.dataset(config)
    run = paths.run_dir
    stages: list[Stage] = []
    if config.is_synthetic:
        stages.append(Stage(
            "synth",
            ((
                "synth", "--out", str(paths.cohort), "--scale", repr(config.synth.scale),
                "--seed", str(config.synth.seed), "--jobs", str(config.synth.jobs), "--overwrite",
            ),),
            (paths.cohort / "clinical.csv",),
        ))
        cohort = paths.cohort
    else:
        cohort = Path(config.data_dir)
    stages.append(Stage(
        "convert",
        ((
            "convert", "--input", str(cohort), "--out", str(paths.raw_root), "--dataset-id", str(c.dataset_id),
            "--dataset-name", c.dataset_name, "--seed", str(c.seed), "--folds", str(c.n_folds),
            "--geometry-tolerance", repr(c.geometry_tolerance), "--jobs", str(nn.num_processes), "--overwrite",
        ),),
        (dataset / "dataset.json", dataset / "cases.csv", dataset / "splits_final.json"),
    ))
    folds = [str(f) for f in nn.folds]
    stages.append(Stage(
        "train",
        ((
            "train", "--raw", str(paths.raw_root), "--dataset-id", str(c.dataset_id), "--profile", nn.profile,
            "--folds", *folds, "--device", nn.device, "--preprocessed", str(paths.preprocessed),
            "--results", str(paths.results), "--config", str(run / "config.yaml"),
        ),),
    ))
    stages.append(Stage(
        "predict",
        ((
            "predict", "--raw", str(paths.raw_root), "--dataset-id", str(c.dataset_id), "--profile", nn.profile,
            "--folds", *folds, "--out", str(paths.predictions), "--preprocessed", str(paths.preprocessed),
            "--results", str(paths.results), "--config", str(run / "config.yaml"),
            "--mirroring" if nn.mirroring else "--no-mirroring",
        ),),
        tuple(paths.predictions / name for name in MASK_SETS),
    ))
    seg_commands = []
    for name, (_, labels) in MASK_SETS.items():
        argv = ["evaluate-seg", "--pred", str(paths.predictions / name), "--ref", str(dataset / labels),
                "--out", str(run / "segmentation" / f"{name}.csv"), "--cases", str(dataset / "cases.csv"),
                "--jobs", str(nn.num_processes)]
        seg_commands.append(tuple(argv))
    stages.append(Stage(
        "evaluate_segmentation", tuple(seg_commands),
        tuple(run / "segmentation" / f"{name}.csv" for name in MASK_SETS),
    ))
    feature_commands = []
    for name, (images, _) in MASK_SETS.items():
        argv = ["features", "--images", str(dataset / images), "--masks", str(paths.predictions / name),
                "--out", str(run / "features" / f"{name}.csv"), "--jobs", str(config.features.jobs)]
        if config.features.params_file:
            argv += ["--params", config.features.params_file]
        feature_commands.append(tuple(argv))
    stages.append(Stage("features", tuple(feature_commands), tuple(run / "features" / f"{n}.csv" for n in MASK_SETS)))
    k = config.classifier
    stages.append(Stage(
        "classify",
        ((
            "classify", "--features", *(str(run / "features" / f"{n}.csv") for n in MASK_SETS),
            "--cases", str(dataset / "cases.csv"), "--out", str(run / "classifier"), "--seed", str(k.seed),
            "--inner-cv-folds", str(k.inner_cv_folds), "--n-iter", str(k.n_iter), "--max-features", str(k.max_features),
        ),),
        (run / "classifier" / "predictions.csv",),
    ))
    s = config.stats
    stages.append(Stage(
        "roc",
        ((
            "roc", "--predictions", str(run / "classifier" / "predictions.csv"), "--label", "label",
            "--score", "score_xgboost", "--score", "score_fm_volume", "--score", "score_clinical",
            "--positive", "1", "--group", "split", "--train-group", "training",
            "--n-bootstrap", str(s.n_bootstrap), "--seed", str(s.seed), "--out", str(run / "roc"),
        ),),
        (run / "roc" / "roc_stats.json", run / "roc" / "roc.png"),
    ))
    reader_argv: list[str] = ["reader-study", "--reference", str(dataset / "labelsTs"), "--out", str(run / "reader_study")]
    for reader in READERS:
        reader_argv += ["--reader", f"{reader}={paths.readers / reader}"]
    reader_argv += ["--pairs", "resident_unassisted:resident_assisted", "--pairs", "expert_unassisted:expert_assisted"]
    if config.is_synthetic:
        from benchmarks import simulated_readers

        simulate = functools.partial(
            simulated_readers.write_simulated_readers,
            reference_dir=str(dataset / "labelsTs"), model_dir=str(paths.predictions / "internal_test"),
            out_root=str(paths.readers), seed=config.reader_study.seed,
        )
        stages.append(Stage("reader_study", (tuple(reader_argv),), (run / "reader_study" / "reader_study.json",), (simulate,)))
    stages.append(Stage("report", (("report", str(run)),), (run / "report.md", run / "summary.json")))
    return stages


def prepare_run(config: RunConfig, paths: RunPaths, restart: bool = False) -> None:
    """Create the run folders and record the resolved config (refuse a changed config).

    Raises:
        ConfigChangedError: ``run_dir`` holds a different config and ``restart`` is False.
    """
    import shutil

    from nnunet_fm.atomic import write_text
    from nnunet_fm.provenance import write_provenance

    config_file = paths.run_dir / "config.yaml"
    text = dump_yaml(config)
    if config_file.exists() and config_file.read_text(encoding="utf-8") != text:
        if not restart:
            raise ConfigChangedError(
                f"{paths.run_dir} holds a run made with another configuration; "
                "use another --name, or --restart to discard it")
    if restart:
        for folder in (paths.run_dir, paths.work_dir):
            if folder.exists():
                shutil.rmtree(folder)
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    paths.work_dir.mkdir(parents=True, exist_ok=True)
    write_text(config_file, text)
    write_provenance(
        paths.run_dir, config=config,
        seeds={"synth": config.synth.seed, "conversion": config.conversion.seed, "nnunet": config.nnunet.seed,
               "classifier": config.classifier.seed, "stats": config.stats.seed, "reader_study": config.reader_study.seed},
        data_source=config.data_source,
    )


def run_study(config: RunConfig, root: Path | None = None, restart: bool = False, quiet: bool = True) -> Path:
    """Run (or resume) the whole study; return the run's results folder."""
    paths = run_paths(config, root)
    prepare_run(config, paths, restart=restart)
    stages = build_stages(config, paths)
    LOG.info("study %s on %s: %d stages; results in %s", config.name, config.data_source, len(stages), paths.run_dir)
    run_stages(stages, paths.state_file, verbosity=("-q",) if quiet else ())
    LOG.info("report: %s", paths.run_dir / "report.md")
    return paths.run_dir


def load_config_for_cli(config_file: str | None, overrides: dict) -> RunConfig:
    """Resolve the benchmark's config from an optional YAML and CLI overrides."""
    return load_run_config(config_file, overrides)
