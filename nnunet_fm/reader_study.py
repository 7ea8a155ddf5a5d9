"""Reader study: readers' DSC against a reference, paired tests, inter-reader agreement.

The per-case table is long ("tidy"), one row per (case, comparison):

| column | meaning |
|---|---|
| comparison | ``vs_reference`` (reader vs reference mask) or ``inter_reader`` |
| case_id | case id (file name without volume suffix) |
| reader | reader name |
| other | ``reference`` for ``vs_reference`` rows, else the second reader's name |
| dice | per-case DSC (both masks empty = 1, one empty = 0) |

Statistics (pure functions over that table):

* Per reader: mean ± SD over cases of DSC vs the reference, SD with ddof = 1.
* Paired comparison of readers A and B: two-sided Wilcoxon signed-rank test
  (``scipy.stats.wilcoxon`` with its defaults: ``zero_method="wilcox"`` drops zero
  differences, ``method="auto"``) on the per-case differences d = DSC_A - DSC_B.
  Effect size: matched-pairs rank-biserial correlation (Kerby 2014),
  r = (R+ - R-) / (R+ + R-), where R+ and R- are the sums of the ranks of |d| (average
  ranks for ties) over the non-zero differences with d > 0 and d < 0. r lies in [-1, 1];
  r > 0 means A scores higher. When every difference is zero: statistic 0, p = 1, r = 0.
* Inter-reader agreement: per-case DSC between every two readers, mean ± SD (ddof = 1).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from nnunet_fm.image_io import GEOMETRY_TOLERANCE

LOG = logging.getLogger(__name__)

#: Name used in the ``other`` column for the reference masks; not allowed as a reader name.
REFERENCE_NAME = "reference"

#: Columns of ``reader_study.csv``.
TABLE_COLUMNS = ("comparison", "case_id", "reader", "other", "dice")


def parse_reader_specs(specs: Sequence[str]) -> dict[str, Path]:
    """Parse ``NAME=DIR`` strings into an ordered name -> folder mapping.

    Raises:
        ValueError: Malformed spec, reserved or repeated name.
    """
    readers: dict[str, Path] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        name = name.strip()
        if not sep or not name or not folder:
            raise ValueError(f"reader '{spec}': expected NAME=DIR")
        if any(c in name for c in ":=,") or name == REFERENCE_NAME:
            raise ValueError(f"reader name '{name}' is not allowed (reserved, or holds ':', '=' or ',')")
        if name in readers:
            raise ValueError(f"reader '{name}' given twice")
        readers[name] = Path(folder)
    if not readers:
        raise ValueError("at least one reader is needed")
    return readers


def parse_pairs(specs: Sequence[str], readers: Sequence[str]) -> list[tuple[str, str]]:
    """Parse ``NAME_A:NAME_B`` strings; both names must be known readers.

    Raises:
        ValueError: Malformed pair, unknown reader or a reader paired with itself.
    """
    pairs = []
    for spec in specs:
        a, sep, b = spec.partition(":")
        if not sep or not a or not b:
            raise ValueError(f"pair '{spec}': expected NAME_A:NAME_B")
        unknown = [n for n in (a, b) if n not in readers]
        if unknown:
            raise ValueError(f"pair '{spec}': unknown reader(s) {unknown}; readers are {list(readers)}")
        if a == b:
            raise ValueError(f"pair '{spec}': a reader cannot be compared with itself")
        pairs.append((a, b))
    return pairs


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    from nnunet_fm.seg_metrics import dice

    return dice(a, b)


def case_dice_rows(case_id: str, ref_path: str, reader_paths: Mapping[str, str],
                   geometry_tolerance: float = GEOMETRY_TOLERANCE) -> list[dict[str, Any]]:
    """Table rows of one case: each reader vs the reference, and every two readers.

    Raises:
        ImageReadError, GeometryMismatchError, ValueError: named with case and reader.
    """
    from nnunet_fm.image_io import ImageReadError, check_same_geometry, read_image
    from nnunet_fm.seg_metrics import mask_array

    try:
        ref_image = read_image(ref_path)
    except ImageReadError as exc:
        raise ImageReadError(f"case {case_id}: reference mask: {exc}") from None
    ref = mask_array(ref_image, f"case {case_id}: reference mask")
    masks = {}
    for name, path in reader_paths.items():
        what = f"case {case_id}: reader {name} mask"
        try:
            image = read_image(path)
        except ImageReadError as exc:
            raise ImageReadError(f"{what}: {exc}") from None
        check_same_geometry(ref_image, image, geometry_tolerance, what=what)
        masks[name] = mask_array(image, what)
    rows = [{"comparison": "vs_reference", "case_id": case_id, "reader": name, "other": REFERENCE_NAME,
             "dice": _dice(ref, mask)} for name, mask in masks.items()]
    for a, b in itertools.combinations(masks, 2):
        rows.append({"comparison": "inter_reader", "case_id": case_id, "reader": a, "other": b,
                     "dice": _dice(masks[a], masks[b])})
    return rows


def _case_star(task: tuple) -> list[dict[str, Any]]:
    return case_dice_rows(*task)


def compute_dice_table(reference_dir: str | os.PathLike, readers: Mapping[str, str | os.PathLike],
                       jobs: int = 1, geometry_tolerance: float = GEOMETRY_TOLERANCE, progress: bool = True):
    """Per-case DSC table of a reader study (see module docstring for its columns).

    Args:
        reference_dir: Folder of reference masks.
        readers: Reader name -> folder of that reader's masks (file names as the reference).
        jobs: Worker processes.
        geometry_tolerance: Tolerance of the grid check.
        progress: Show a tqdm bar on stderr.

    Raises:
        ValueError: A reader lacks a case of the reference or has an extra one (named).
    """
    import pandas as pd

    from nnunet_fm.seg_evaluation import match_case_files

    start = time.perf_counter()
    paths: dict[str, dict[str, str]] = {}
    for name, folder in readers.items():
        try:
            pairs = match_case_files(folder, reference_dir)
        except ValueError as exc:
            raise ValueError(f"reader {name}: {exc}") from None
        for case_id, ref_path, reader_path in pairs:
            paths.setdefault(case_id, {"": str(ref_path)})[name] = str(reader_path)
    tasks = [(case_id, files.pop(""), files, geometry_tolerance) for case_id, files in sorted(paths.items())]
    from nnunet_fm.parallel import map_with_progress

    nested = map_with_progress(_case_star, tasks, jobs, "reader-study", progress)
    table = pd.DataFrame([row for rows in nested for row in rows], columns=list(TABLE_COLUMNS))
    LOG.info("reader study: %d cases, %d readers in %.1f s", len(tasks), len(readers), time.perf_counter() - start)
    return table


def _mean_sd(values) -> dict[str, Any]:
    values = np.asarray(values, float)
    return {
        "n_cases": int(values.size),
        "mean_dice": float(values.mean()) if values.size else math.nan,
        "sd_dice": float(values.std(ddof=1)) if values.size > 1 else math.nan,
    }


def reader_summary(table) -> dict[str, dict[str, Any]]:
    """Mean ± SD (ddof = 1) of each reader's DSC against the reference."""
    rows = table[table["comparison"] == "vs_reference"]
    return {name: _mean_sd(group["dice"]) for name, group in rows.groupby("reader", sort=False)}


