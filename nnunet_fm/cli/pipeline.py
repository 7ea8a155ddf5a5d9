"""The study pipeline as the verbs define it: each verb module builds its own stage.

``nnunet-fm benchmark`` runs these stages in order (:mod:`benchmarks.engine.study`).
Every verb module in :data:`STAGE_VERBS` provides ``study_stage(config, paths)`` (a
``Stage``, or ``None`` when the verb does not run for this config) and ``CONSUMES`` (the
config fields it reads); :func:`consumers` is the registry a test checks against every
field of :class:`nnunet_fm.config.RunConfig`.
"""

from __future__ import annotations

import importlib

#: Verb modules of the study, in pipeline order.
STAGE_VERBS = ("synth", "convert", "train", "predict", "evaluate_seg", "features", "classify", "roc",
               "feature_study", "reader_study", "report")
#: Config fields that place the run's folders (consumed by the study's run layout, not by a verb).
RUN_LAYOUT_FIELDS = ("name", "out_dir", "work_dir")
#: Verbs that classify: skipped in a segmentation-only study (no diagnosis, or one class only).
CLASSIFICATION_VERBS = ("classify", "roc")
#: Config fields the study records in the run's provenance (the seeds each stage resolved from).
PROVENANCE_FIELDS = ("seeds.report", "seeds.development")


def verb_module(name: str):
    """The CLI module of verb ``name``."""
    return importlib.import_module(f"nnunet_fm.cli.{name}")


def study_prediction_sets(config) -> tuple[str, ...]:
    """Prediction sets (``oof`` + test sets) this study's cohort has: every set for the
    synthetic cohort, those its ``clinical.csv`` implies for user data (a cohort without an
    external centre has no ``external_test`` to predict, evaluate or extract)."""
    from dataset_conversion.study_design import prediction_sets_of_cohort

    return prediction_sets_of_cohort(config.data_dir)


def build_stages(config, paths) -> list:
    """The study pipeline for ``config``: every verb's own stage, in order.

    A verb that does not apply (its ``study_stage`` returns ``None``, or it classifies and
    the cohort is segmentation-only) becomes a skipped stage carrying the reason, so
    ``stages.json`` says why it did not run.
    """
    from benchmarks.engine.stage_runner import Stage
    from dataset_conversion.study_design import SEGMENTATION_ONLY, study_mode_with_reason

    mode, mode_reason = study_mode_with_reason(config.data_dir)
    stages = []
    for name in STAGE_VERBS:
        if mode == SEGMENTATION_ONLY and name in CLASSIFICATION_VERBS:
            stages.append(Stage(name, skip_reason=f"segmentation-only study: {mode_reason}"))
            continue
        stage = verb_module(name).study_stage(config, paths)
        stages.append(stage if stage is not None else Stage(name, skip_reason=_skip_reason(name, config)))
    return stages


def _skip_reason(verb: str, config) -> str:
    if verb == "synth":
        return "user data: no synthetic cohort is generated"
    if verb == "reader_study":
        return "the simulated reader study needs the synthetic cohort"
    return f"does not apply to this run ({config.data_source})"


def consumers() -> dict[str, list[str]]:
    """Dotted config field -> verbs (or ``run_layout``) that consume it."""
    registry: dict[str, list[str]] = {name: ["run_layout"] for name in RUN_LAYOUT_FIELDS}
    registry.update({name: ["provenance"] for name in PROVENANCE_FIELDS})
    for verb in STAGE_VERBS:
        for field in verb_module(verb).CONSUMES:
            registry.setdefault(field, []).append(verb)
    return registry
