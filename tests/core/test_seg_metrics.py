"""Segmentation metrics against stored surface-distance / medpy / SimpleITK values."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pytest

from nnunet_fm import seg_metrics as sm

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "seg_metric_reference.json"
REAL_SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "real_sij_sample"
TOL = 1e-6


def _unpack(packed: dict) -> np.ndarray:
    shape = tuple(packed["shape"])
    bits = np.frombuffer(base64.b64decode(packed["bits"]), np.uint8)
    return np.unpackbits(bits)[: int(np.prod(shape))].reshape(shape).astype(bool)


def _cases():
    data = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return [pytest.param(case, id=case["name"]) for case in data["cases"]]


@pytest.mark.parametrize("case", _cases())
def test_matches_surface_distance_medpy_and_simpleitk(case):
    ref, pred, spacing = _unpack(case["ref"]), _unpack(case["pred"]), tuple(case["spacing_mm"])
    sd, medpy, itk = case["surface_distance"], case["medpy"], case["simpleitk"]
    row = sm.mask_metrics(ref, pred, spacing, nsd_tolerance_mm=2.0)
    assert row["empty_case"] == "none"
    assert row["dice"] == pytest.approx(sd["dice"], abs=TOL)
    assert row["dice"] == pytest.approx(medpy["dc"], abs=TOL)
    assert row["dice"] == pytest.approx(itk["dice"], abs=TOL)
    assert row["jaccard"] == pytest.approx(medpy["jc"], abs=TOL)
    assert row["jaccard"] == pytest.approx(itk["jaccard"], abs=TOL)
    assert row["hd95_mm"] == pytest.approx(sd["hd95_mm"], abs=TOL)
    mean_directed = (sd["average_distance_ref_to_pred_mm"] + sd["average_distance_pred_to_ref_mm"]) / 2
    assert row["assd_mm"] == pytest.approx(mean_directed, abs=TOL)
    assert row["nsd"] == pytest.approx(sd["surface_dice"]["2.0"], abs=TOL)
    assert row["volume_similarity"] == pytest.approx(itk["volume_similarity"], abs=TOL)
    # SimpleITK's reference counts use the one-shared-voxel rule: a vanishing overlap fraction.
    any_voxel = sm.lesion_counts(ref, pred, overlap_fraction=1e-12)
    for key in ("ref_lesions", "detected_lesions", "fp_lesions"):
        assert any_voxel[key] == itk[key], key
    assert row["ref_lesions"] == itk["ref_lesions"]
    assert row["nsd_tolerance_slice_mm"] == row["slice_spacing_mm"] == max(spacing)
    assert row["nsd_slice"] == sm.surface_dice_from_distances(sm.surface_distances(ref, pred, spacing), max(spacing))
    assert row["hd95_mm_penalised"] == row["hd95_mm"] and row["assd_mm_penalised"] == row["assd_mm"]
    distances = sm.surface_distances(ref, pred, spacing)
    forward, backward = sm.directed_average_distances_mm(distances)
    assert forward == pytest.approx(sd["average_distance_ref_to_pred_mm"], abs=TOL)
    assert backward == pytest.approx(sd["average_distance_pred_to_ref_mm"], abs=TOL)
    assert sm.robust_hausdorff_mm(distances, 100) == pytest.approx(sd["hd100_mm"], abs=TOL)
    assert sm.surface_dice_from_distances(distances, 1.0) == pytest.approx(sd["surface_dice"]["1.0"], abs=TOL)
    # The single-metric functions give the same numbers as mask_metrics.
    assert sm.hd95_mm(ref, pred, spacing) == pytest.approx(sd["hd95_mm"], abs=TOL)
    assert sm.assd_mm(ref, pred, spacing) == pytest.approx(mean_directed, abs=TOL)
    assert sm.nsd(ref, pred, spacing, 1.0) == pytest.approx(sd["surface_dice"]["1.0"], abs=TOL)


def test_reference_set_covers_lesion_miss_and_false_positive():
    data = {c["name"]: c for c in json.loads(REFERENCE.read_text(encoding="utf-8"))["cases"]}
    itk = data["lesions_missed_and_fp"]["simpleitk"]
    assert (itk["ref_lesions"], itk["detected_lesions"], itk["fp_lesions"]) == (4, 3, 1)
    assert {tuple(c["spacing_mm"]) for c in data.values()} == {(4.0, 0.7, 0.7), (3.3, 0.595, 0.8)}


def _blob(shape=(6, 20, 20)):
    mask = np.zeros(shape, bool)
    mask[2:4, 5:12, 6:10] = True  # 2*7*4 = 56 voxels
    return mask


def test_both_empty():
    empty = np.zeros((6, 20, 20), bool)
    row = sm.mask_metrics(empty, empty, (4.0, 0.7, 0.7))
    assert row == {
        "dice": 1.0, "jaccard": 1.0, "hd95_mm": 0.0, "assd_mm": 0.0, "nsd": 1.0,
        "volume_similarity": 1.0, "ref_volume_ml": 0.0, "pred_volume_ml": 0.0,
        "ref_lesions": 0, "detected_lesions": 0, "fp_lesions": 0, "empty_case": "both",
        "nsd_slice": 1.0, "nsd_tolerance_slice_mm": 4.0, "slice_spacing_mm": 4.0,
        "hd95_mm_penalised": 0.0, "assd_mm_penalised": 0.0,
        "penalty_mm": pytest.approx(math.sqrt(24.0 ** 2 + 14.0 ** 2 + 14.0 ** 2)),
    }
    assert sm.dice(empty, empty) == 1.0 and sm.hd95_mm(empty, empty, (1, 1, 1)) == 0.0


@pytest.mark.parametrize("which", ["ref_only", "pred_only"])
def test_one_empty(which):
    blob, empty = _blob(), np.zeros((6, 20, 20), bool)
    ref, pred = (blob, empty) if which == "ref_only" else (empty, blob)
    row = sm.mask_metrics(ref, pred, (4.0, 0.7, 0.7))
    assert row["empty_case"] == which
    assert row["dice"] == 0.0 and row["jaccard"] == 0.0 and row["nsd"] == 0.0
    assert row["volume_similarity"] == 0.0
    assert math.isnan(row["hd95_mm"]) and math.isnan(row["assd_mm"])
    # penalty: diagonal of the 6 x 20 x 20 grid at 4 x 0.7 x 0.7 mm = sqrt(24² + 14² + 14²)
    diagonal = math.sqrt(24.0 ** 2 + 14.0 ** 2 + 14.0 ** 2)
    assert row["penalty_mm"] == pytest.approx(diagonal)
    assert row["hd95_mm_penalised"] == pytest.approx(diagonal) and row["assd_mm_penalised"] == pytest.approx(diagonal)
    assert row["nsd_slice"] == 0.0
    volume = 56 * 4.0 * 0.7 * 0.7 / 1000
    assert row["ref_volume_ml" if which == "ref_only" else "pred_volume_ml"] == pytest.approx(volume)
    assert (row["ref_lesions"], row["detected_lesions"], row["fp_lesions"]) == (
        (1, 0, 0) if which == "ref_only" else (0, 0, 1))
    assert math.isnan(sm.hd95_mm(ref, pred, (4.0, 0.7, 0.7)))
    assert math.isnan(sm.assd_mm(ref, pred, (4.0, 0.7, 0.7)))


def test_neither_empty_and_identical():
    blob = _blob()
    row = sm.mask_metrics(blob, blob, (4.0, 0.7, 0.7))
    assert row["empty_case"] == "none"
    assert (row["dice"], row["hd95_mm"], row["assd_mm"], row["nsd"]) == (1.0, 0.0, 0.0, 1.0)
    assert row["ref_volume_ml"] == pytest.approx(0.10976)


def test_lesions_are_26_connected():
    ref = np.zeros((4, 6, 6), bool)
    ref[1, 1, 1] = ref[2, 2, 2] = True  # corner-touching: one lesion under 26-connectivity
    ref[1, 4, 4] = True
    pred = np.zeros_like(ref)
    pred[2, 2, 2] = True
    pred[3, 5, 0] = True
    assert sm.lesion_counts(ref, pred) == {"ref_lesions": 2, "detected_lesions": 1, "fp_lesions": 1}


def test_lesion_detection_needs_the_overlap_fraction():
    ref = np.zeros((4, 10, 10), bool)
    ref[1, 0:5, 0:4] = True  # lesion 1: 20 voxels
    ref[1, 7:9, 7:9] = True  # lesion 2: 4 voxels
    pred = np.zeros_like(ref)
    pred[1, 0, 0] = True  # 1 of 20 voxels of lesion 1 = 5% (< 10%)
    pred[1, 7, 7] = True  # 1 of 4 voxels of lesion 2 = 25%
    pred[3, 0:3, 7:9] = True  # 6 voxels outside the reference: false positive
    counts = sm.lesion_counts(ref, pred)  # default threshold 0.1
    assert counts == {"ref_lesions": 2, "detected_lesions": 1, "fp_lesions": 1}
    # the one-voxel rule would call lesion 1 detected
    assert sm.lesion_counts(ref, pred, 1e-12)["detected_lesions"] == 2
    # predicted component {(1,7,7), (1,8,8), (1,8,9)} (26-connected), 2 of 3 voxels in the reference:
    # a false positive at threshold 0.7, not at 0.5
    pred[1, 8, 8:10] = True
    assert sm.lesion_counts(ref, pred, 0.5)["fp_lesions"] == 1
    assert sm.lesion_counts(ref, pred, 0.7)["fp_lesions"] == 2
    pred[1, 8, 8:10] = False
    rows = sm.lesion_table(ref, pred, (3.0, 0.5, 0.5))
    assert [r["lesion_id"] for r in rows] == [1, 2]
    assert [r["lesion_volume_ml"] for r in rows] == pytest.approx([20 * 0.75 / 1000, 4 * 0.75 / 1000])
    assert [r["overlap_fraction"] for r in rows] == pytest.approx([0.05, 0.25])
    assert [r["detected"] for r in rows] == [False, True]
    with pytest.raises(ValueError, match="overlap fraction"):
        sm.lesion_counts(ref, pred, 0.0)
    with pytest.raises(ValueError, match="overlap fraction"):
        sm.lesion_table(ref, pred, (1, 1, 1), math.nan)


def test_bad_shapes_and_spacing_raise():
    with pytest.raises(ValueError, match="shapes differ"):
        sm.mask_metrics(np.zeros((2, 3, 4), bool), np.zeros((2, 3, 5), bool), (1, 1, 1))
    with pytest.raises(ValueError, match="spacing"):
        sm.mask_metrics(np.zeros((2, 3, 4), bool), np.zeros((2, 3, 4), bool), (1, 0, 1))


# --------------------------------------------------------------------------- images

def _image(array: np.ndarray, spacing_xyz=(0.7, 0.7, 4.0), direction=None, origin=(1.0, -2.0, 3.0)):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.SetSpacing(spacing_xyz)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(tuple(float(v) for v in np.asarray(direction).ravel()))
    return image


def _rotation(angles):
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("xyz", angles, degrees=True).as_matrix()


def test_case_metrics_columns_and_oblique_invariance():
    data = json.loads(REFERENCE.read_text(encoding="utf-8"))["cases"]
    case = next(c for c in data if c["name"] == "ellipsoid_odd")
    ref, pred = _unpack(case["ref"]), _unpack(case["pred"])
    spacing_xyz = tuple(reversed(case["spacing_mm"]))
    axial = sm.case_metrics(_image(ref, spacing_xyz), _image(pred, spacing_xyz), 2.0, case_id="SIJ_1_0001")
    assert tuple(axial) == sm.CSV_COLUMNS
    assert axial["case_id"] == "SIJ_1_0001"
    assert axial["hd95_mm"] == pytest.approx(case["surface_distance"]["hd95_mm"], abs=TOL)
    rotation = _rotation([31.0, -12.0, 47.0])  # semi-coronal-like oblique frame
    noise = rotation + 3.5e-5 * np.eye(3)  # qform/sform-like noise, within tolerance
    oblique = sm.case_metrics(_image(ref, spacing_xyz, rotation), _image(pred, spacing_xyz, noise), 2.0)
    for key in sm.CSV_COLUMNS[1:]:
        assert oblique[key] == pytest.approx(axial[key], abs=1e-9), key


def test_physical_distance_in_rotated_frame_is_index_distance_times_spacing():
    rotation = _rotation([20.0, 35.0, -50.0])
    ref = np.zeros((8, 10, 10), bool)
    ref[2:5, 3:7, 3:7] = True
    pred = np.roll(ref, 2, axis=0)  # two slices up: 2 x 4 mm of displacement
    image = _image(ref, (0.7, 0.7, 4.0), rotation)
    p0 = np.array(image.TransformIndexToPhysicalPoint((3, 3, 2)))
    p1 = np.array(image.TransformIndexToPhysicalPoint((3, 3, 4)))
    assert np.linalg.norm(p1 - p0) == pytest.approx(8.0)
    row = sm.case_metrics(image, _image(pred, (0.7, 0.7, 4.0), rotation), 2.0)
    assert row["hd95_mm"] == pytest.approx(8.0)
    assert row["assd_mm"] == pytest.approx(sm.mask_metrics(ref, pred, (4.0, 0.7, 0.7))["assd_mm"])


def test_non_orthonormal_direction_rejected():
    shear = np.array([[1.0, 0.2, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    ref = _blob()
    with pytest.raises(ValueError, match="not orthonormal"):
        sm.case_metrics(_image(ref, direction=shear), _image(ref, direction=shear), 2.0, case_id="c7")
    with pytest.raises(ValueError, match="not orthonormal"):
        sm.check_orthonormal_direction(shear.ravel())
    sm.check_orthonormal_direction(_rotation([10, 20, 30]).ravel())


def test_geometry_mismatch_is_a_clear_error():
    from nnunet_fm.image_io import GeometryMismatchError

    ref = _blob()
    with pytest.raises(GeometryMismatchError, match=r"case c9: predicted mask.*spacing differs"):
        sm.case_metrics(_image(ref), _image(ref, (0.7, 0.7, 3.0)), 2.0, case_id="c9")
    with pytest.raises(GeometryMismatchError, match="size"):
        sm.case_metrics(_image(ref), _image(np.zeros((6, 20, 21), bool)), 2.0)
    with pytest.raises(GeometryMismatchError, match="origin"):
        sm.case_metrics(_image(ref), _image(ref, origin=(1.0, -2.0, 3.5)), 2.0)


def test_non_binary_mask_rejected():
    ref = _blob().astype(np.uint8)
    pred = ref * 2
    with pytest.raises(ValueError, match=r"case c3: predicted mask holds values \[2\]"):
        sm.case_metrics(_image(ref), _image(pred), 2.0, case_id="c3")


@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason="shared/real_sij_sample not available")
@pytest.mark.parametrize("scan, published", [("1013", 0.8663), ("4386", 0.4919)])
def test_real_sample_reader_repeatability_dice(scan, published):
    from nnunet_fm.image_io import GEOMETRY_TOLERANCE, Geometry, read_image

    r11 = read_image(REAL_SAMPLE / scan / "inflammation_stir_R11.nii.gz")
    r12 = read_image(REAL_SAMPLE / scan / "inflammation_stir_R12.nii.gz")
    worst = np.max(np.abs(np.subtract(Geometry.of(r11).direction, Geometry.of(r12).direction)))
    assert worst <= GEOMETRY_TOLERANCE  # stated tolerance absorbs the qform/sform noise
    row = sm.case_metrics(r11, r12, 2.0, GEOMETRY_TOLERANCE, case_id=scan)
    assert round(row["dice"], 4) == published


def test_slice_tolerance_and_penalty_on_a_real_like_oblique_grid():
    # 25 slices of 336 x 336 at 0.6 x 0.6 x 3.3 mm (axis order z, y, x), semi-coronal oblique frame
    shape, spacing_zyx = (25, 336, 336), (3.3, 0.6, 0.6)
    ref = np.zeros(shape, bool)
    ref[10:14, 150:190, 140:200] = True
    pred = np.roll(ref, 1, axis=0)  # one slice off: top and bottom surfaces 3.3 mm away, sides touching
    rotation = _rotation([25.0, -8.0, 0.0])
    row = sm.case_metrics(_image(ref, tuple(reversed(spacing_zyx)), rotation),
                          _image(pred, tuple(reversed(spacing_zyx)), rotation), 2.0)
    assert row["nsd_tolerance_slice_mm"] == row["slice_spacing_mm"] == pytest.approx(3.3)
    assert row["nsd"] < 0.9  # 2 mm is below the slice spacing: the one-slice shift counts as error
    assert row["nsd_slice"] == pytest.approx(1.0)
    assert row["hd95_mm"] == pytest.approx(3.3)
    diagonal = math.sqrt((25 * 3.3) ** 2 + 2 * (336 * 0.6) ** 2)
    empty = sm.case_metrics(_image(ref, tuple(reversed(spacing_zyx)), rotation),
                            _image(np.zeros(shape, bool), tuple(reversed(spacing_zyx)), rotation), 2.0)
    assert empty["penalty_mm"] == pytest.approx(diagonal)
    assert empty["hd95_mm_penalised"] == pytest.approx(diagonal) and math.isnan(empty["hd95_mm"])
    assert (empty["ref_lesions"], empty["detected_lesions"], empty["fp_lesions"]) == (1, 0, 0)
