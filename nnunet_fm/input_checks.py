"""Reusable validators for options, paths, CSV tables, YAML files and ROC scores.

Every check fails with one line that names the culprit (option, file, row, column) and
raises a ``ValueError``/``FileNotFoundError`` subclass, which the CLI turns into a clean
error message. argparse ``type=`` factories raise ``argparse.ArgumentTypeError`` so argparse
prefixes the option name itself.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

LOG = logging.getLogger(__name__)

#: Longest cell text echoed in an error message (a file may hold anything, e.g. secrets).
_ECHO_CHARS = 40


class NotRegularFileError(ValueError):
    """A path exists but is a folder, pipe, socket or device instead of a regular file."""


class TableError(ValueError):
    """A CSV table is unreadable or breaks its contract; the message names file, row, column."""


class YamlError(ValueError):
    """A YAML file is unreadable, malformed, empty or uses a forbidden tag."""


class ScoreError(ValueError):
    """Scores cannot be used for a ROC analysis (non-finite values, duplicate ids)."""


# ------------------------------------------------------------------------- numbers


def check_finite(value: Any, name: str, minimum: float | None = None, maximum: float | None = None,
                 *, min_inclusive: bool = True, max_inclusive: bool = True) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` naming ``name``.

    Args:
        value: Number (or numeric text) to check.
        name: Option or field name used in the message (e.g. ``--nsd-tolerance-mm``).
        minimum: Smallest allowed value (``None``: no bound).
        maximum: Largest allowed value (``None``: no bound).
        min_inclusive: Whether ``minimum`` itself is allowed.
        max_inclusive: Whether ``maximum`` itself is allowed.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {_echo(value)}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {_echo(value)}")
    too_small = minimum is not None and (number < minimum or (not min_inclusive and number == minimum))
    too_large = maximum is not None and (number > maximum or (not max_inclusive and number == maximum))
    if too_small or too_large:
        raise ValueError(f"{name} must be {_range_text(minimum, maximum, min_inclusive, max_inclusive)}, "
                         f"got {number:g}")
    return number


def _range_text(minimum, maximum, min_inclusive, max_inclusive) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>=' if min_inclusive else '>'} {minimum:g}")
    if maximum is not None:
        parts.append(f"{'<=' if max_inclusive else '<'} {maximum:g}")
    return " and ".join(parts)


def finite_float(minimum: float | None = None, maximum: float | None = None, *, min_inclusive: bool = True,
                 max_inclusive: bool = True) -> Callable[[str], float]:
    """argparse ``type=`` for a finite float in a range (refuses ``nan``, ``inf``, ``1e400``).

    Example: ``parser.add_argument("--geometry-tolerance", type=finite_float(0, 1))``.
    """
    def parse(text: str) -> float:
        try:
            return check_finite(text, "value", minimum, maximum, min_inclusive=min_inclusive,
                                max_inclusive=max_inclusive)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("value must", "must", 1)) from None

    parse.__name__ = "finite number"  # argparse uses it in "invalid <name> value"
    return parse


def int_in_range(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """argparse ``type=`` for a whole number in ``[minimum, maximum]`` (``"2.5"``, ``"1e3"`` refused)."""
    def parse(text: str) -> int:
        try:
            number = int(str(text).strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {_echo(text)}") from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise argparse.ArgumentTypeError(f"must be {_range_text(minimum, maximum, True, True)}, got {number}")
        return number

    parse.__name__ = "whole number"
    return parse


def positive_int(text: str) -> int:
    """argparse ``type=`` for a whole number >= 1 (e.g. ``--n-boot``, ``--jobs``)."""
    return int_in_range(1)(text)


# ------------------------------------------------------------------------- paths


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def require_regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Return ``path`` if it is a regular file (a symlink to one is fine); never opens it.

    Raises:
        FileNotFoundError: Missing path or broken symbolic link.
        NotRegularFileError: A folder, named pipe, socket or device (reading those can hang).
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        broken = os.path.islink(path)
        problem = "is a broken symbolic link" if broken else "does not exist"
        raise FileNotFoundError(f"{what} {path} {problem}") from None
    except OSError as exc:
        raise NotRegularFileError(f"{what} {path} cannot be inspected ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise NotRegularFileError(f"{what} {path} is {_kind(mode)}, not a regular file")
    return path


def existing_regular_file(text: str) -> Path:
    """argparse ``type=`` for an input file that must exist and be a regular file."""
    try:
        return require_regular_file(text, "")
    except (FileNotFoundError, NotRegularFileError) as exc:
        raise argparse.ArgumentTypeError(str(exc).strip()) from None


def existing_directory(text: str) -> Path:
    """argparse ``type=`` for an input folder (says "is a file" instead of "does not exist")."""
    path = Path(text)
    if path.is_dir():
        return path
    if os.path.lexists(path):
        kind = "a file" if path.is_file() else "not a folder"
        raise argparse.ArgumentTypeError(f"{path} is {kind}; expected a folder")
    raise argparse.ArgumentTypeError(f"folder {path} does not exist")


def _first_existing_ancestor(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _check_writable_parent(path: Path) -> None:
    ancestor = _first_existing_ancestor(path.parent)
    if not ancestor.is_dir():
        raise argparse.ArgumentTypeError(f"{path}: {ancestor} is a file, so the output cannot be created under it")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{path}: folder {ancestor} is not writable")


def output_file_path(text: str) -> Path:
    """argparse ``type=`` for an output file: not an existing folder, creatable in a writable folder."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; expected an output file name")
    if os.path.lexists(path) and not path.is_file():
        raise argparse.ArgumentTypeError(f"{path} exists and is not a regular file")
    _check_writable_parent(path)
    return path


