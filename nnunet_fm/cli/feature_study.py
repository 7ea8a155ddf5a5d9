"""`nnunet-fm feature-study`: radiomics feature study of a run (robustness, univariate, SHAP, IBSI)."""

from __future__ import annotations

import argparse

from nnunet_fm.cli.settings import add_config_argument, consumed_fields

#: Flag -> config field it overrides.
CONFIG_FLAGS: dict[str, str] = {}
#: Config fields this verb uses.
CONSUMES = consumed_fields(CONFIG_FLAGS)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb."""
    parser = subparsers.add_parser(
        "feature-study", help="radiomics feature study of a run folder",
        description="Feature robustness (predicted vs reference masks), univariate tests with FDR, SHAP, "
        "IBSI settings; writes RUN/feature_study/.",
    )
    parser.add_argument("--run", default=None, help="run folder (results of a study)")
    add_config_argument(parser, "feature_study")
    return parser


def study_stage(config, paths):
    """The study's feature-study stage (not wired yet)."""
    return None


def run(args: argparse.Namespace) -> int:
    """Run the verb."""
    raise ValueError("feature-study: not implemented yet")
