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
import re
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
        given = [dest for dest, dotted in flags.items()  # the message may start with the config file's name
                 if getattr(args, dest, None) is not None and re.search(rf"(^|: ){re.escape(dotted)}\b", str(exc))]
        if given:  # name the flag the user typed, not only the config field behind it
            raise ConfigError(f"--{given[0].replace('_', '-')} {getattr(args, given[0])}: {exc}") from None
        raise


def consumed_fields(flags: Mapping[str, str], *extra: str) -> tuple[str, ...]:
    """Dotted config fields a verb consumes: those behind its flags plus ``extra`` ones read directly."""
    return tuple(dict.fromkeys([*flags.values(), *extra]))


def cluster_fields() -> tuple[str, ...]:
    """Dotted fields of the ``cluster:`` section (a verb that passes ``config.cluster`` on consumes them all)."""
    import dataclasses

    from nnunet_fm.cluster import ClusterConfig

    return tuple(f"cluster.{f.name}" for f in dataclasses.fields(ClusterConfig))


def add_scheduler_argument(parser: argparse.ArgumentParser) -> None:
    """``--scheduler none|local|slurm|tcp://host:port`` (config ``cluster.scheduler``)."""
    parser.add_argument("--scheduler", default=None, metavar="KIND",
                        help="where per-item tasks run: none (local processes), local (Dask LocalCluster), "
                             "slurm (dask-jobqueue) or tcp://host:port (default: the config's cluster.scheduler, none)")


def cluster_keyword(function, config) -> dict[str, Any]:
    """``{"cluster": config.cluster}`` when ``function`` takes a ``cluster`` argument, else ``{}``.

    Lets a verb pass the cluster settings to a stage function as soon as that function
    accepts them; with ``cluster.scheduler: none`` nothing is passed (today's local path).
    """
    import inspect

    if config.cluster.scheduler == "none":
        return {}
    if "cluster" not in inspect.signature(function).parameters:
        raise ValueError(f"cluster.scheduler {config.cluster.scheduler!r}: {function.__module__}."
                         f"{function.__name__} cannot run on a cluster yet; use --scheduler none")
    return {"cluster": config.cluster}
