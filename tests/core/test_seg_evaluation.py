"""Folder evaluation, summaries and the evaluate-seg CLI."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nnunet_fm import seg_evaluation as se
from nnunet_fm.cli import main
from nnunet_fm.seg_metrics import CSV_COLUMNS

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "seg_metric_reference.json"
TOL = 1e-6


def _unpack(packed: dict) -> np.ndarray:
    shape = tuple(packed["shape"])
    bits = np.frombuffer(base64.b64decode(packed["bits"]), np.uint8)
    return np.unpackbits(bits)[: int(np.prod(shape))].reshape(shape).astype(bool)


def _write(path: Path, array: np.ndarray, spacing_zyx) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.SetSpacing(tuple(float(s) for s in reversed(spacing_zyx)))
    image.SetDirection((0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0))  # a permuted, non-identity frame
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))


@pytest.fixture()
def folders(tmp_path):
    """Reference cases 0-2 from the stored reference, plus both-empty and pred-only cases."""
    cases = json.loads(REFERENCE.read_text(encoding="utf-8"))["cases"][:3]
    ref_dir, pred_dir = tmp_path / "ref", tmp_path / "pred"
    expected = {}
    for i, case in enumerate(cases):
        case_id = f"SIJ_1_{i + 1:04d}"
        _write(ref_dir / f"{case_id}.nii.gz", _unpack(case["ref"]), case["spacing_mm"])
        _write(pred_dir / f"{case_id}.nii.gz", _unpack(case["pred"]), case["spacing_mm"])
        expected[case_id] = case
    empty = np.zeros((4, 8, 8), bool)
    blob = empty.copy()
    blob[1:3, 2:5, 2:5] = True
    _write(ref_dir / "SIJ_1_0004.nii.gz", empty, (4.0, 0.7, 0.7))
    _write(pred_dir / "SIJ_1_0004.nii.gz", empty, (4.0, 0.7, 0.7))
    _write(ref_dir / "SIJ_1_0005.nii.gz", empty, (4.0, 0.7, 0.7))
    _write(pred_dir / "SIJ_1_0005.nii.gz", blob, (4.0, 0.7, 0.7))
    return ref_dir, pred_dir, expected


@pytest.mark.parametrize("jobs", [1, 2])
def test_evaluate_folders_matches_reference(folders, tmp_path, jobs):
    ref_dir, pred_dir, expected = folders
    out = tmp_path / "metrics.csv"
    frame = se.evaluate_folders(pred_dir, ref_dir, out, 2.0, jobs=jobs, progress=False)
    written = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert list(written.columns) == list(CSV_COLUMNS)
    assert written["case_id"].tolist() == [f"SIJ_1_{i:04d}" for i in range(1, 6)]
    for case_id, case in expected.items():
        row = written.set_index("case_id").loc[case_id]
        sd = case["surface_distance"]
        assert row["dice"] == pytest.approx(sd["dice"], abs=TOL)
        assert row["hd95_mm"] == pytest.approx(sd["hd95_mm"], abs=TOL)
        assert row["nsd"] == pytest.approx(sd["surface_dice"]["2.0"], abs=TOL)
        assert row["assd_mm"] == pytest.approx(
            (sd["average_distance_ref_to_pred_mm"] + sd["average_distance_pred_to_ref_mm"]) / 2, abs=TOL)
        assert row["empty_case"] == "none"
    both = written.set_index("case_id").loc["SIJ_1_0004"]
    assert (both["dice"], both["hd95_mm"], both["nsd"], both["empty_case"]) == (1.0, 0.0, 1.0, "both")
    pred_only = written.set_index("case_id").loc["SIJ_1_0005"]
    assert pred_only["dice"] == 0.0 and math.isnan(pred_only["hd95_mm"]) and pred_only["empty_case"] == "pred_only"
    assert pred_only["pred_volume_ml"] == pytest.approx(18 * 4.0 * 0.49 / 1000)
    assert frame["dice"].tolist() == pytest.approx(written["dice"].tolist())


def test_missing_partner_names_the_cases(folders):
    ref_dir, pred_dir, _ = folders
    (pred_dir / "SIJ_1_0002.nii.gz").unlink()
    (pred_dir / "SIJ_9_0001.nii.gz").write_bytes((ref_dir / "SIJ_1_0001.nii.gz").read_bytes())
    with pytest.raises(ValueError, match=r"no prediction.*SIJ_1_0002.*no reference.*SIJ_9_0001"):
        se.match_case_files(pred_dir, ref_dir)


def test_missing_skip_evaluates_the_predicted_cases_and_returns_the_skipped(folders, caplog):
    ref_dir, pred_dir, expected = folders
    (pred_dir / "SIJ_1_0002.nii.gz").unlink()
    (pred_dir / "SIJ_1_0004.nii.gz").unlink()
    with pytest.raises(ValueError, match=r"2 case\(s\) have no prediction.*--missing skip"):
        se.evaluate_folders(pred_dir, ref_dir, progress=False)
    pairs, skipped = se.pair_case_files(pred_dir, ref_dir, "skip")
    assert [p[0] for p in pairs] == ["SIJ_1_0001", "SIJ_1_0003", "SIJ_1_0005"]
    assert skipped == ["SIJ_1_0002", "SIJ_1_0004"]
    with caplog.at_level("WARNING", logger="nnunet_fm.seg_evaluation"):
        frame = se.evaluate_folders(pred_dir, ref_dir, progress=False, missing="skip")
    assert list(frame["case_id"]) == ["SIJ_1_0001", "SIJ_1_0003", "SIJ_1_0005"]
    assert frame.attrs["skipped_case_ids"] == ["SIJ_1_0002", "SIJ_1_0004"]
    assert frame.set_index("case_id").loc["SIJ_1_0001", "dice"] == pytest.approx(
        expected["SIJ_1_0001"]["surface_distance"]["dice"], abs=TOL)
    assert any("2 of 5 reference case(s) have no prediction" in r.getMessage() for r in caplog.records)


def test_missing_skip_still_refuses_predictions_without_reference_and_nothing_left(folders, tmp_path):
    ref_dir, pred_dir, _ = folders
    (pred_dir / "SIJ_9_0001.nii.gz").write_bytes((ref_dir / "SIJ_1_0001.nii.gz").read_bytes())
    with pytest.raises(ValueError, match="1 prediction\\(s\\) have no reference"):
        se.pair_case_files(pred_dir, ref_dir, "skip")
    empty = tmp_path / "empty_pred"
    empty.mkdir()
    with pytest.raises(ValueError, match="none of the 5 reference case"):
        se.pair_case_files(empty, ref_dir, "skip")
    with pytest.raises(ValueError, match="missing must be one of"):
        se.pair_case_files(pred_dir, ref_dir, "ignore")


def test_missing_folder_and_duplicate_case(folders, tmp_path):
    ref_dir, pred_dir, _ = folders
    with pytest.raises(FileNotFoundError, match="does not exist"):
        se.match_case_files(tmp_path / "nope", ref_dir)
    (pred_dir / "SIJ_1_0001.nii").write_bytes(b"")
    with pytest.raises(ValueError, match="case SIJ_1_0001 has two files"):
        se.match_case_files(pred_dir, ref_dir)


@pytest.mark.parametrize("jobs", [1, 2])
def test_bad_file_names_the_case(folders, tmp_path, jobs):
    from nnunet_fm.image_io import ImageReadError

    ref_dir, pred_dir, _ = folders
    (pred_dir / "SIJ_1_0003.nii.gz").write_bytes(b"not a nifti file")
    with pytest.raises(ImageReadError, match="case SIJ_1_0003: prediction mask"):
        se.evaluate_folders(pred_dir, ref_dir, tmp_path / "m.csv", jobs=jobs, progress=False)
    assert not (tmp_path / "m.csv").exists()


def test_geometry_mismatch_names_the_case(folders, tmp_path):
    from nnunet_fm.image_io import GeometryMismatchError

    ref_dir, pred_dir, _ = folders
    _write(pred_dir / "SIJ_1_0004.nii.gz", np.zeros((4, 8, 8), bool), (3.0, 0.7, 0.7))
    with pytest.raises(GeometryMismatchError, match="case SIJ_1_0004"):
        se.evaluate_folders(pred_dir, ref_dir, None, progress=False)


def test_cv_summary_known_values():
    per_case = pd.DataFrame({"case_id": list("abcdef"), "dice": [0.8, 0.9, 0.7, 0.6, 0.8, 1.0]})
    folds = {"a": 0, "b": 0, "c": 1, "d": 2, "e": 2, "f": 2}
    cv = se.cv_summary(per_case, folds)
    assert [f["mean_dice"] for f in cv["per_fold"]] == pytest.approx([0.85, 0.7, 0.8])
    assert [f["n_cases"] for f in cv["per_fold"]] == [2, 1, 3]
    assert cv["mean_dice"] == pytest.approx(0.7833333333333333)
    assert cv["sd_dice"] == pytest.approx(0.07637626158259733)  # ddof=1 over the 3 fold means
    assert cv["ddof"] == 1 and cv["n_folds"] == 3
    with pytest.raises(ValueError, match="1 case.*no fold: f"):
        se.cv_summary(per_case, {k: v for k, v in folds.items() if k != "f"})


def test_test_set_summary_values_and_determinism():
    dice = [0.5, 0.7, 0.9, 0.6, 0.8]
    per_case = pd.DataFrame({"case_id": list("abcde"), "dice": dice, "hd95_mm": [1.0, np.nan, 3.0, 2.0, 2.0]})
    summary = se.test_set_summary(per_case, n_boot=1000, seed=3)
    assert summary["mean_dice"] == pytest.approx(0.7)
    assert summary["sd_dice"] == pytest.approx(0.15811388300841897)
    low, high = summary["ci95_dice"]
    assert 0.5 <= low < 0.7 < high <= 0.9
    assert se.test_set_summary(per_case, n_boot=1000, seed=3)["ci95_dice"] == [low, high]
    assert summary["metrics"]["hd95_mm"] == {"n": 4, "n_nan": 1, "mean": 2.0, "sd": pytest.approx(0.816496580927726),
                                             "median": 2.0}
    constant = se.bootstrap_mean_ci([0.8] * 6, n_boot=200, seed=0)
    assert constant == pytest.approx((0.8, 0.8))


def test_cli_end_to_end_with_cv(folders, tmp_path):
    ref_dir, pred_dir, _ = folders
    cases = pd.DataFrame({
        "case_id": [f"SIJ_1_{i:04d}" for i in range(1, 6)],
        "set": ["train", "train", "validation", "train", "internal_test"],
        "fold": [0, 1, 1, 0, -1],
    })
    cases.to_csv(tmp_path / "cases.csv", index=False)
    out = tmp_path / "eval" / "oof.csv"
    rc = main(["-q", "evaluate-seg", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(out),
               "--cases", str(tmp_path / "cases.csv"), "--jobs", "2", "--n-boot", "200"])
    assert rc == 0
    per_case = pd.read_csv(out)
    summary = json.loads((tmp_path / "eval" / "oof_summary.json").read_text(encoding="utf-8"))
    dice = per_case.set_index("case_id")["dice"]
    cv = summary["cross_validation"]
    fold0 = (dice["SIJ_1_0001"] + dice["SIJ_1_0004"]) / 2
    fold1 = (dice["SIJ_1_0002"] + dice["SIJ_1_0003"]) / 2
    assert cv["n_cases"] == 4 and cv["n_folds"] == 2
    assert cv["mean_dice"] == pytest.approx((fold0 + fold1) / 2)
    assert cv["sd_dice"] == pytest.approx(abs(fold0 - fold1) / math.sqrt(2))
    assert summary["all_cases"]["n_cases"] == 5
    assert summary["all_cases"]["empty_cases"] == {"none": 3, "both": 1, "ref_only": 0, "pred_only": 1}
    assert summary["nsd_tolerance_mm"] == 2.0


def test_cli_errors_return_1(folders, tmp_path):
    ref_dir, pred_dir, _ = folders
    (pred_dir / "SIJ_1_0005.nii.gz").unlink()
    rc = main(["-q", "evaluate-seg", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(tmp_path / "x.csv"),
               "--summary", str(tmp_path / "s.json")])
    assert rc == 1
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "s.json").exists()
    pd.DataFrame({"case_id": ["SIJ_1_0001"], "fold": [0]}).to_csv(tmp_path / "cases.csv", index=False)
    (pred_dir / "SIJ_1_0005.nii.gz").write_bytes((ref_dir / "SIJ_1_0005.nii.gz").read_bytes())
    rc = main(["-q", "evaluate-seg", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(tmp_path / "x.csv"),
               "--cases", str(tmp_path / "cases.csv")])
    assert rc == 1 and not (tmp_path / "x.csv").exists()


def test_cli_penalty_lesions_and_slice_nsd_in_outputs(folders, tmp_path):
    ref_dir, pred_dir, _ = folders
    out = tmp_path / "seg" / "internal_test.csv"
    rc = main(["-q", "evaluate-seg", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(out),
               "--n-boot", "50"])
    assert rc == 0
    per_case = pd.read_csv(out, dtype={"case_id": str}).set_index("case_id")
    summary = json.loads((tmp_path / "seg" / "internal_test_summary.json").read_text(encoding="utf-8"))
    # SIJ_1_0005: empty reference, 18-voxel prediction on a 4 x 8 x 8 grid at 4 x 0.7 x 0.7 mm
    diagonal = math.sqrt(16.0 ** 2 + 5.6 ** 2 + 5.6 ** 2)
    row = per_case.loc["SIJ_1_0005"]
    assert math.isnan(row["hd95_mm"]) and row["hd95_mm_penalised"] == pytest.approx(diagonal)
    assert row["assd_mm_penalised"] == pytest.approx(diagonal) and row["penalty_mm"] == pytest.approx(diagonal)
    assert row["nsd_tolerance_slice_mm"] == 4.0 and row["slice_spacing_mm"] == 4.0
    assert row["fp_lesions"] == 1
    penalty = summary["all_cases"]["penalty"]
    assert penalty["n_penalised"] == 1 and penalty["penalised_case_ids"] == ["SIJ_1_0005"]
    assert "diagonal" in penalty["penalty_mm"]
    raw = per_case["hd95_mm"].dropna()
    assert len(raw) == 4
    assert penalty["hd95_mm_mean_without_penalty"] == pytest.approx(raw.mean())
    assert penalty["hd95_mm_mean_with_penalty"] == pytest.approx((raw.sum() + diagonal) / 5)
    assert summary["all_cases"]["metrics"]["hd95_mm_penalised"]["n"] == 5
    assert summary["lesion_overlap_fraction"] == 0.1 and "26-connected" in summary["lesion_detection"]
    assert summary["skipped_case_ids"] == [] and summary["n_skipped"] == 0
    lesions = pd.read_csv(tmp_path / "seg" / "internal_test_lesions.csv", dtype={"case_id": str})
    assert list(lesions.columns) == ["case_id", "lesion_id", "lesion_volume_ml", "overlap_fraction", "detected"]
    assert int(lesions["detected"].sum()) == int(per_case["detected_lesions"].sum())
    assert len(lesions) == int(per_case["ref_lesions"].sum())
    assert summary["lesions_csv"] == "internal_test_lesions.csv"


def test_cli_missing_skip_lists_the_skipped_cases(folders, tmp_path, caplog):
    ref_dir, pred_dir, _ = folders
    (pred_dir / "SIJ_1_0002.nii.gz").unlink()
    out = tmp_path / "oof.csv"
    with caplog.at_level("INFO"):
        rc = main(["evaluate-seg", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(out),
                   "--n-boot", "20", "--missing", "skip"])
    assert rc == 0
    summary = json.loads((tmp_path / "oof_summary.json").read_text(encoding="utf-8"))
    assert summary["skipped_case_ids"] == ["SIJ_1_0002"] and summary["n_skipped"] == 1
    assert summary["all_cases"]["n_cases"] == 4
    assert "1 skipped without a prediction" in caplog.text


@pytest.mark.parametrize("flag, value", [("--nsd-tolerance-mm", "nan"), ("--nsd-tolerance-mm", "0"),
                                         ("--nsd-tolerance-mm", "inf"), ("--n-boot", "0"), ("--jobs", "0"),
                                         ("--lesion-overlap-fraction", "0"), ("--lesion-overlap-fraction", "1.5"),
                                         ("--missing", "ignore")])
def test_cli_refuses_bad_numbers(folders, tmp_path, flag, value, capsys):
    ref_dir, pred_dir, _ = folders
    with pytest.raises(SystemExit) as exit_info:
        main(["-q", "evaluate-seg", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(tmp_path / "x.csv"),
              flag, value])
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_cli_refuses_a_folder_as_output(folders, tmp_path, capsys):
    ref_dir, pred_dir, _ = folders
    with pytest.raises(SystemExit):
        main(["-q", "evaluate-seg", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(tmp_path)])
    assert "is a folder" in capsys.readouterr().err


def test_study_stage_writes_per_case_and_lesion_tables(tmp_path):
    from benchmarks.engine.study import RunPaths
    from nnunet_fm.cli import evaluate_seg
    from nnunet_fm.config import RunConfig

    stage = evaluate_seg.study_stage(RunConfig(), RunPaths(tmp_path / "run", tmp_path / "work"))
    assert sorted(p.name for p in stage.outputs) == sorted(
        f"{n}{s}.csv" for n in ("oof", "internal_test", "external_test") for s in ("", "_lesions"))
