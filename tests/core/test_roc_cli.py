"""`nnunet-fm roc` end to end, checked against the stored pROC reference values."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest

from nnunet_fm.cli import main

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"
GROUP_NAMES = {"A": "train", "B": "external_test"}


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((REFERENCE_DIR / "proc_reference.json").read_text(encoding="utf-8"))


def _ref(entries: list, name: str) -> dict:
    return next(entry for entry in entries if entry["name"] == name)


@pytest.fixture()
def predictions_csv(tmp_path) -> Path:
    """roc_data.csv in the classifier's layout: case_id, set, diagnosis text labels."""
    with open(REFERENCE_DIR / "roc_data.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    path = tmp_path / "predictions.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "set", "diagnosis", "score_a", "score_b"])
        for index, row in enumerate(rows):
            writer.writerow([f"SIJ_1_{index:04d}", GROUP_NAMES[row["set"]],
                             "axSpA" if row["label"] == "1" else "non-axSpA", row["score1"], row["score2"]])
    return path


def test_roc_cli_end_to_end(tmp_path, predictions_csv, reference):
    out = tmp_path / "roc"
    code = main(["-q", "roc", "--predictions", str(predictions_csv), "--label", "diagnosis",
                 "--score", "score_a", "--score", "score_b", "--group", "set", "--out", str(out),
                 "--n-bootstrap", "2000", "--seed", "3"])
    assert code == 0
    stats = json.loads((out / "roc_stats.json").read_text(encoding="utf-8"))
    assert (out / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (out / "roc.svg").read_text(encoding="utf-8")
    assert "<svg" in svg and "AUC 0.782" in svg  # legend text of score_a on the train group

    assert stats["input"]["positive_label"] == "axSpA" and stats["input"]["negative_label"] == "non-axSpA"
    assert set(stats["groups"]) == {"train", "external_test"}
    train = stats["groups"]["train"]
    assert (train["n_pos"], train["n_neg"]) == (60, 69)
    for group, ours, theirs in (("train", "score_a", "own_A_score1"), ("train", "score_b", "own_A_score2"),
                                ("external_test", "score_a", "own_B_score1")):
        expected = _ref(reference["cases"], theirs)
        got = stats["groups"][group]["scores"][ours]
        assert got["auc"] == pytest.approx(expected["auc"], abs=1e-9)
        assert got["ci_delong"] == pytest.approx(expected["ci_delong"][0:3:2], abs=1e-6)
        assert got["ci_bootstrap"] == pytest.approx(expected["ci_bootstrap"][0:3:2], abs=0.01)
        assert (got["n_pos"], got["n_neg"]) == (expected["n_pos"], expected["n_neg"])

    paired = train["paired_delong"][0]
    expected = _ref(reference["paired"], "own_A_score1_vs_score2")
    assert paired["z"] == pytest.approx(expected["z"], abs=1e-6)
    assert paired["p"] == pytest.approx(expected["p"], abs=1e-6)

    unpaired = next(e for e in stats["unpaired_delong"] if e["score"] == "score_a")
    expected = _ref(reference["unpaired"], "own_score1_A_vs_B")
    sign = 1 if unpaired["group_1"] == "train" else -1
    assert sign * unpaired["z"] == pytest.approx(expected["statistic"], abs=1e-6)
    assert unpaired["p"] == pytest.approx(expected["p"], abs=1e-6)

    operating = stats["operating_point"]
    assert operating["train_group"] == "train"  # the default when a "train" group exists
    score_a = operating["scores"]["score_a"]
    assert score_a["threshold"] == pytest.approx(_ref(reference["cases"], "own_A_score1")["youden"]["threshold"])
    expected = _ref(reference["thresholds"], "own_B_score1_at_A_youden")
    external = score_a["groups"]["external_test"]
    assert [external[k] for k in ("tp", "fp", "tn", "fn")] == [expected[k] for k in ("tp", "fp", "tn", "fn")]
    assert external["ppv"]["value"] == pytest.approx(expected["ppv"], abs=1e-9)
    lower, upper = external["sensitivity"]["ci_wilson"]
    assert 0 < lower < external["sensitivity"]["value"] < upper < 1


def test_roc_cli_positive_option_reverses_classes(tmp_path, predictions_csv, reference):
    out = tmp_path / "roc"
    code = main(["-q", "roc", "--predictions", str(predictions_csv), "--label", "diagnosis", "--score", "score_a",
                 "--positive", "non-axSpA", "--group", "set", "--train-group", "external_test",
                 "--n-bootstrap", "200", "--out", str(out)])
    assert code == 0
    stats = json.loads((out / "roc_stats.json").read_text(encoding="utf-8"))
    # direction stays "higher score = positive", so with the classes swapped AUC becomes 1 - AUC
    expected = _ref(reference["cases"], "own_A_score1")["auc"]
    assert stats["groups"]["train"]["scores"]["score_a"]["auc"] == pytest.approx(1 - expected, abs=1e-9)
    assert stats["groups"]["train"]["n_pos"] == 69
    assert stats["operating_point"]["train_group"] == "external_test"


def test_roc_cli_without_groups_numeric_labels(tmp_path, reference):
    data = reference["aSAH"]
    path = tmp_path / "asah.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["poor", "s100b", "wfns"])
        for row in zip(data["outcome_poor"], data["s100b"], data["wfns"]):
            writer.writerow([f"{row[0]:.1f}", row[1], row[2]])  # labels written as 0.0 / 1.0
    out = tmp_path / "out"
    assert main(["-q", "roc", "--predictions", str(path), "--label", "poor", "--score", "s100b", "--score", "wfns",
                 "--n-bootstrap", "300", "--out", str(out)]) == 0
    stats = json.loads((out / "roc_stats.json").read_text(encoding="utf-8"))
    assert stats["input"]["positive_label"] == "1"
    group = stats["groups"]["all"]
    assert group["scores"]["s100b"]["auc"] == pytest.approx(_ref(reference["cases"], "aSAH_s100b")["auc"], abs=1e-9)
    assert group["scores"]["wfns"]["ci_delong"] == pytest.approx(
        _ref(reference["cases"], "aSAH_wfns")["ci_delong"][0:3:2], abs=1e-6)
    expected = _ref(reference["paired"], "aSAH_s100b_vs_wfns")
    assert group["paired_delong"][0]["z"] == pytest.approx(expected["z"], abs=1e-6)
    assert stats["operating_point"]["scores"]["s100b"]["threshold"] == pytest.approx(0.205)
    assert stats["operating_point"]["apparent"] is True
    assert (out / "roc.png").stat().st_size > 0 and (out / "roc.svg").stat().st_size > 0


def _write_rows(path: Path, header: list, rows: list) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("rows", "args", "message"),
    [
        ([["c1", "1", "0.3"], ["c2", "0", ""], ["c3", "1", "0.9"]], [], "score 'p' is missing or not numeric for c2"),
        ([["c1", "1", "0.3"], ["c2", "0", "abc"], ["c3", "1", "0.9"]], [], "not numeric for c2"),
        ([["c1", "1", "0.3"], ["c2", "2", "0.1"], ["c3", "0", "0.9"]], [], "exactly two classes"),
        ([["c1", "yes", "0.3"], ["c2", "no", "0.1"]], [], "pass --positive"),
        ([["c1", "yes", "0.3"], ["c2", "no", "0.1"]], ["--positive", "maybe"], "not a label value"),
        ([["c1", "1", "0.3"], ["c2", "1", "0.1"]], [], "exactly two classes"),
        ([["c1", "1", "0.3"], ["c2", "0", "0.1"]], ["--score", "missing_col"], "missing column"),
    ],
)
def test_roc_cli_bad_input_fails_with_a_named_fault(tmp_path, caplog, rows, args, message):
    path = _write_rows(tmp_path / "p.csv", ["case_id", "y", "p"], rows)
    with caplog.at_level(logging.ERROR, logger="nnunet_fm"):
        code = main(["roc", "--predictions", str(path), "--label", "y", "--score", "p", "--n-bootstrap", "50",
                     "--out", str(tmp_path / "out"), *args])
    assert code == 1
    assert message in caplog.text
    assert not (tmp_path / "out" / "roc_stats.json").exists()
