"""One channel for settings: a verb's flags are overrides of the run config it reads.

Every verb that has settings in :class:`nnunet_fm.config.RunConfig` takes ``--config``
(the resolved ``config.yaml`` of a run, or any YAML) and declares ``CONFIG_FLAGS``:
argparse destination -> dotted config field. A flag that is given overrides the config;
a flag left out takes the config's value (or the dataclass default without ``--config``),
so a verb's default is always the config's default. The study passes each stage child
the run's ``config.yaml`` and only the file paths on the command line; the verb reads its
own section (:func:`resolve_config`).
"""

from __future__ import annotations

import argparse
from typing import Any, Mapping


def add_config_argument(parser: argparse.ArgumentParser, section: str) -> None:
    """``--config YAML``: the run config whose ``section`` this verb reads."""
    parser.add_argument("--config", default=None, metavar="YAML",
                        help=f"run config YAML (its {section} section supplies every setting not given as a flag)")


def overrides_from_flags(args: argparse.Namespace, flags: Mapping[str, str]) -> dict[str, Any]:
    """Nested config overrides from the flags in ``flags`` that were given on the command line."""
    overrides: dict[str, Any] = {}
    for dest, dotted in flags.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if isinstance(value, tuple):
            value = list(value)
        *sections, key = dotted.split(".")
        target = overrides
        for section in sections:
            target = target.setdefault(section, {})
        target[key] = value
    return overrides


def resolve_config(args: argparse.Namespace, flags: Mapping[str, str]):
    """The run config of a verb: ``--config`` (or the defaults) with the given flags applied.

    Raises:
        nnunet_fm.config.ConfigError: A flag or config value is out of range.
    """
    from nnunet_fm.config import ConfigError, load_run_config

    try:
        return load_run_config(getattr(args, "config", None), overrides_from_flags(args, flags))
    except ConfigError as exc:
        given = [dest for dest, dotted in flags.items()
                 if getattr(args, dest, None) is not None and str(exc).startswith(dotted)]
        if given:  # name the flag the user typed, not only the config field behind it
            raise ConfigError(f"--{given[0].replace('_', '-')} {getattr(args, given[0])}: {exc}") from None
        raise


def consumed_fields(flags: Mapping[str, str], *extra: str) -> tuple[str, ...]:
    """Dotted config fields a verb consumes: those behind its flags plus ``extra`` ones read directly."""
    return tuple(dict.fromkeys([*flags.values(), *extra]))