def rank_biserial(differences: Sequence[float]) -> float:
    """Matched-pairs rank-biserial correlation of paired differences (zeros dropped).

    Returns:
        (R+ - R-) / (R+ + R-) with average ranks of |d|; 0.0 when every difference is zero.
    """
    from scipy.stats import rankdata

    d = np.asarray(differences, float)
    d = d[d != 0]
    if d.size == 0:
        return 0.0
    ranks = rankdata(np.abs(d))
    r_plus, r_minus = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((r_plus - r_minus) / (r_plus + r_minus))


def paired_wilcoxon(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Two-sided Wilcoxon signed-rank test of paired values a vs b, with effect size.

    Returns:
        ``n`` (pairs), ``n_nonzero``, ``statistic`` (scipy's: min(R+, R-)), ``p_value``,
        ``rank_biserial`` (> 0: a higher), ``mean_difference`` and ``median_difference``
        of a - b.
    """
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-D arrays of one length; got {a.shape} and {b.shape}")
    if a.size == 0 or np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("paired values must be non-empty and free of NaN")
    d = a - b
    n_nonzero = int(np.count_nonzero(d))
    if n_nonzero == 0:
        statistic, p_value = 0.0, 1.0  # scipy's answer too, without its divide warning
    else:
        result = wilcoxon(a, b, alternative="two-sided")
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return {
        "n": int(a.size), "n_nonzero": n_nonzero, "statistic": statistic, "p_value": p_value,
        "rank_biserial": rank_biserial(d),
        "mean_difference": float(d.mean()), "median_difference": float(np.median(d)),
    }


def compare_readers(table, pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Paired Wilcoxon of DSC vs reference for each (A, B) pair, matched by case id.

    Raises:
        ValueError: A reader has no rows, or A and B were scored on different cases.
    """
    rows = table[table["comparison"] == "vs_reference"]
    wide = rows.pivot(index="case_id", columns="reader", values="dice")
    out = []
    for a, b in pairs:
        for name in (a, b):
            if name not in wide.columns:
                raise ValueError(f"reader {name} has no cases in the table")
        both = wide[[a, b]]
        unpaired = both.index[both.isna().any(axis=1)].tolist()
        if unpaired:
            raise ValueError(f"readers {a} and {b} are not paired on case(s) {unpaired[:20]}")
        result = {"reader_a": a, "reader_b": b, "test": "wilcoxon signed-rank, two-sided",
                  "effect_size": "matched-pairs rank-biserial correlation (a - b)"}
        result.update(paired_wilcoxon(both[a].to_numpy(), both[b].to_numpy()))
        out.append(result)
    return out


def inter_reader_agreement(table) -> list[dict[str, Any]]:
    """Mean ± SD (ddof = 1) of the per-case DSC between every two readers."""
    rows = table[table["comparison"] == "inter_reader"]
    out = []
    for (a, b), group in rows.groupby(["reader", "other"], sort=False):
        entry = {"reader_a": a, "reader_b": b}
        entry.update(_mean_sd(group["dice"]))
        out.append(entry)
    return out


def study_summary(table, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Everything of ``reader_study.json``: per-reader DSC, paired tests, agreement."""
    return {
        "definitions": {
            "dice": "2|A∩B|/(|A|+|B|); both empty = 1",
            "sd": "sample SD over cases, ddof=1",
            "test": "scipy.stats.wilcoxon two-sided, zero_method='wilcox', method='auto', on DSC_a - DSC_b",
            "effect_size": "matched-pairs rank-biserial r = (R+ - R-)/(R+ + R-); r > 0: reader_a higher",
        },
        "n_cases": int(table["case_id"].nunique()),
        "readers": reader_summary(table),
        "paired_tests": compare_readers(table, pairs),
        "inter_reader_agreement": inter_reader_agreement(table),
    }
