"""Reader-study statistics and the reader-study CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nnunet_fm import reader_study as rs
from nnunet_fm.cli import main

# Darwin's Zea mays differences, the example of scipy.stats.wilcoxon's documentation:
# exact two-sided p = 0.041259765625, statistic min(R+, R-) = 24.
DARWIN = np.array([6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75], float)


def test_paired_wilcoxon_known_data():
    base = np.linspace(0.5, 0.6, DARWIN.size)
    result = rs.paired_wilcoxon(base + DARWIN / 1000, base)
    assert result["statistic"] == 24.0
    assert result["p_value"] == pytest.approx(0.041259765625, abs=1e-12)
    # ranks of |d| are 1..15; the negatives (48, 67) hold ranks 10 and 14: R- = 24, R+ = 96.
    assert result["rank_biserial"] == pytest.approx((96 - 24) / 120)
    assert result["n"] == 15 and result["n_nonzero"] == 15
    assert result["median_difference"] == pytest.approx(0.024)  # 8th of 15 sorted
    swapped = rs.paired_wilcoxon(base, base + DARWIN / 1000)
    assert swapped["p_value"] == pytest.approx(0.041259765625, abs=1e-12)
    assert swapped["rank_biserial"] == pytest.approx(-0.6)


def test_rank_biserial_ties_and_zeros():
    # d = [1, -1, 2, 0, 3]: zero dropped, |d| ranks 1.5, 1.5, 3, 4 -> R+ = 8.5, R- = 1.5
    assert rs.rank_biserial([1, -1, 2, 0, 3]) == pytest.approx((8.5 - 1.5) / 10)
    assert rs.rank_biserial([0, 0]) == 0.0
    same = rs.paired_wilcoxon([0.7, 0.8], [0.7, 0.8])
    assert (same["statistic"], same["p_value"], same["rank_biserial"]) == (0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="NaN"):
        rs.paired_wilcoxon([0.7, np.nan], [0.7, 0.8])


def _table():
    rows = []
    a = [0.70, 0.75, 0.80, 0.72, 0.68, 0.77]
    b = [0.81, 0.83, 0.85, 0.84, 0.80, 0.79]
    for i, (x, y) in enumerate(zip(a, b)):
        rows.append(("vs_reference", f"c{i}", "res", "reference", x))
        rows.append(("vs_reference", f"c{i}", "res_ai", "reference", y))
        rows.append(("inter_reader", f"c{i}", "res", "res_ai", 0.9 - 0.01 * i))
    return pd.DataFrame(rows, columns=list(rs.TABLE_COLUMNS))


def test_summaries_over_table():
    table = _table()
    summary = rs.study_summary(table, [("res_ai", "res")])
    assert summary["n_cases"] == 6
    assert summary["readers"]["res"]["mean_dice"] == pytest.approx(0.7366666666666667)
    assert summary["readers"]["res"]["sd_dice"] == pytest.approx(0.04501851470969102)
    assert summary["readers"]["res_ai"]["mean_dice"] == pytest.approx(0.82)
    test = summary["paired_tests"][0]
    assert test["p_value"] == pytest.approx(0.03125)  # all 6 differences positive: exact 2 / 2^6
    assert test["statistic"] == 0.0 and test["rank_biserial"] == 1.0
    agreement = summary["inter_reader_agreement"][0]
    assert (agreement["reader_a"], agreement["reader_b"]) == ("res", "res_ai")
    assert agreement["mean_dice"] == pytest.approx(0.875)
    assert agreement["sd_dice"] == pytest.approx(0.018708286933869708)
    with pytest.raises(ValueError, match="not paired on case"):
        rs.compare_readers(table[~((table["reader"] == "res") & (table["case_id"] == "c2"))], [("res", "res_ai")])
    with pytest.raises(ValueError, match="reader nobody has no cases"):
        rs.compare_readers(table, [("res", "nobody")])


def test_parse_specs():
    readers = rs.parse_reader_specs(["res=/a/b", "exp=/c=d"])
    assert readers == {"res": Path("/a/b"), "exp": Path("/c=d")}
    assert rs.parse_pairs(["res:exp"], list(readers)) == [("res", "exp")]
    for bad, match in ((["res"], "NAME=DIR"), (["reference=/x"], "not allowed"), (["a=/x", "a=/y"], "twice")):
        with pytest.raises(ValueError, match=match):
            rs.parse_reader_specs(bad)
    with pytest.raises(ValueError, match="unknown reader"):
        rs.parse_pairs(["res:zzz"], list(readers))
    with pytest.raises(ValueError, match="itself"):
        rs.parse_pairs(["res:res"], list(readers))


def _strip(length: int) -> np.ndarray:
    mask = np.zeros((2, 4, 12), np.uint8)
    mask[1, 2, :length] = 1
    return mask


def _write(path: Path, array: np.ndarray) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.7, 0.7, 4.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))


@pytest.fixture()
def study(tmp_path):
    lengths = {"res": [5, 6, 7, 8, 6, 5], "res_ai": [9, 10, 8, 9, 10, 9]}
    for i in range(6):
        _write(tmp_path / "ref" / f"c{i}.nii.gz", _strip(10))
        for name, ls in lengths.items():
            _write(tmp_path / name / f"c{i}.nii.gz", _strip(ls[i]))
    return tmp_path, lengths


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cli_end_to_end(study, jobs):
    root, lengths = study
    out = root / "out"
    rc = main(["-q", "reader-study", "--reference", str(root / "ref"), "--reader", f"res={root / 'res'}",
               "--reader", f"res_ai={root / 'res_ai'}", "--pairs", "res_ai:res", "--out", str(out), "--jobs", jobs])
    assert rc == 0
    table = pd.read_csv(out / "reader_study.csv")
    summary = json.loads((out / "reader_study.json").read_text(encoding="utf-8"))
    res = table[(table["comparison"] == "vs_reference") & (table["reader"] == "res")]
    assert res["dice"].tolist() == pytest.approx([2 * n / (10 + n) for n in lengths["res"]])
    inter = table[table["comparison"] == "inter_reader"]
    expected = [2 * min(a, b) / (a + b) for a, b in zip(lengths["res"], lengths["res_ai"])]
    assert inter["dice"].tolist() == pytest.approx(expected)
    assert summary["readers"]["res"]["mean_dice"] == pytest.approx(np.mean([2 * n / (10 + n) for n in lengths["res"]]))
    assert summary["paired_tests"][0]["p_value"] == pytest.approx(0.03125)
    assert summary["inter_reader_agreement"][0]["mean_dice"] == pytest.approx(np.mean(expected))


def test_cli_missing_reader_case_fails(study):
    root, _ = study
    (root / "res" / "c3.nii.gz").unlink()
    rc = main(["-q", "reader-study", "--reference", str(root / "ref"), "--reader", f"res={root / 'res'}",
               "--out", str(root / "out")])
    assert rc == 1 and not (root / "out" / "reader_study.json").exists()
    with pytest.raises(ValueError, match="reader res: 1 case.*no prediction.*c3"):
        rs.compute_dice_table(root / "ref", {"res": root / "res"}, progress=False)


def test_bad_reader_file_names_case_and_reader(study):
    from nnunet_fm.image_io import ImageReadError

    root, _ = study
    (root / "res_ai" / "c4.nii.gz").write_bytes(b"garbage")
    with pytest.raises(ImageReadError, match="case c4: reader res_ai mask"):
        rs.compute_dice_table(root / "ref", {"res": root / "res", "res_ai": root / "res_ai"}, progress=False)
