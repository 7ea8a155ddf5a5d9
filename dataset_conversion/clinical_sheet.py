"""Read and validate a cohort's ``clinical.csv`` (ARCHITECTURE.md, contract 1).

Every fault is reported as a :class:`Problem` naming the patient (or the row, when the
patient id itself is the fault) so a user can fix the sheet without guessing.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

REQUIRED_COLUMNS = ("patient_id", "center", "diagnosis", "age", "sex", "image", "mask")
CENTERS = (1, 2)
DIAGNOSES = ("axSpA", "non-axSpA")
SEXES = ("F", "M")

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
    diagnosis: str  # canonical spelling: "axSpA" or "non-axSpA"
    age: int | None
    sex: str | None
    image: Path  # absolute
    mask: Path  # absolute

    @property
    def label(self) -> int:
        """1 for axSpA, 0 for non-axSpA."""
        return int(self.diagnosis == "axSpA")


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


def read_clinical_sheet(cohort_dir: str | os.PathLike) -> tuple[list[PatientRow], list[Problem]]:
    """Read ``COHORT/clinical.csv`` and check every row.

    Checks: required columns; patient ids present, safe and unique; center in {1, 2};
    diagnosis ``axSpA``/``non-axSpA`` (obvious case/separator variants accepted); age an
    integer >= 0 when given; sex ``F``/``M`` when given; image and mask paths relative,
    inside the cohort, and existing.

    Args:
        cohort_dir: Cohort folder holding ``clinical.csv``.

    Returns:
        ``(rows, problems)``: the rows without any problem, and every problem found, in
        sheet order. A sheet-level fault (missing file or columns) gives no rows.
    """
    cohort_dir = Path(cohort_dir).resolve()
    sheet = cohort_dir / "clinical.csv"
    if not sheet.is_file():
        return [], [Problem("-", f"{sheet} does not exist")]
    with open(sheet, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        records = list(reader)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        return [], [Problem("-", f"clinical.csv lacks required column(s) {missing}; has {columns}")]
    if not records:
        return [], [Problem("-", "clinical.csv has no patient rows")]

    problems: list[Problem] = []
    rows: list[PatientRow] = []
    seen: dict[str, int] = {}
    used_files: dict[Path, str] = {}  # one scan under two patients would leak between sets
    for line_no, raw in enumerate(records, start=2):  # line 1 is the header
        record = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        pid = record["patient_id"]
        who = pid if pid else f"<row {line_no}>"
        row_problems: list[str] = []
        if not pid:
            row_problems.append(f"line {line_no}: patient_id is empty")
        elif not is_safe_id(pid):
            who = f"<row {line_no}>"
            row_problems.append(
                f"line {line_no}: patient_id {pid!r} is unsafe (allowed: letters, digits, '.', '_', '-'; "
                "max 64 characters, no leading punctuation)")
        elif pid in seen:
            row_problems.append(f"line {line_no}: duplicate patient_id (first on line {seen[pid]})")
        else:
            seen[pid] = line_no

        center = None
        try:
            center = int(float(record["center"])) if record["center"] else None
            if center is None or float(record["center"]) != center or center not in CENTERS:
                raise ValueError
        except ValueError:
            center = None
            row_problems.append(f"center {record['center']!r} is not one of {list(CENTERS)}")

        diagnosis = normalise_diagnosis(record["diagnosis"])
        if diagnosis is None:
            row_problems.append(f"diagnosis {record['diagnosis']!r} is not one of {list(DIAGNOSES)}")

        age = None
        if record["age"]:
            try:
                age_f = float(record["age"])
                if age_f != int(age_f) or not 0 <= age_f <= 130:
                    raise ValueError
                age = int(age_f)
            except ValueError:
                row_problems.append(f"age {record['age']!r} is not an integer number of years in 0..130")

        sex = record["sex"].upper() or None
        if sex is not None and sex not in SEXES:
            row_problems.append(f"sex {record['sex']!r} is not one of {list(SEXES)}")

        paths = {}
        for column in ("image", "mask"):
            path, fault = _resolve_inside(cohort_dir, record[column])
            if fault:
                row_problems.append(f"{column} path {fault}")
            elif not path.exists():
                row_problems.append(f"{column} file {record[column]!r} does not exist")
            else:
                paths[column] = path
                real = path.resolve()
                if real in used_files:
                    row_problems.append(f"{column} file {record[column]!r} is also used by patient {used_files[real]}")
                elif pid:
                    used_files[real] = who

        if row_problems:
            problems.extend(Problem(who, fault) for fault in row_problems)
            continue
        rows.append(PatientRow(pid, center, diagnosis, age, sex, paths["image"], paths["mask"]))
    # A duplicated id also invalidates its first row: two rows for one patient cannot be split.
    duplicated = {p.patient_id for p in problems if "duplicate patient_id" in p.fault}
    rows = [r for r in rows if r.patient_id not in duplicated]
    return rows, problems
