"""Run configuration: YAML -> frozen, validated dataclasses.

Every stage reads its settings from one :class:`RunConfig`. Unknown keys are errors (a
typo must not silently fall back to a default), and the resolved config is written next
to the results of every run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union, get_args, get_origin, get_type_hints

from nnunet_fm.cluster import ClusterConfig, ClusterConfigError
from nnunet_fm.contract import ContractError, validate_dataset_name
from nnunet_fm.image_io import DEFAULT_MAX_VOXELS

LOG = logging.getLogger(__name__)

PROFILES = ("quick", "paper")
DEVICES = ("cpu", "cuda")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


#: Sections whose ``seed`` defaults to ``seeds.report`` (``benchmark --seed`` sets them all).
SEEDED_SECTIONS = ("synth", "conversion", "nnunet", "classifier", "stats", "reader_study")


@dataclass(frozen=True)
class SeedsConfig:
    """The seeds of a study: one for the report, others for development.

    Attributes:
        report: Seed of the committed report; nothing (generator, profiles, thresholds) was
            tuned on it. Every stage seed left unset resolves to it.
        development: Seeds used by the tests and for tuning; never the report seed.
    """

    report: int = 31415
    development: tuple[int, ...] = (2024, 7, 11, 12, 13)

    def __post_init__(self) -> None:
        _require(len(self.development) >= 1, "seeds.development must name at least one seed")
        _require(self.report not in self.development,
                 f"seeds.report {self.report} must not be a development seed {list(self.development)}")


@dataclass(frozen=True)
class SynthConfig:
    """Synthetic two-center phantom cohort.

    Attributes:
        scale: Fraction of the paper's 706 patients (1.0 = full cohort).
        seed: Seed of the generator; same seed -> identical files (``None`` = ``seeds.report``).
        jobs: Worker processes for generation.
    """

    scale: float = 0.25
    seed: Optional[int] = None
    jobs: int = 2

    def __post_init__(self) -> None:
        _require(0 < self.scale <= 4, f"synth.scale must be in (0, 4], got {self.scale}")
        _require(self.jobs >= 1, f"synth.jobs must be >= 1, got {self.jobs}")


@dataclass(frozen=True)
class ConversionConfig:
    """Conversion of two-center data into nnU-Net's raw format.

    Attributes:
        dataset_id: nnU-Net dataset number (1-999).
        dataset_name: Name part of ``DatasetXXX_NAME``.
        n_folds: Cross-validation folds written to ``splits_final.json``.
        seed: Seed of the set and fold assignment (``None`` = ``seeds.report``).
        geometry_tolerance: Largest allowed image/mask difference of origin and spacing
            (mm) and direction cosines.
        channel_names: nnU-Net channel names, one per image column (``None`` = ``T1``, or
            the sequence names of ``image_<seq>`` columns).
        max_image_voxels: Largest voxel count of an input volume, checked on the header
            before any voxel is read.
    """

    dataset_id: int = 501
    dataset_name: str = "SIJFM"
    n_folds: int = 5
    seed: Optional[int] = None
    geometry_tolerance: float = 1e-4
    channel_names: Optional[tuple[str, ...]] = None
    max_image_voxels: int = DEFAULT_MAX_VOXELS

    def __post_init__(self) -> None:
        _require(1 <= self.dataset_id <= 999, f"conversion.dataset_id must be 1-999, got {self.dataset_id}")
        try:
            validate_dataset_name(self.dataset_name, "conversion.dataset_name")
        except ContractError as exc:
            raise ConfigError(str(exc)) from None
        _require(2 <= self.n_folds <= 10, f"conversion.n_folds must be 2-10, got {self.n_folds}")
        _require(0 < self.geometry_tolerance < 1, "conversion.geometry_tolerance must be in (0, 1)")
        _require(self.channel_names is None or (len(self.channel_names) >= 1 and all(
            isinstance(n, str) and n.strip() for n in self.channel_names)),
            f"conversion.channel_names must be non-empty names, got {self.channel_names!r}")
        _require(self.max_image_voxels >= 1, f"conversion.max_image_voxels must be >= 1, got {self.max_image_voxels}")


@dataclass(frozen=True)
class NnunetConfig:
    """nnU-Net planning, training and prediction.

    Attributes:
        profile: ``quick`` (light plan + short schedule for CPU) or ``paper`` (nnU-Net
            defaults, GPU).
        folds: Folds to train.
        device: ``cpu`` or ``cuda``.
        num_processes: nnU-Net's ``nnUNet_def_n_proc`` (also caps torch threads).
        num_processes_da: nnU-Net's ``nnUNet_n_proc_DA`` (0 = augment in main process).
        mirroring: Test-time mirroring at prediction; ``None`` = the profile's (quick: off,
            paper: on).
        num_epochs: Optional override of the profile's epoch count (``None`` = the profile's).
        iterations_per_epoch: Optional override of the profile's iterations per epoch.
        val_iterations_per_epoch: Optional override of the profile's validation iterations
            per epoch (the paper profile's 50 cost most of a CPU epoch).
        patch_voxel_budget: Optional override of the profile's most voxels per 3-D patch
            (the derived quick plan shrinks nnU-Net's patch until it fits).
        seed: Seed for torch / numpy during training (``None`` = ``seeds.report``).
    """

    profile: str = "quick"
    folds: tuple[int, ...] = (0, 1, 2, 3, 4)
    device: str = "cpu"
    num_processes: int = 2
    num_processes_da: int = 0
    mirroring: Optional[bool] = None
    num_epochs: Optional[int] = None
    iterations_per_epoch: Optional[int] = None
    val_iterations_per_epoch: Optional[int] = None
    patch_voxel_budget: Optional[int] = None
    seed: Optional[int] = None

    def __post_init__(self) -> None:
        _require(self.profile in PROFILES, f"nnunet.profile must be one of {PROFILES}, got {self.profile!r}")
        _require(self.device in DEVICES, f"nnunet.device must be one of {DEVICES}, got {self.device!r}")
        _require(len(self.folds) > 0 and all(0 <= f < 10 for f in self.folds), f"nnunet.folds invalid: {self.folds}")
        _require(len(set(self.folds)) == len(self.folds), f"nnunet.folds repeats a fold: {self.folds}")
        _require(self.num_processes >= 1, "nnunet.num_processes must be >= 1")
        _require(self.num_processes_da >= 0, "nnunet.num_processes_da must be >= 0")
        for name in ("num_epochs", "iterations_per_epoch", "val_iterations_per_epoch"):
            value = getattr(self, name)
            _require(value is None or value >= 1, f"nnunet.{name} must be >= 1, got {value}")
        _require(self.patch_voxel_budget is None or self.patch_voxel_budget >= 4096,
                 f"nnunet.patch_voxel_budget must be >= 4096 voxels (16^3), got {self.patch_voxel_budget}")


@dataclass(frozen=True)
class FeatureConfig:
    """Radiomic and shape feature extraction.

    Attributes:
        params_file: pyradiomics parameter YAML; ``None`` uses the one shipped in
            ``classifiers/radiomics_fm_t1.yaml``.
        jobs: Worker processes (the local path; a Dask cluster is chosen by ``cluster.scheduler``).
        max_shape_surface_faces: Largest mask surface (exposed voxel faces) for which
            pyradiomics' 3-D shape class runs; above it the shape features are NaN and the
            ``shape_note`` column says why (its cost grows with the square of the mesh
            size: one huge fragmented mask took 230 s). ``None`` = no limit.
    """

    params_file: Optional[str] = None
    jobs: int = 2
    max_shape_surface_faces: Optional[int] = 100_000

    def __post_init__(self) -> None:
        _require(self.jobs >= 1, f"features.jobs must be >= 1, got {self.jobs}")
        _require(self.max_shape_surface_faces is None or self.max_shape_surface_faces >= 1,
                 f"features.max_shape_surface_faces must be >= 1 or null, got {self.max_shape_surface_faces}")


@dataclass(frozen=True)
class ClassifierConfig:
    """XGBoost axSpA classifier.

    Attributes:
        seed: ``random_state`` of the pipeline and its inner cross-validation (``None`` =
            ``seeds.report``).
        inner_cv_folds: Folds of the inner (hyper-parameter) cross-validation.
        n_iter: Randomised-search candidates.
        max_features: Features kept by the selection step.
        robust_icc_tau: Robust-feature classifier: only features whose training-case
            ICC(A,1) (out-of-fold predicted vs reference masks) is at least this enter
            a second classifier (``classifier_robust/``); ``None`` = not run.
    """

    seed: Optional[int] = None
    inner_cv_folds: int = 3
    n_iter: int = 12
    max_features: int = 20
    robust_icc_tau: Optional[float] = 0.75

    def __post_init__(self) -> None:
        _require(2 <= self.inner_cv_folds <= 10, "classifier.inner_cv_folds must be 2-10")
        _require(self.n_iter >= 1, "classifier.n_iter must be >= 1")
        _require(self.max_features >= 1, "classifier.max_features must be >= 1")
        _require(self.robust_icc_tau is None or 0.0 <= self.robust_icc_tau <= 1.0,
                 f"classifier.robust_icc_tau must lie in [0, 1] or be null, got {self.robust_icc_tau}")


@dataclass(frozen=True)
class StatsConfig:
    """ROC statistics.

    Attributes:
        n_bootstrap: Stratified bootstrap resamples (pROC default 2000).
        seed: Bootstrap seed (``None`` = ``seeds.report``).
        ci_level: Confidence level.
    """

    n_bootstrap: int = 2000
    seed: Optional[int] = None
    ci_level: float = 0.95

    def __post_init__(self) -> None:
        _require(self.n_bootstrap >= 100, "stats.n_bootstrap must be >= 100")
        _require(0.5 < self.ci_level < 1, "stats.ci_level must be in (0.5, 1)")


@dataclass(frozen=True)
class ReaderStudyConfig:
    """Simulated reader study on the synthetic cohort.

    Attributes:
        seed: Seed of the reader perturbation model (``None`` = ``seeds.report``).
    """

    seed: Optional[int] = None


@dataclass(frozen=True)
class FeatureStudyConfig:
    """Radiomics feature study (robustness, univariate analysis, SHAP; ``nnunet-fm feature-study``).

    Attributes:
        icc_thresholds: ICC(A,1) levels whose feature counts and lists are reported.
        skew_threshold: Skewness above which a strictly positive feature is log-transformed
            before the ICC (:func:`classifiers.feature_study.choose_transform`).
        top_n: Features shown in the report's top tables and in the SHAP plots.
        fdr_alpha: Benjamini-Hochberg level at which a univariate test counts as significant.
    """

    icc_thresholds: tuple[float, ...] = (0.75, 0.9)
    skew_threshold: float = 1.0
    top_n: int = 15
    fdr_alpha: float = 0.05

    def __post_init__(self) -> None:
        _require(len(self.icc_thresholds) >= 1 and all(0.0 <= t <= 1.0 for t in self.icc_thresholds),
                 "feature_study.icc_thresholds must be one or more values in [0, 1]")
        _require(self.skew_threshold > 0, "feature_study.skew_threshold must be > 0")
        _require(1 <= self.top_n <= 200, "feature_study.top_n must be 1-200")
        _require(0.0 < self.fdr_alpha < 1.0, "feature_study.fdr_alpha must be in (0, 1)")


@dataclass(frozen=True)
class RunConfig:
    """Whole-study run.

    Attributes:
        name: Run name; results go to ``out_dir/name``.
        data_dir: User data laid out as the converter expects; ``None`` = synthetic cohort.
        out_dir: Folder of reports (``results/runs``, git-ignored: a user's run never
            overwrites the committed reference run in ``results/quick-synthetic``).
        work_dir: Folder of large intermediate data (raw, preprocessed, models, masks).
        seeds: Report and development seeds; each section's ``seed`` left unset resolves
            to ``seeds.report`` here, so the resolved config names every stage's seed.
        cluster: Where per-item tasks run (``none``, ``local``, ``tcp://...``, ``slurm``).
    """

    name: str = "quick-synthetic"
    data_dir: Optional[str] = None
    out_dir: str = "results/runs"
    work_dir: str = "work_runs"
    seeds: SeedsConfig = field(default_factory=SeedsConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    conversion: ConversionConfig = field(default_factory=ConversionConfig)
    nnunet: NnunetConfig = field(default_factory=NnunetConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    reader_study: ReaderStudyConfig = field(default_factory=ReaderStudyConfig)
    feature_study: FeatureStudyConfig = field(default_factory=FeatureStudyConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    def __post_init__(self) -> None:
        _require(bool(self.name) and "/" not in self.name and not self.name.startswith("."),
                 f"name must be a plain folder name, got {self.name!r}")
        for section in SEEDED_SECTIONS:  # one source: an unset stage seed is the report seed
            settings = getattr(self, section)
            if settings.seed is None:
                object.__setattr__(self, section, dataclasses.replace(settings, seed=self.seeds.report))

    @property
    def data_source(self) -> str:
        """Human-readable data source, written into every report heading."""
        if self.data_dir is None:
            return f"synthetic two-center SIJ phantom cohort (scale {self.synth.scale:g}, seed {self.synth.seed})"
        return f"user data ({Path(self.data_dir).name})"  # the folder's name: reports stay portable

    @property
    def stage_seeds(self) -> dict[str, int]:
        """Seed of every seeded section (resolved: never ``None``)."""
        return {section: getattr(self, section).seed for section in SEEDED_SECTIONS}

    @property
    def uses_report_seed(self) -> bool:
        """True when every stage runs on ``seeds.report`` (the seed nothing was tuned on)."""
        return set(self.stage_seeds.values()) == {self.seeds.report}

    @property
    def is_synthetic(self) -> bool:
        """True when the run uses the embedded synthetic cohort."""
        return self.data_dir is None


def from_dict(cls: type, data: dict[str, Any] | None, where: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, rejecting unknown keys.

    Args:
        cls: A (frozen) dataclass type.
        data: Mapping of field values; nested dataclasses take nested mappings.
        where: Dotted prefix for error messages.

    Raises:
        ConfigError: Unknown key, wrong type or invalid value.
    """
    data = dict(data or {})
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    _require(not unknown, f"unknown config key(s) {', '.join(where + k for k in unknown)}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, where + name)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc
    except ClusterConfigError as exc:
        raise ConfigError(str(exc)) from None


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        _require(isinstance(value, dict), f"{where} must be a mapping")
        return from_dict(hint, value, where + ".")
    if origin is Union:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in get_args(hint) if a is not type(None)][0]
        return _coerce(inner, value, where)
    if origin is tuple:
        _require(isinstance(value, (list, tuple)), f"{where} must be a list")
        inner = get_args(hint)[0]
        return tuple(_coerce(inner, v, where) for v in value)
    if hint is float:
        _require(isinstance(value, (int, float)) and not isinstance(value, bool), f"{where} must be a number, got {value!r}")
        return float(value)
    if hint is int:
        _require(isinstance(value, int) and not isinstance(value, bool), f"{where} must be an integer, got {value!r}")
        return value
    if hint is bool:
        _require(isinstance(value, bool), f"{where} must be true/false, got {value!r}")
        return value
    if hint is str:
        _require(isinstance(value, str), f"{where} must be a string, got {value!r}")
        return value
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict of a config dataclass (tuples become lists, YAML-friendly)."""

    def convert(v: Any) -> Any:
        if isinstance(v, tuple):
            return [convert(x) for x in v]
        if isinstance(v, dict):
            return {k: convert(x) for k, x in v.items()}
        return v

    return convert(dataclasses.asdict(config))


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``overrides`` into a copy of ``base``."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def migrate_deprecated_keys(data: dict[str, Any], path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Config files written by earlier versions, read the current way.

    ``features.dask_address`` (before the ``cluster`` section took over every Dask
    setting): ``null`` is dropped; an address becomes ``cluster.scheduler`` unless that
    says something else, which is an error (two settings for one thing).

    Raises:
        ConfigError: ``features.dask_address`` and ``cluster.scheduler`` disagree.
    """
    features = data.get("features")
    if not isinstance(features, dict) or "dask_address" not in features:
        return data
    features = dict(features)
    address = features.pop("dask_address")
    out = {**data, "features": features}
    if address is None:
        return out
    cluster = dict(data.get("cluster") or {})
    where = f"{path}: " if path is not None else ""
    current = cluster.get("scheduler", "none")
    _require(current in ("none", address),
             f"{where}features.dask_address ({address}) is replaced by cluster.scheduler, which says {current!r}; "
             f"keep cluster.scheduler only")
    cluster["scheduler"] = address
    LOG.warning("%sfeatures.dask_address is deprecated: read as cluster.scheduler: %s", where, address)
    return {**out, "cluster": cluster}


def load_run_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Load a :class:`RunConfig` from YAML (optional) plus nested ``overrides``.

    Args:
        path: YAML file; ``None`` starts from the defaults.
        overrides: Nested mapping applied on top (e.g. from command-line flags).

    Raises:
        ConfigError: Unreadable, empty or non-mapping YAML (``!!python`` tags refused), unknown
            keys or invalid values (the message names the file).
        FileNotFoundError: ``path`` does not exist.
    """
    from nnunet_fm.input_checks import YamlError, load_yaml_checked

    data: dict[str, Any] = {}
    if path is not None:
        if not Path(path).exists():
            raise FileNotFoundError(f"config file {path} does not exist")
        try:  # an empty file is an error: never label a run with defaults it did not choose
            data = load_yaml_checked(path, "config file")
        except YamlError as exc:
            raise ConfigError(str(exc)) from None
    data = merge(migrate_deprecated_keys(data, path), overrides or {})
    try:
        return from_dict(RunConfig, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path is not None else str(exc)) from None


def dump_yaml(config: Any) -> str:
    """YAML text of a config dataclass."""
    import yaml

    return yaml.safe_dump(to_dict(config), sort_keys=False)