def output_dir_path(text: str) -> Path:
    """argparse ``type=`` for an output folder: not an existing file, creatable in a writable folder."""
    path = Path(text)
    if os.path.lexists(path) and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} exists and is a file; expected an output folder")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"output folder {path} is not writable")
        return path
    _check_writable_parent(path)
    return path


def check_inside(path: str | os.PathLike, root: str | os.PathLike, what: str = "path") -> Path:
    """Resolve ``path`` (following symlinks) and refuse it unless it lies inside ``root``.

    The check is on resolved paths, so a symlink inside ``root`` that points outside it is
    refused (a lexical ``..`` check misses that).

    Returns:
        The resolved path.
    """
    resolved, base = Path(path).resolve(), Path(root).resolve()
    if resolved != base and base not in resolved.parents:
        raise ValueError(f"{what} {path} resolves to {resolved}, outside {base}")
    return resolved


# ------------------------------------------------------------------------- CSV


def _echo(value: Any) -> str:
    """Short, quoted rendering of untrusted text for error messages."""
    text = str(value)
    return repr(text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + "...")


def _read_header(path: Path, sep: str, encoding: str) -> list[str]:
    """The header row; raises ``ParserError`` for any row with more fields than the header.

    ``pandas.read_csv`` would otherwise take a row with one extra field as an implicit
    index and silently shift every column of that row.
    """
    import pandas as pd

    raw = pd.read_csv(path, sep=sep, encoding=encoding, header=None, dtype=str, keep_default_na=False)
    return [str(name) for name in raw.iloc[0].tolist()] if len(raw) else []


def _line_of(exc: Exception) -> str:
    match = re.search(r"(line|row) (\d+)", str(exc))
    if not match:
        return "a row"
    # pandas counts "line"s from 1 but "row"s from 0
    return f"line {int(match.group(2)) + (match.group(1) == 'row')}"


def read_csv_checked(path: str | os.PathLike, required_columns: Iterable[str] = (),
                     numeric_columns: Iterable[str] = (), *, what: str = "CSV file", sep: str = ",",
                     allow_missing_numbers: bool = True, **read_csv_kwargs: Any):
    """Read a UTF-8 CSV (a BOM is fine) with ``pandas.read_csv``; every failure names the file.

    Refused, with file and where: not a regular file, not UTF-8 (byte offset), empty, a
    malformed row (line number, e.g. an extra field), duplicated header names, missing
    ``required_columns``, and in ``numeric_columns`` text, ``inf`` or overflowing numbers
    such as ``1e400`` (column and line; line 1 is the header), and empty cells unless
    ``allow_missing_numbers``.

    Args:
        path: The CSV file.
        required_columns: Columns that must be present.
        numeric_columns: Columns converted to float and checked to be finite.
        what: How the file is called in messages (e.g. ``"clinical sheet"``).
        sep: Field separator.
        allow_missing_numbers: Accept empty cells in ``numeric_columns`` (become NaN).
        **read_csv_kwargs: Passed to ``pandas.read_csv`` (e.g. ``dtype=str``).

    Returns:
        The DataFrame with ``numeric_columns`` as float64.
    """
    import pandas as pd

    path = require_regular_file(path, what)
    encoding = read_csv_kwargs.pop("encoding", "utf-8-sig")
    try:
        header = _read_header(path, sep, encoding)
        frame = pd.read_csv(path, sep=sep, encoding=encoding, **read_csv_kwargs)
    except UnicodeDecodeError as exc:
        raise TableError(f"{what} {path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                         f"{exc.start}); save it as UTF-8 CSV") from None
    except pd.errors.EmptyDataError:
        raise TableError(f"{what} {path} is empty (no header row)") from None
    except pd.errors.ParserError as exc:
        raise TableError(f"{what} {path}: malformed CSV at {_line_of(exc)} "
                         f"({str(exc).strip().splitlines()[-1][:120]})") from None
    except Exception as exc:  # e.g. csv "field larger than field limit": still name the file
        if isinstance(exc, (MemoryError, KeyboardInterrupt)):
            raise
        raise TableError(f"{what} {path}: cannot parse ({type(exc).__name__}: {str(exc)[:120]})") from None
    numeric_columns = list(numeric_columns)
    _check_header(path, what, header, list(required_columns) + numeric_columns)
    for column in numeric_columns:
        frame[column] = _finite_column(frame, column, path, what, allow_missing_numbers)
    return frame


