"""TRIPOD+AI (Collins et al., BMJ 2024;385:e078378) checklist mapped to the report's sections.

:data:`TRIPOD_AI_ITEMS` is the item list as data: each item names the report heading that
answers it, or says why it does not apply / cannot be answered by a pipeline run. The
report writes ``tripod_ai.md`` into the run folder from this list and the headings the
run's ``report.md`` actually has (a mapped section absent from a run, e.g. calibration in a
segmentation-only study, is reported as absent with the reason, never as answered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from benchmarks.engine.report_calibration import CALIBRATION_HEADING as CALIBRATION
from benchmarks.engine.report_calibration import DECISION_HEADING as DECISION
from benchmarks.engine.report_feature_study import EXPLANATION_HEADING as EXPLANATION
from benchmarks.engine.report_feature_study import FEATURE_STUDY_HEADING as FEATURE_STUDY
from benchmarks.engine.report_flow import FLOW_HEADING as FLOW
from benchmarks.engine.report_models import CEILING_HEADING as CEILING
from benchmarks.engine.report_models import COMPARISON_HEADING as COMPARISON
from benchmarks.engine.report_segmentation import CONVENTIONS_HEADING as CONVENTIONS
from benchmarks.engine.report_sensitivity import OPERATING_HEADING as OPERATING
from benchmarks.engine.report_sensitivity import SENSITIVITY_HEADING as SENSITIVITY
from benchmarks.engine.report_subgroups import SUBGROUP_HEADING as SUBGROUPS

TITLE = "nnunet-fm study report"
STUDY_FACTS = "Study"
PAPER = "Paper vs this run"
CLASSIFICATION = "Classification: all scores"
SEGMENTATION = "Segmentation detail"
FILES = "Files"
LIMITATIONS = "Interpretation and limitations"

_MANUSCRIPT = "not produced by a pipeline run: state it in the manuscript"
_NO_PATIENTS = "synthetic cohort: there are no patients"


@dataclass(frozen=True)
class TripodItem:
    """One TRIPOD+AI item: where the report answers it, or why it does not.

    Attributes:
        number: Item number as in the checklist (e.g. ``"12e"``).
        part: Checklist part (title, abstract, introduction, methods, open science, ...).
        topic: The item's topic in a few words.
        heading: Report heading (``## <heading>``; the title for ``TITLE``) answering it, or None.
        reason: Why the item does not apply or is not answered here (required when ``heading`` is None).
        synthetic_reason: The reason for a synthetic-cohort run, when it differs (e.g. no patients).
    """

    number: str
    part: str
    topic: str
    heading: Optional[str]
    reason: str = ""
    synthetic_reason: str = ""

    def reason_for(self, synthetic: bool) -> str:
        """The reason shown for a synthetic or a user-data run."""
        return self.synthetic_reason if synthetic and self.synthetic_reason else self.reason


def _i(number: str, part: str, topic: str, heading: Optional[str], reason: str = "",
       synthetic_reason: str = "") -> TripodItem:
    return TripodItem(number, part, topic, heading, reason, synthetic_reason)


TRIPOD_AI_ITEMS: tuple[TripodItem, ...] = (
    _i("1", "title", "title: development/evaluation, population, outcome", TITLE),
    _i("2", "abstract", "structured abstract", None,
       _MANUSCRIPT + " (the report's first lines give data, seed and mode)"),
    _i("3a", "introduction", "background: healthcare context and rationale", None, _MANUSCRIPT),
    _i("3b", "introduction", "intended use and users", None, _MANUSCRIPT),
    _i("3c", "introduction", "known health inequalities between groups", SUBGROUPS),
    _i("4", "introduction", "objectives: development and/or evaluation", STUDY_FACTS),
    _i("5a", "methods: data", "data sources and their representativeness", STUDY_FACTS),
    _i("5b", "methods: data", "dates of data collection", None, _MANUSCRIPT, _NO_PATIENTS + ", no collection dates"),
    _i("6a", "methods: participants", "setting and centres", FLOW),
    _i("6b", "methods: participants", "eligibility criteria", FLOW),
    _i("6c", "methods: participants", "treatments received", None, "no treatment enters the model; " + _MANUSCRIPT),
    _i("7", "methods: data preparation", "data pre-processing and quality checks", CONVENTIONS),
    _i("8a", "methods: outcome", "outcome definition and assessment", CLASSIFICATION),
    _i("8b", "methods: outcome", "qualifications of outcome assessors, blinding", None, _MANUSCRIPT,
       _NO_PATIENTS + "; the outcome is drawn by the generator, blind to the images by construction"),
    _i("9a", "methods: predictors", "choice of initial predictors", CLASSIFICATION),
    _i("9b", "methods: predictors", "predictor definition and measurement (incl. segmentation)", CONVENTIONS),
    _i("9c", "methods: predictors", "qualification of predictor assessors, blinding", None,
       "predictors are computed from automatic segmentations without the outcome; the reference masks' readers "
       "are " + _MANUSCRIPT),
    _i("10", "methods: sample size", "study size and its justification", FLOW),
    _i("11", "methods: missing data", "handling of missing data", FLOW),
    _i("12a", "methods: analysis", "data use: development / test split, patient-level", FLOW),
    _i("12b", "methods: analysis", "predictor handling in the analysis", FILES),
    _i("12c", "methods: analysis", "model type, building, hyper-parameter tuning", OPERATING),
    _i("12d", "methods: analysis", "heterogeneity across centres", SUBGROUPS),
    _i("12e", "methods: analysis", "performance measures and their intervals", COMPARISON),
    _i("12f", "methods: analysis", "model updating or recalibration", None,
       "no model is updated or recalibrated after development; calibration is reported as measured"),
    _i("12g", "methods: analysis", "how predictions are calculated and explained (explainability)", EXPLANATION),
    _i("13", "methods: class imbalance", "class imbalance handling", FLOW),
    _i("14", "methods: fairness", "approaches to assess fairness", SUBGROUPS),
    _i("15", "methods: model output", "model output and the threshold", OPERATING),
    _i("16", "methods: training vs evaluation", "differences between development and evaluation data", FLOW),
    _i("17", "methods: ethics", "ethical approval and consent", None, _MANUSCRIPT,
       _NO_PATIENTS + ": no approval or consent is needed"),
    _i("18a", "open science", "funding", None, _MANUSCRIPT),
    _i("18b", "open science", "conflicts of interest", None, _MANUSCRIPT),
    _i("18c", "open science", "protocol", None, _MANUSCRIPT + " (config.yaml is the run's complete protocol)"),
    _i("18d", "open science", "registration", None, _MANUSCRIPT),
    _i("18e", "open science", "data sharing", FILES),
    _i("18f", "open science", "code sharing", FILES),
    _i("19", "patient and public involvement", "patient and public involvement", None, _MANUSCRIPT,
       _NO_PATIENTS + "; " + _MANUSCRIPT),
    _i("20a", "results: participants", "flow of participants, outcome counts", FLOW),
    _i("20b", "results: participants", "characteristics of each data set", FLOW),
    _i("20c", "results: participants", "comparison of development and evaluation data", FLOW),
    _i("21", "results: model development", "participants and outcome events per analysis", COMPARISON),
    _i("22", "results: model specification", "full model (or how to access it)", FILES),
    _i("23a", "results: performance", "performance with confidence intervals", COMPARISON),
    _i("23b", "results: performance", "performance in key subgroups", SUBGROUPS),
    _i("24", "results: model updating", "results of model updating", None, "no model updating was done"),
    _i("25", "discussion", "interpretation, incl. fairness", LIMITATIONS),
    _i("26", "discussion", "limitations", LIMITATIONS),
    _i("27a", "discussion: usability", "handling of poor-quality input (segmentation errors)", SENSITIVITY),
    _i("27b", "discussion: usability", "user interaction and expertise needed", None, _MANUSCRIPT),
    _i("27c", "discussion: usability", "applicability and future research", LIMITATIONS),
)


def report_headings(markdown: str) -> list[str]:
    """Headings of a markdown text (``#``/``##``/``###`` lines, without the hashes)."""
    return [line.lstrip("#").strip() for line in markdown.splitlines() if line.startswith("#")]


def _section_bodies(markdown: str) -> dict[str, str]:
    """Heading -> the first non-empty line under it."""
    bodies: dict[str, str] = {}
    current = None
    for line in markdown.splitlines():
        if line.startswith("#"):
            current = line.lstrip("#").strip()
            bodies[current] = ""
        elif current is not None and not bodies[current] and line.strip():
            bodies[current] = line.strip()
    return bodies


def _status(heading: str, bodies: dict[str, str]) -> tuple[str, str]:
    """``("answered" | "absent_in_run", note)`` of a mapped heading in this report."""
    for name, first_line in bodies.items():
        if name == heading or name.startswith(heading + ":") or name.startswith(heading + " "):
            if first_line.startswith("Not available"):
                return "absent_in_run", f"section '{heading}': {first_line}"
            return "answered", ""
    return "absent_in_run", (f"section '{heading}' was not built: its inputs are absent or the study is "
                             "segmentation-only")


def _item_status(item: TripodItem, bodies: dict[str, str], synthetic: bool = False) -> tuple[str, str]:
    if item.heading is None:
        return "not_applicable", item.reason_for(synthetic)
    return _status(item.heading, bodies)


def render_tripod_ai(report_markdown: str, synthetic: bool) -> str:
    """``tripod_ai.md``: each item with the report section that answers it, or why not."""
    bodies = _section_bodies(report_markdown)
    lines = ["# TRIPOD+AI checklist for this run", "",
             "TRIPOD+AI (Collins et al., BMJ 2024;385:e078378). Each item names the section of `report.md` that "
             "answers it, or why it does not apply or cannot be answered by a pipeline run."
             + (" Synthetic data: the figures describe a phantom, not patients." if synthetic else ""), "",
             "| item | part | topic | answered in report.md | note |", "|---|---|---|---|---|"]
    where_of = {"not_applicable": "not answered by the run", "absent_in_run": "absent in this run"}
    for item in TRIPOD_AI_ITEMS:
        status, note = _item_status(item, bodies, synthetic)
        where = f"§ {item.heading}" if status == "answered" else where_of[status]
        lines.append(f"| {item.number} | {item.part} | {item.topic} | {where} | {note} |")
    return "\n".join(lines) + "\n"


def tripod_summary(report_markdown: str) -> dict[str, list[str]]:
    """Item numbers answered, not applicable, and absent in this run (summary key ``tripod_ai``)."""
    bodies = _section_bodies(report_markdown)
    out: dict[str, list[str]] = {"answered": [], "not_applicable": [], "absent_in_run": []}
    for item in TRIPOD_AI_ITEMS:
        out[_item_status(item, bodies)[0]].append(item.number)
    return out
