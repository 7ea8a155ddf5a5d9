"""The whole study as one resumable pipeline: ``nnunet-fm benchmark``.

synth -> convert -> train (plan, preprocess, 5 folds) -> predict (out-of-fold +
ensembles) -> segmentation evaluation -> features (predicted and reference masks) ->
classifiers -> ROC statistics -> radiomics feature study -> reader study -> report;
classify and roc are skipped for segmentation-only cohorts, synth and the simulated reader
study for user data. Stages run through the ``nnunet-fm`` verbs in child processes
(:mod:`benchmarks.engine.stage_runner`); they meet only through files. Each verb builds
its own stage (``study_stage(config, paths)`` in its CLI module); every stage child gets
the run's resolved ``config.yaml`` and reads its own section from it.

Layout of a run named NAME:
- ``OUT/NAME/``  (small, shareable): report, CSVs, JSON, plots, config, provenance,
  ``stages.json``.
- ``WORK/NAME/`` (large, never committed): cohort, nnU-Net folders, predicted masks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from benchmarks.engine.stage_runner import EntryPoint, Stage, run_stages
from nnunet_fm.config import RunConfig, dump_yaml

LOG = logging.getLogger(__name__)

#: Builds the pipeline of a run (the CLI passes its own: each verb generates its stage).
StageBuilder = Callable[[RunConfig, "RunPaths"], Sequence[Stage]]


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
        from nnunet_fm.contract import dataset_folder_name

        return self.raw_root / dataset_folder_name(config.conversion.dataset_id, config.conversion.dataset_name)

    @property
    def config_file(self) -> Path:
        """The resolved run config every stage child reads its section from."""
        return self.run_dir / "config.yaml"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "stages.json"


def run_paths(config: RunConfig, root: Path | None = None) -> RunPaths:
    """Run folders for ``config`` (relative config paths resolve against ``root`` or cwd)."""
    root = Path.cwd() if root is None else Path(root)
    return RunPaths(run_dir=root / config.out_dir / config.name, work_dir=root / config.work_dir / config.name)


def prepare_run(config: RunConfig, paths: RunPaths, restart: bool = False) -> None:
    """Create the run folders and record the resolved config (refuse a changed config).

    Raises:
        ConfigChangedError: ``run_dir`` holds a different config and ``restart`` is False.
    """
    import shutil

    from nnunet_fm.atomic import write_text
    from nnunet_fm.provenance import write_provenance

    config_file = paths.config_file
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
        seeds={**config.stage_seeds, "report": config.seeds.report, "development": list(config.seeds.development),
               "uses_report_seed": config.uses_report_seed},
        data_source=config.data_source,
    )


def run_study(config: RunConfig, build_stages: StageBuilder, entry_point: EntryPoint, root: Path | None = None,
              restart: bool = False, quiet: bool = True) -> Path:
    """Run (or resume) the whole study; return the run's results folder.

    Args:
        config: The resolved run config.
        build_stages: ``(config, paths) -> stages`` (the CLI's pipeline).
        entry_point: Runs one stage command line in the stage child (the CLI's ``main``).
        root: Folder that relative config paths resolve against (default: cwd).
        restart: Discard an existing run of this name.
        quiet: Warnings only from the stage children.
    """
    paths = run_paths(config, root)
    prepare_run(config, paths, restart=restart)
    stages = list(build_stages(config, paths))
    LOG.info("study %s on %s: %d stages; results in %s", config.name, config.data_source, len(stages), paths.run_dir)
    run_stages(stages, paths.state_file, verbosity=("-q",) if quiet else (), entry_point=entry_point)
    LOG.info("report: %s", paths.run_dir / "report.md")
    return paths.run_dir