def _check_header(path: Path, what: str, header: list[str], required: Iterable[str]) -> None:
    seen, duplicated = set(), []
    for name in header:
        if name in seen and name not in duplicated:
            duplicated.append(name)
        seen.add(name)
    if duplicated:
        raise TableError(f"{what} {path}: header names column(s) more than once: "
                         + ", ".join(_echo(n) for n in duplicated))
    missing = list(dict.fromkeys(c for c in required if c not in seen))
    if missing:
        # only the missing names: echoing the header would leak a symlinked file's first line
        raise TableError(f"{what} {path}: missing required column(s) {', '.join(missing)}")


def _finite_column(frame, column: str, path: Path, what: str, allow_missing: bool):
    import numpy as np
    import pandas as pd

    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").astype(np.float64)
    bad = values.isna() & raw.notna() & (raw.astype(str).str.strip().str.lower() != "nan")
    bad |= np.isinf(values)
    if not allow_missing:
        bad |= values.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise TableError(f"{what} {path}: column {column!r} line {row + 2}: {_echo(raw.iloc[row])} "
                         f"is not a finite number ({int(bad.sum())} such row(s))")
    return values


def check_case_collisions(ids: Sequence[str], column: str, source: str | os.PathLike = "") -> None:
    """Refuse ids that differ only in letter case or surrounding spaces (same patient twice?).

    Raises:
        TableError: Naming both spellings.
    """
    first: dict[str, str] = {}
    for value in ids:
        key = str(value).strip().casefold()
        if key in first and first[key] != value:
            raise TableError(f"{source}: column {column!r} holds {_echo(first[key])} and {_echo(value)}, "
                             "which differ only in case/spaces; use one spelling per patient")
        first.setdefault(key, value)


# ------------------------------------------------------------------------- YAML


def load_yaml_checked(path: str | os.PathLike, what: str = "YAML file", require_mapping: bool = True) -> Any:
    """``yaml.safe_load`` a file; every failure is one line naming the file (and line).

    Python tags (``!!python/...``) are refused, as are an empty file and, when
    ``require_mapping``, a top level that is not a mapping.
    """
    import yaml

    path = require_regular_file(path, what)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlError(f"{what} {path}: not UTF-8 text (byte offset {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise YamlError(f"{what} {path}: {_yaml_problem(exc)}") from None
    if data is None:
        raise YamlError(f"{what} {path} is empty")
    if require_mapping and not isinstance(data, dict):
        raise YamlError(f"{what} {path}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


def _yaml_problem(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
    problem = str(getattr(exc, "problem", "") or exc).strip().splitlines()[0]
    tag = re.search(r"tag '([^']+)'", problem)
    if tag:
        return f"{where}tag {tag.group(1).replace('tag:yaml.org,2002:', '!!')} is not allowed (plain YAML only)"
    return f"{where}invalid YAML ({problem})"


# ------------------------------------------------------------------------- ROC scores


def check_roc_scores(scores: Mapping[str, Any], ids: Sequence[Any] | None = None, *, source: str = "",
                     id_column: str = "case id") -> list[str]:
    """Check score columns before a ROC analysis.

    Args:
        scores: Column name -> 1-D numeric array (one entry per case).
        ids: Case ids in the same order (checked for duplicates), or ``None``.
        source: File name for messages.
        id_column: Name of the id column for messages.

    Returns:
        Warnings (also logged): a column whose scores are all equal (AUC 0.5 by construction).

    Raises:
        ScoreError: NaN or +-inf scores (names column and first row) or a duplicated id.
    """
    import numpy as np

    prefix = f"{source}: " if source else ""
    if ids is not None:
        seen: set = set()
        duplicated = [i for i in ids if i in seen or seen.add(i)]
        if duplicated:
            raise ScoreError(f"{prefix}{id_column} {_echo(duplicated[0])} appears more than once "
                             f"({len(duplicated)} duplicate row(s)); each case must be scored once")
    warnings = []
    for column, values in scores.items():
        array = np.asarray(values, dtype=np.float64)
        bad = ~np.isfinite(array)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ScoreError(f"{prefix}score {column!r} has {int(bad.sum())} non-finite value(s) "
                             f"(first: {array[row]} in data row {row + 1})")
        if array.size and np.all(array == array[0]):
            warnings.append(f"{prefix}score {column!r} is constant ({array[0]:g}) for all {array.size} cases; "
                            "its AUC is 0.5 by construction")
    for message in warnings:
        LOG.warning("%s", message)
    return warnings
