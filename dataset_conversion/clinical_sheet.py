"""Read and validate a cohort's ``clinical.csv`` (ARCHITECTURE.md, contract 1).

Every fault is reported as a :class:`Problem` naming the patient (or the row, when the
patient id itself is the fault) so a user can fix the sheet without guessing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from nnunet_fm.contract import CLINICAL_OPTIONAL_COLUMNS, CLINICAL_REQUIRED_COLUMNS, DIAGNOSES, LINKED_ROOTS_FILE
from nnunet_fm.input_checks import TableError, check_case_collisions, check_inside, read_csv_checked

from dataset_conversion.splits import FIXED_SETS

REQUIRED_COLUMNS = CLINICAL_REQUIRED_COLUMNS
OPTIONAL_COLUMNS = CLINICAL_OPTIONAL_COLUMNS
CENTERS = (1, 2)
SEXES = ("F", "M")
#: Channel names when the sheet has a single ``image`` column and none are declared.
DEFAULT_CHANNEL_NAMES = ("T1",)
SHEET_NAME = "clinical.csv"

#: Patient ids: letters, digits, ``._-``; no path separators, no spaces, no leading dot.
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Problem:
    """One fault in the cohort, tied to a patient (or a sheet row)."""

    patient_id: str
    fault: str

    def __str__(self) -> str:
        return f"patient {self.patient_id}: {self.fault}"

    def to_dict(self) -> dict:
        return {"patient_id": self.patient_id, "fault": self.fault}


class CohortValidationError(ValueError):
    """The cohort cannot be converted; ``problems`` lists every fault found."""

    def __init__(self, problems: list[Problem], report_path: Path | None = None):
        self.problems = list(problems)
        self.report_path = report_path
        if len(self.problems) == 1 and report_path is None:  # the usual stop-at-first case: one line
            super().__init__(f"cohort problem: {self.problems[0]}")
            return
        head = f"{len(self.problems)} problem(s) in the cohort"
        lines = [f"  - {p}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more")
        tail = f"\nfull report: {report_path}" if report_path else ""
        super().__init__(head + ":\n" + "\n".join(lines) + tail)


@dataclass(frozen=True)
class PatientRow:
    """One validated row of ``clinical.csv``."""

    patient_id: str
    center: int
    diagnosis: str | None  # canonical "axSpA" / "non-axSpA"; None in a segmentation-only sheet
    age: int | None
    sex: str | None
    images: tuple[Path, ...]  # absolute, one per channel in channel order
    mask: Path  # absolute
    fixed_set: str | None = None  # the sheet's ``set`` value, None when it has none

    @property
    def image(self) -> Path:
        """The first channel's image."""
        return self.images[0]

    @property
    def label(self) -> int | None:
        """1 for axSpA, 0 for non-axSpA, None without a diagnosis."""
        return None if self.diagnosis is None else int(self.diagnosis == "axSpA")


@dataclass(frozen=True)
class ClinicalSheet:
    """``clinical.csv`` read and checked: valid rows, every problem, and its layout."""

    path: Path
    rows: list[PatientRow]
    problems: list[Problem]
    columns: tuple[str, ...] = ()
    image_columns: tuple[str, ...] = ()
    channel_names: tuple[str, ...] = DEFAULT_CHANNEL_NAMES


def normalise_diagnosis(value: str) -> str | None:
    """Canonical diagnosis for obvious spelling variants, ``None`` for anything else.

    Accepts case, whitespace, and ``-``/``_``/space/no-separator variants of ``axSpA``
    and ``non-axSpA`` (e.g. ``AXSPA``, ``non_axspa``, ``Non axSpA``); nothing else.
    """
    key = re.sub(r"[\s_-]+", "", str(value).strip().lower())
    return {"axspa": "axSpA", "nonaxspa": "non-axSpA"}.get(key)


def is_safe_id(value: str) -> bool:
    """True if ``value`` is a patient id that is safe in file names and logs."""
    return bool(_SAFE_ID.match(value)) and value not in (".", "..")


def _resolve_inside(cohort_dir: Path, relative: str) -> tuple[Path | None, str | None]:
    """Resolve a sheet path; refuse absolute paths and ``..`` escapes (the contract says relative)."""
    text = relative.strip()
    if not text:
        return None, "is empty"
    if os.path.isabs(text):
        return None, f"'{text}' is absolute; clinical.csv paths must be relative to the cohort folder"
    if ".." in Path(text).parts:
        return None, f"'{text}' leaves the cohort folder ('..')"
    return cohort_dir / text, None


def image_columns_for(columns: list[str], channel_names=None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Image column of each channel, and the channel names.

    One ``image`` column is one channel (named ``T1`` unless ``channel_names`` says
    otherwise). Several channels come from ``image_<name>`` columns (``image_t1``,
    ``image_stir``): in the declared order when ``channel_names`` is given, else in
    sheet order, named by the upper-cased suffix.

    Raises:
        ValueError: No image column, both layouts, a declared channel without its
            column, or bad channel names.
    """
    per_channel = [c for c in columns if c.lower().startswith("image_")]
    if channel_names is not None:
        names = tuple(str(n).strip() for n in channel_names)
        if not names or any(not n for n in names) or len({n.lower() for n in names}) != len(names):
            raise ValueError(f"channel names {list(channel_names)} must be non-empty and unique")
        if len(names) == 1 and "image" in columns and not per_channel:
            return ("image",), names
        wanted = tuple(f"image_{n.lower()}" for n in names)
        lower = {c.lower(): c for c in columns}
        missing = [w for w in wanted if w not in lower]
        if missing:
            raise ValueError(f"clinical.csv lacks the image column(s) {missing} of the channels {list(names)}")
        return tuple(lower[w] for w in wanted), names
    if "image" in columns and per_channel:
        raise ValueError(f"clinical.csv has both 'image' and {per_channel}; use one layout (or declare the "
                         "channel names)")
    if "image" in columns:
        return ("image",), DEFAULT_CHANNEL_NAMES
    if not per_channel:
        raise ValueError("clinical.csv lacks an image column: 'image', or one 'image_<sequence>' column per "
                         "channel (image_t1, image_stir, ...)")
    return tuple(per_channel), tuple(c[len("image_"):].upper() for c in per_channel)


def _parse_center(text: str) -> tuple[int | None, list[str]]:
    try:
        center = int(float(text)) if text else None  # inf / 1e400: OverflowError, same message
        if center is None or float(text) != center or center not in CENTERS:
            raise ValueError
    except (ValueError, OverflowError):
        return None, [f"center {text!r} is not one of {list(CENTERS)}"]
    return center, []


def _parse_clinical(record: dict[str, str], line_no: int) -> tuple[tuple, list[str]]:
    """(diagnosis, age, sex, set) of one record; empty or absent cells give None."""
    faults = []
    diagnosis = None
    if record.get("diagnosis"):
        diagnosis = normalise_diagnosis(record["diagnosis"])
        if diagnosis is None:
            faults.append(f"diagnosis {record['diagnosis']!r} is not one of {list(DIAGNOSES)}")
    age = None
    if record.get("age"):
        try:
            age_f = float(record["age"])
            if age_f != int(age_f) or not 0 <= age_f <= 130:
                raise ValueError
            age = int(age_f)
        except (ValueError, OverflowError):  # nan, inf, 1e400
            faults.append(f"age {record['age']!r} is not an integer number of years in 0..130")
    sex = record.get("sex", "").upper() or None
    if sex is not None and sex not in SEXES:
        faults.append(f"sex {record['sex']!r} is not one of {list(SEXES)}")
    fixed_set = record.get("set", "").lower() or None
    if fixed_set is not None and fixed_set not in FIXED_SETS:
        faults.append(f"line {line_no}: set {record['set']!r} is not one of {list(FIXED_SETS)} (validation folds are drawn "
                      "inside train)")
    return (diagnosis, age, sex, fixed_set), faults


def _check_patient_id(pid: str, line_no: int, seen: dict[str, int]) -> tuple[str, list[str]]:
    """(name to report the row under, faults of its patient id)."""
    if not pid:
        return f"<row {line_no}>", [f"line {line_no}: patient_id is empty"]
    if not is_safe_id(pid):
        return f"<row {line_no}>", [
            f"line {line_no}: patient_id {pid!r} is unsafe (allowed: letters, digits, '.', '_', '-'; "
            "max 64 characters, no leading punctuation)"]
    if pid in seen:
        return pid, [f"line {line_no}: duplicate patient_id (first on line {seen[pid]})"]
    seen[pid] = line_no
    return pid, []


def _linked_roots(cohort_dir: Path) -> tuple[Path, ...]:
    """Folders the cohort's symbolic links may point into (``LINKED_ROOTS_FILE``, else none)."""
    import json

    listing = cohort_dir / LINKED_ROOTS_FILE
    if not listing.is_file():
        return ()
    try:
        roots = json.loads(listing.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return ()
    return tuple(Path(r).resolve() for r in roots if isinstance(r, str)) if isinstance(roots, list) else ()


def _link_fault(path: Path, cohort_dir: Path, roots: tuple[Path, ...], column: str, text: str) -> str | None:
    """A file whose real location (links followed) is outside the cohort and every linked root."""
    try:
        check_inside(path, cohort_dir, f"{column} file")
        return None
    except ValueError:
        real = path.resolve()
        if any(real == root or root in real.parents for root in roots):
            return None
        return (f"{column} file {text!r} is a link leading outside the cohort folder (list its target folder in "
                f"{LINKED_ROOTS_FILE} to allow it)")


def _resolve_files(cohort_dir: Path, record: dict[str, str], columns: tuple[str, ...], who: str,
                   used_files: dict[Path, str], roots: tuple[Path, ...] = ()) -> tuple[dict[str, Path], list[str]]:
    """Paths of the image and mask columns; one scan under two patients would leak between sets."""
    paths, faults = {}, []
    for column in columns:
        path, fault = _resolve_inside(cohort_dir, record[column])
        if fault:
            faults.append(f"{column} path {fault}")
        elif not path.exists():
            faults.append(f"{column} file {record[column]!r} does not exist")
        elif (fault := _link_fault(path, cohort_dir, roots, column, record[column])) is not None:
            faults.append(fault)
        else:
            paths[column] = path
            real = path.resolve()
            if real in used_files:
                faults.append(f"{column} file {record[column]!r} is also used by patient {used_files[real]}")
            elif not who.startswith("<row"):
                used_files[real] = who
    return paths, faults


def _whole_column_problems(records: list[dict[str, str]], columns: list[str]) -> list[Problem]:
    """A diagnosis or set column must be filled for every patient or for none."""
    problems = []
    for column, hint in (("diagnosis", "leave it empty for all patients for a segmentation-only study"),
                         ("set", "leave it empty for all patients to draw the test split")):
        if column not in columns:
            continue
        empty = [i for i, r in enumerate(records, start=2) if not r.get(column)]
        if empty and len(empty) < len(records):
            problems.append(Problem("-", f"clinical.csv column '{column}' is empty on {len(empty)} of "
                                         f"{len(records)} rows (first on line {empty[0]}); fill it for every "
                                         f"patient or {hint}"))
    return problems


def _read_records(sheet: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Columns and text records; encoding, malformed rows (e.g. an extra field), duplicated header
    names and case-only patient-id collisions raise :class:`TableError` naming the file."""
    frame = read_csv_checked(sheet, what="clinical sheet", dtype=str, keep_default_na=False)
    columns = [str(c).strip() for c in frame.columns]
    frame.columns = columns
    records = [{k: str(v).strip() for k, v in raw.items()} for raw in frame.to_dict("records")]
    if "patient_id" in columns:  # MRN1 and mrn1 would become two patients in different folds
        check_case_collisions([r["patient_id"] for r in records if r["patient_id"]], "patient_id", sheet)
    return columns, records


def read_cohort_sheet(cohort_dir: str | os.PathLike, channel_names=None) -> ClinicalSheet:
    """Read ``COHORT/clinical.csv`` and check every row.

    Checks: required columns (``patient_id``, ``center``, ``mask`` and the image
    column(s) of :func:`image_columns_for`); patient ids present, safe and unique;
    center in {1, 2}; diagnosis ``axSpA``/``non-axSpA`` (obvious case/separator variants
    accepted) when given; age an integer 0..130 and sex ``F``/``M`` when given; ``set``
    one of :data:`FIXED_SETS` when given; ``diagnosis`` and ``set`` filled for every row
    or for none; image and mask paths relative, inside the cohort, and existing.

    Args:
        cohort_dir: Cohort folder holding ``clinical.csv``.
        channel_names: Declared channel names (default: from the sheet's image columns).

    Returns:
        The sheet: the rows without any problem, and every problem found, in sheet
        order. A sheet-level fault (missing file or columns) gives no rows.
    """
    cohort_dir = Path(cohort_dir).resolve()
    sheet = cohort_dir / SHEET_NAME
    if not sheet.is_file():
        return ClinicalSheet(sheet, [], [Problem("-", f"{sheet} does not exist")])
    try:
        columns, records = _read_records(sheet)
    except TableError as exc:
        return ClinicalSheet(sheet, [], [Problem("-", str(exc))])
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        return ClinicalSheet(sheet, [], [Problem("-", f"clinical.csv lacks required column(s) {missing}; "
                                                       f"has {columns}")], tuple(columns))
    try:
        image_columns, names = image_columns_for(columns, channel_names)
    except ValueError as exc:
        return ClinicalSheet(sheet, [], [Problem("-", str(exc))], tuple(columns))
    if not records:
        return ClinicalSheet(sheet, [], [Problem("-", "clinical.csv has no patient rows")], tuple(columns))
    rows, problems = _check_rows(cohort_dir, records, image_columns, _linked_roots(cohort_dir))
    problems = _whole_column_problems(records, columns) + problems
    return ClinicalSheet(sheet, rows, problems, tuple(columns), image_columns, names)


def _check_rows(cohort_dir: Path, records: list[dict[str, str]], image_columns: tuple[str, ...],
                roots: tuple[Path, ...] = ()) -> tuple[list[PatientRow], list[Problem]]:
    problems: list[Problem] = []
    rows: list[PatientRow] = []
    seen: dict[str, int] = {}
    used_files: dict[Path, str] = {}
    for line_no, record in enumerate(records, start=2):  # line 1 is the header
        pid = record["patient_id"]
        who, faults = _check_patient_id(pid, line_no, seen)
        center, center_faults = _parse_center(record["center"])
        clinical, clinical_faults = _parse_clinical(record, line_no)
        paths, path_faults = _resolve_files(cohort_dir, record, (*image_columns, "mask"), who, used_files, roots)
        faults += center_faults + clinical_faults + path_faults
        if faults:
            problems.extend(Problem(who, fault) for fault in faults)
            continue
        diagnosis, age, sex, fixed_set = clinical
        rows.append(PatientRow(pid, center, diagnosis, age, sex, tuple(paths[c] for c in image_columns),
                               paths["mask"], fixed_set))
    # A duplicated id also invalidates its first row: two rows for one patient cannot be split.
    duplicated = {p.patient_id for p in problems if "duplicate patient_id" in p.fault}
    return [r for r in rows if r.patient_id not in duplicated], problems


def read_clinical_sheet(cohort_dir: str | os.PathLike, channel_names=None) -> tuple[list[PatientRow], list[Problem]]:
    """``(rows, problems)`` of :func:`read_cohort_sheet`."""
    sheet = read_cohort_sheet(cohort_dir, channel_names)
    return sheet.rows, sheet.problems
