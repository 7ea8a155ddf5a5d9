"""Feature table: pyradiomics names and values, FM features, faults isolated per case."""

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sitk = pytest.importorskip("SimpleITK")
featureextractor = pytest.importorskip("radiomics.featureextractor")

from classifiers.feature_extraction import (  # noqa: E402
    default_params_file,
    extract_case,
    extract_features,
    pair_cases,
)
from classifiers.shape_features import FM_TABLE_COLUMNS  # noqa: E402
from nnunet_fm.cli import main  # noqa: E402

SPACING_XYZ = (0.7, 0.7, 4.0)
VOXEL_ML = 0.7 * 0.7 * 4.0 / 1000.0
OBLIQUE = (  # 20 degrees about the slice axis: a semi-coronal-like oblique matrix
    math.cos(math.radians(20)), -math.sin(math.radians(20)), 0.0,
    math.sin(math.radians(20)), math.cos(math.radians(20)), 0.0,
    0.0, 0.0, 1.0,
)


def _volume(seed, shape=(8, 48, 64), lesions=((slice(2, 5), slice(10, 18), slice(8, 16)),)):
    rng = np.random.default_rng(seed)
    image = rng.normal(200.0, 25.0, size=shape).astype(np.float32)
    image[:, :, :4] = 5.0  # dark background at the edges
    image[:, :, -4:] = 5.0
    mask = np.zeros(shape, dtype=np.uint8)
    for lesion in lesions:
        mask[lesion] = 1
    image[mask > 0] += 250.0
    return image, mask


def _write(path, array, direction=None, origin=(0.0, 0.0, 0.0), spacing=SPACING_XYZ):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture
def cohort(tmp_path):
    """Five cases: two plain, one oblique, one empty mask, one two-lesion case."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    two = ((slice(2, 4), slice(10, 14), slice(8, 12)), (slice(4, 6), slice(30, 36), slice(44, 50)))
    specs = {
        "SIJ_1_0001": dict(seed=1),
        "SIJ_1_0002": dict(seed=2, lesions=two),
        "SIJ_1_0003": dict(seed=3, direction=OBLIQUE),
        "SIJ_2_0001": dict(seed=4, empty=True),
    }
    for case_id, spec in specs.items():
        image, mask = _volume(spec["seed"], lesions=spec.get("lesions", _volume.__defaults__[1]))
        if spec.get("empty"):
            mask[:] = 0
        _write(images / f"{case_id}_0000.nii.gz", image, spec.get("direction"))
        _write(masks / f"{case_id}.nii.gz", mask, spec.get("direction"))
    return images, masks


def test_pairing_handles_nnunet_channel_and_case_ids_ending_in_digits(tmp_path):
    images, masks = tmp_path / "i", tmp_path / "m"
    images.mkdir()
    masks.mkdir()
    image, mask = _volume(0, shape=(2, 4, 4), lesions=())
    _write(images / "SIJ_1_0001.nii.gz", image)  # plain name, id ends in _0001
    _write(images / "SIJ_1_0002_0000.nii.gz", image)
    _write(images / "SIJ_1_0002_0001.nii.gz", image)  # another channel: ignored
    _write(images / "OTHER_0000.nii.gz", image)  # no mask: skipped
    for case in ("SIJ_1_0001", "SIJ_1_0002", "SIJ_1_0003"):
        _write(masks / f"{case}.nii.gz", mask)
    tasks = {t.case_id: t for t in pair_cases(images, masks)}
    assert sorted(tasks) == ["SIJ_1_0001", "SIJ_1_0002", "SIJ_1_0003"]
    assert tasks["SIJ_1_0001"].image_path.endswith("SIJ_1_0001.nii.gz")
    assert tasks["SIJ_1_0002"].image_path.endswith("SIJ_1_0002_0000.nii.gz")
    assert "no image" in tasks["SIJ_1_0003"].problem


def _converter_layout(root, channel_names=("T1", "STIR")):
    """A tiny nnU-Net raw dataset as the converter writes it, plus a predictions root."""
    import json

    image, mask = _volume(0, shape=(2, 4, 4), lesions=())
    ds = root / "Dataset501_SIJFM"
    layout = {"Tr": "SIJ_1_0001", "Ts": "SIJ_1_0002", "Ext": "SIJ_2_0001"}
    for part, case in layout.items():
        for folder in (ds / f"images{part}", ds / f"labels{part}"):
            folder.mkdir(parents=True)
        for k in range(len(channel_names)):
            _write(ds / f"images{part}" / f"{case}_{k:04d}.nii.gz", image)
        _write(ds / f"labels{part}" / f"{case}.nii.gz", mask)
    (ds / "dataset.json").write_text(json.dumps({"channel_names": dict(enumerate(channel_names))}))
    predictions = root / "predictions"
    for sub, case in (("oof", "SIJ_1_0001"), ("internal_test", "SIJ_1_0002")):
        (predictions / sub).mkdir(parents=True)
        _write(predictions / sub / f"{case}.nii.gz", mask)
    (predictions / "oof" / "plans.json").write_text("{}")  # nnU-Net's extras are not masks
    return ds, predictions


def test_pairing_accepts_converter_dataset_and_predictions_folders(tmp_path):
    ds, predictions = _converter_layout(tmp_path)
    tasks = {t.case_id: t for t in pair_cases(ds, ds)}
    assert sorted(tasks) == ["SIJ_1_0001", "SIJ_1_0002", "SIJ_2_0001"]
    assert tasks["SIJ_2_0001"].image_path.endswith("imagesExt/SIJ_2_0001_0000.nii.gz")
    assert {t.sequence for t in tasks.values()} == {"T1"}
    stir = {t.case_id: t for t in pair_cases(ds / "imagesTr", predictions, channel=1)}
    assert sorted(stir) == ["SIJ_1_0001", "SIJ_1_0002"]
    assert stir["SIJ_1_0001"].image_path.endswith("SIJ_1_0001_0001.nii.gz")
    assert stir["SIJ_1_0001"].sequence == "STIR"  # from dataset.json's channel_names
    assert "no image SIJ_1_0002_0001.*" in stir["SIJ_1_0002"].problem  # it is in imagesTs, not given
    assert pair_cases(ds / "imagesTr", predictions / "oof", sequence="T1W")[0].sequence == "T1W"


def test_pairing_refuses_a_case_in_two_subfolders(tmp_path):
    ds, _ = _converter_layout(tmp_path)
    image, mask = _volume(0, shape=(2, 4, 4), lesions=())
    _write(ds / "labelsTs" / "SIJ_1_0001.nii.gz", mask)
    with pytest.raises(ValueError, match="SIJ_1_0001 is in two folders"):
        pair_cases(ds, ds)


def test_table_layout_values_and_empty_mask(cohort):
    images, masks = cohort
    table = extract_features(images, masks, jobs=1)
    assert list(table["case_id"]) == ["SIJ_1_0001", "SIJ_1_0002", "SIJ_1_0003", "SIJ_2_0001"]
    columns = list(table.columns)
    assert columns[0] == "case_id" and columns[-2:] == ["mask_empty", "error"]
    assert columns[-2 - len(FM_TABLE_COLUMNS) : -2] == list(FM_TABLE_COLUMNS)
    assert columns[-3 - len(FM_TABLE_COLUMNS)] == "radiomics_shape_note"  # after the radiomics block
    radiomics_columns = columns[1 : -3 - len(FM_TABLE_COLUMNS)]
    assert all(c.startswith("original_") for c in radiomics_columns)
    for cls in ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"):
        assert any(c.startswith(f"original_{cls}_") for c in radiomics_columns), cls
    assert "original_firstorder_Mean" in columns and "original_glcm_Contrast" in columns
    assert not any(c.startswith("diagnostics") for c in columns)
    assert (table["error"] == "").all()

    row = table.set_index("case_id").loc["SIJ_1_0002"]
    assert row["fm_volume_ml"] == pytest.approx((2 * 4 * 4 + 2 * 6 * 6) * VOXEL_ML)
    assert row["fm_lesion_count"] == 2
    assert row["fm_largest_lesion_ml"] == pytest.approx(72 * VOXEL_ML)
    assert row["mask_empty"] == 0

    empty = table.set_index("case_id").loc["SIJ_2_0001"]
    assert empty["mask_empty"] == 1 and empty["fm_volume_ml"] == 0 and empty["fm_lesion_count"] == 0
    assert np.isnan(empty[radiomics_columns].astype(float)).all()


def test_values_match_direct_pyradiomics_call(cohort):
    images, masks = cohort
    table = extract_features(images, masks, jobs=1).set_index("case_id")
    extractor = featureextractor.RadiomicsFeatureExtractor(str(default_params_file()))
    for case_id in ("SIJ_1_0001", "SIJ_1_0003"):  # plain and oblique
        direct = extractor.execute(str(images / f"{case_id}_0000.nii.gz"), str(masks / f"{case_id}.nii.gz"))
        for name in ("original_firstorder_Mean", "original_firstorder_Entropy", "original_shape_VoxelVolume",
                     "original_shape_MeshVolume", "original_glcm_Contrast", "original_glrlm_RunEntropy",
                     "original_glszm_ZoneEntropy", "original_gldm_DependenceEntropy", "original_ngtdm_Coarseness"):
            assert table.loc[case_id, name] == pytest.approx(float(direct[name]), rel=1e-6), (case_id, name)
        assert table.loc[case_id, "original_shape_VoxelVolume"] == pytest.approx(3 * 8 * 8 * 0.7 * 0.7 * 4.0)


def test_geometry_within_tolerance_passes_beyond_fails_alone(cohort):
    images, masks = cohort
    image, mask = _volume(7)
    near = list(OBLIQUE)
    near[0] += 1e-5  # qform/sform-style noise
    _write(images / "SIJ_3_0001_0000.nii.gz", image, OBLIQUE)
    _write(masks / "SIJ_3_0001.nii.gz", mask, tuple(near))
    _write(images / "SIJ_3_0002_0000.nii.gz", image)
    _write(masks / "SIJ_3_0002.nii.gz", mask, origin=(0.0, 0.0, 2.0))  # half a slice off
    table = extract_features(images, masks, jobs=1).set_index("case_id")
    assert table.loc["SIJ_3_0001", "error"] == ""
    assert table.loc["SIJ_3_0001", "fm_volume_ml"] == pytest.approx(192 * VOXEL_ML)
    assert not math.isnan(table.loc["SIJ_3_0001", "original_glcm_Contrast"])
    message = table.loc["SIJ_3_0002", "error"]
    assert "SIJ_3_0002" in message and "origin differs" in message
    assert math.isnan(table.loc["SIJ_3_0002", "fm_volume_ml"])
    assert (table.drop(index="SIJ_3_0002")["error"] == "").all()


def test_corrupt_file_and_tiny_masks(cohort, tmp_path):
    images, masks = cohort
    (images / "SIJ_4_0001_0000.nii.gz").write_bytes(b"this is not a NIfTI file")
    image, mask = _volume(8, shape=(8, 48, 64), lesions=())
    _write(masks / "SIJ_4_0001.nii.gz", mask)
    mask[3, 20, 20] = 1
    _write(images / "SIJ_4_0002_0000.nii.gz", image)
    _write(masks / "SIJ_4_0002.nii.gz", mask)
    through_plane = np.zeros_like(mask)
    through_plane[2, 20, 20] = through_plane[5, 20, 20] = 1  # one pixel in plane per slice
    _write(images / "SIJ_4_0003_0000.nii.gz", image)
    _write(masks / "SIJ_4_0003.nii.gz", through_plane)
    in_plane_line = np.zeros_like(mask)
    in_plane_line[3, 20, 20:22] = 1  # two voxels in one slice: smallest usable ROI
    _write(images / "SIJ_4_0004_0000.nii.gz", image)
    _write(masks / "SIJ_4_0004.nii.gz", in_plane_line)
    table = extract_features(images, masks, jobs=2, out_csv=tmp_path / "f.csv").set_index("case_id")
    assert "SIJ_4_0001" in table.loc["SIJ_4_0001", "error"] and "cannot read" in table.loc["SIJ_4_0001", "error"]
    single = table.loc["SIJ_4_0002"]
    assert single["error"] == "" and single["mask_empty"] == 0
    assert single["fm_volume_ml"] == pytest.approx(VOXEL_ML)
    assert math.isnan(single["original_firstorder_Mean"])
    stacked = table.loc["SIJ_4_0003"]
    assert stacked["error"] == "" and stacked["fm_lesion_count"] == 2
    assert math.isnan(stacked["original_glcm_Contrast"])
    line = table.loc["SIJ_4_0004"]
    assert line["error"] == "" and line["original_shape_VoxelVolume"] == pytest.approx(2 * 0.7 * 0.7 * 4.0)
    assert np.isfinite(line["original_glcm_Contrast"])
    assert (table.drop(index="SIJ_4_0001")["error"] == "").all()
    on_disk = pd.read_csv(tmp_path / "f.csv", keep_default_na=False, na_values=[""])
    assert list(on_disk.columns) == ["case_id", *table.columns]


def test_jobs_2_equals_jobs_1(cohort):
    images, masks = cohort
    one = extract_features(images, masks, jobs=1)
    two = extract_features(images, masks, jobs=2)
    pd.testing.assert_frame_equal(one, two)


def test_extract_case_direct(cohort):
    images, masks = cohort
    values = extract_case(images / "SIJ_1_0001_0000.nii.gz", masks / "SIJ_1_0001.nii.gz")
    assert values["mask_empty"] == 0
    assert values["fm_slice_count"] == 3 and values["fm_slice_extent_mm"] == pytest.approx(12.0)
    assert values["fm_marrow_intensity_ratio"] > 1.5  # FM is brighter than its marrow shell


def test_cli_end_to_end(cohort, tmp_path):
    images, masks = cohort
    out = tmp_path / "out" / "features.csv"
    assert main(["features", "--images", str(images), "--masks", str(masks), "--out", str(out), "--jobs", "1"]) == 0
    table = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert len(table) == 4 and table.columns[0] == "case_id" and table.columns[-1] == "error"
    assert main(["features", "--images", str(images), "--masks", str(tmp_path / "nope"), "--out", str(out)]) == 1


def test_dask_missing_gives_clear_error(cohort, monkeypatch):
    images, masks = cohort
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(RuntimeError, match="dask"):
        extract_features(images, masks, cluster="tcp://127.0.0.1:1")


def test_dask_scheduler_matches_processes(cohort):
    distributed = pytest.importorskip("dask.distributed")
    images, masks = cohort
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster:
        table = extract_features(images, masks, cluster=cluster.scheduler_address)
    pd.testing.assert_frame_equal(table, extract_features(images, masks, jobs=1))


REAL_SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "real_sij_sample"


@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason="../shared/real_sij_sample is absent")
def test_real_oblique_scan_with_direction_noise(tmp_path):
    """Real semi-coronal T1 (oblique, 0.595 mm, int16 + scale) with a reader mask whose
    direction cosines differ by ~3.5e-5: accepted, and equal to a direct pyradiomics call."""
    scan = REAL_SAMPLE / "4386"
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    (images / "4386_0000.nii.gz").symlink_to(scan / "t1w.nii.gz")
    (masks / "4386.nii.gz").symlink_to(scan / "inflammation_stir_R11.nii.gz")
    row = extract_features(images, masks, jobs=1).iloc[0]
    assert row["error"] == "" and row["mask_empty"] == 0
    mask = sitk.ReadImage(str(scan / "inflammation_stir_R11.nii.gz"))
    expected_ml = float(sitk.GetArrayFromImage(mask).sum()) * float(np.prod(mask.GetSpacing())) / 1000.0
    assert row["fm_volume_ml"] == pytest.approx(expected_ml)
    assert row["fm_lesion_count"] > 1 and 0.0 <= row["fm_iliac_fraction"] <= 1.0
    # Direct pyradiomics call on the same pair with the image geometry copied onto the
    # mask (what the pipeline does after its tolerance check): identical values.
    aligned = sitk.Cast(mask, sitk.sitkUInt8)
    aligned.CopyInformation(sitk.ReadImage(str(scan / "t1w.nii.gz")))
    sitk.WriteImage(aligned, str(tmp_path / "aligned.nii.gz"))
    extractor = featureextractor.RadiomicsFeatureExtractor(str(default_params_file()))
    direct = extractor.execute(str(scan / "t1w.nii.gz"), str(tmp_path / "aligned.nii.gz"))
    for name in ("original_firstorder_Median", "original_glcm_Contrast", "original_shape_MeshVolume"):
        assert row[name] == pytest.approx(float(direct[name]), rel=1e-6)
    # On the raw mask pyradiomics resamples on the mask's slightly different direction:
    # the ~3.5e-5 noise moves values by well under 1%.
    raw = extractor.execute(str(scan / "t1w.nii.gz"), str(scan / "inflammation_stir_R11.nii.gz"))
    assert row["original_firstorder_Median"] == pytest.approx(float(raw["original_firstorder_Median"]), rel=1e-2)


def test_stir_sequence_leaves_t1_features_nan_in_the_table(cohort):
    images, masks = cohort
    table = extract_features(images, masks, jobs=1, sequence="STIR").set_index("case_id")
    lesion = table.loc["SIJ_1_0001"]
    assert lesion["error"] == "" and lesion["fm_volume_ml"] > 0
    assert math.isnan(lesion["fm_marrow_intensity_ratio"]) and math.isnan(lesion["fm_iliac_fraction"])
    assert "need a T1 image" in lesion["fm_t1_features_note"]


# --- The speed-ups change no value -------------------------------------------------------
# extract_case reads each image once and the fm_ features work on the mask's bounding box
# (plus the margin each one reads); these tests compare every value with plain pyradiomics
# on the files and with whole-array versions of the fm_ computations, on an oblique,
# anisotropic volume at the real scans' spacing with masks off centre and on the border.

REAL_SPACING_XYZ = (0.595, 0.595, 3.3)  # pyradiomics resamples in plane (0.7 mm): BSpline runs
TILTED = (  # 40 degrees about the image x axis, plus a small in-plane turn: semi-coronal-like
    0.9986, -0.0406, 0.0341,
    0.0523, 0.7646, -0.6424,
    0.0, 0.6433, 0.7657,
)


def _anatomy(seed=11, shape=(12, 70, 90)):
    """A T1-like volume: dark background, body, bright marrow with two dark joint bands."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape, dtype=float)
    image = np.full(shape, 15.0)
    body = ((x - 45) / 42) ** 2 + ((y - 35) / 33) ** 2 < 1
    image[body] = 250.0
    image[body & (np.abs(x - 45) < 32) & (np.abs(y - 35) < 24)] = 380.0
    for joint in (25 + 0.2 * (y - 35), 65 - 0.2 * (y - 35)):
        image[body & (np.abs(x - joint) < 1.5) & (np.abs(y - 35) < 24)] = 70.0
    image += rng.normal(0.0, 12.0, size=shape)
    return image.astype(np.float32)


def _masks_for(shape=(12, 70, 90)):
    """Masks off centre, on the image border (first slice, x = 0, y = 0) and a fragmented one."""
    z, y, x = np.indices(shape, dtype=float)
    off_centre = (((z - 7) / 2.5) ** 2 + ((y - 47) / 7) ** 2 + ((x - 62) / 5) ** 2 < 1)
    off_centre |= ((z - 4) / 1.5) ** 2 + ((y - 30) / 5) ** 2 + ((x - 20) / 4) ** 2 < 1
    border = ((z / 3) ** 2 + (y / 9) ** 2 + (x / 7) ** 2 < 1) | ((np.abs(z - 11) < 1) & (y > 55) & (x > 80))
    fragmented = (np.random.default_rng(5).random(shape) < 0.4) & (np.abs(x - 45) < 15) & (np.abs(y - 35) < 12)
    return {"off_centre": off_centre, "border": border, "fragmented": fragmented}


def _radiomics_of(values):
    return {k: v for k, v in values.items() if k.startswith("original_")}


@pytest.mark.parametrize("kind", ["off_centre", "border", "fragmented"])
def test_every_radiomics_value_equals_plain_pyradiomics(tmp_path, kind):
    image = _anatomy()
    mask = _masks_for()[kind].astype(np.uint8)
    image_path = _write(tmp_path / "img.nii.gz", image, TILTED, origin=(-30.0, 12.5, 40.0), spacing=REAL_SPACING_XYZ)
    mask_path = _write(tmp_path / "msk.nii.gz", mask, TILTED, origin=(-30.0, 12.5, 40.0), spacing=REAL_SPACING_XYZ)
    ours = _radiomics_of(extract_case(image_path, mask_path, max_shape_surface_faces=None))
    direct = featureextractor.RadiomicsFeatureExtractor(str(default_params_file())).execute(
        str(image_path), str(mask_path))
    direct = {k: float(v) for k, v in direct.items() if not k.startswith("diagnostics_")}
    assert list(ours) == list(direct) and len(ours) > 100
    differ = [k for k in direct if not (ours[k] == direct[k] or (math.isnan(ours[k]) and math.isnan(direct[k])))]
    assert not differ, f"{kind}: {len(differ)} value(s) differ from plain pyradiomics, e.g. {differ[:3]}"


def _marrow_ratio_whole_array(image, mask, spacing_zyx):
    """fm_marrow_intensity_ratio computed on the whole array (the definition)."""
    from scipy import ndimage

    distance = ndimage.distance_transform_edt(~mask, sampling=list(spacing_zyx))
    shell = (distance >= 2.0) & (distance <= 6.0) & ~mask
    values = np.asarray(image, dtype=float)[shell]
    first = float(np.median(values))
    shell_median = float(np.median(values[values >= 0.5 * first]))
    return float(np.median(np.asarray(image, dtype=float)[mask])) / shell_median


def _joint_lines_row_by_row(image, side_mask, spacing_zyx, midline_x, left_of_index, body_extent):
    """estimate_joint_lines with one search window and one argmin per FM row."""
    from scipy import ndimage

    from classifiers.shape_features import JOINT_ROW_BAND_MM, JOINT_SMOOTHING_MM, _search_window

    nz, ny, nx = side_mask.shape
    lines = np.full((nz, ny), np.nan)
    sx = float(spacing_zyx[2])
    size = 2 * max(int(round(JOINT_ROW_BAND_MM / float(spacing_zyx[1]))), 0) + 1
    x_index = np.arange(nx)
    for z in np.flatnonzero(side_mask.any(axis=(1, 2))):
        fm, free = side_mask[z], ~side_mask[z]
        sums = ndimage.uniform_filter1d(np.where(free, image[z].astype(float), 0.0), size, axis=0, mode="constant")
        counts = ndimage.uniform_filter1d(free.astype(float), size, axis=0, mode="constant")
        fm_rows = np.flatnonzero(fm.any(axis=1))
        profiles = np.empty((fm_rows.size, nx))
        for i, y in enumerate(fm_rows):
            known = counts[y] > 1e-9
            profiles[i] = np.interp(x_index, x_index[known], sums[y, known] / counts[y, known]) if known.any() \
                else np.nan
        profiles = ndimage.gaussian_filter1d(profiles, sigma=JOINT_SMOOTHING_MM / sx, axis=1, mode="nearest")
        row_min = np.where(fm.any(axis=1), np.argmax(fm, axis=1), nx)
        row_max = np.where(fm.any(axis=1), nx - 1 - np.argmax(fm[:, ::-1], axis=1), -1)
        band_min = ndimage.minimum_filter1d(row_min, size, mode="constant", cval=nx)
        band_max = ndimage.maximum_filter1d(row_max, size, mode="constant", cval=-1)
        for i, y in enumerate(fm_rows):
            window = _search_window(np.array([band_min[y], band_max[y]]), nx, sx, midline_x, left_of_index,
                                    body_extent)
            if window is not None and np.isfinite(profiles[i]).all():
                lines[z, y] = window[0] + int(np.argmin(profiles[i, window[0]: window[1] + 1]))
    return lines


def _check_fm_against_whole_array(image, mask, spacing_zyx):
    from scipy import ndimage

    from classifiers.feature_extraction import voxel_surface_faces
    from classifiers.shape_features import (
        body_x_extent,
        estimate_joint_lines,
        estimate_midline_x,
        fm_features,
        marrow_intensity_ratio,
        voxel_volume_ml,
    )

    values = fm_features(mask, image, spacing_zyx)
    assert values["fm_marrow_intensity_ratio"] == _marrow_ratio_whole_array(image, mask, spacing_zyx)
    assert marrow_intensity_ratio(image, mask, spacing_zyx) == values["fm_marrow_intensity_ratio"]
    labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    assert values["fm_lesion_count"] == count
    assert values["fm_largest_lesion_ml"] == float(np.bincount(labels.ravel())[1:].max()) * voxel_volume_ml(spacing_zyx)
    extent, midline = body_x_extent(image), estimate_midline_x(image, mask.shape)
    x = np.arange(mask.shape[2])[None, None, :]
    for side, low in ((mask & (x < midline), True), (mask & (x > midline), False)):
        np.testing.assert_array_equal(
            estimate_joint_lines(image, side, spacing_zyx, midline, low, extent),
            _joint_lines_row_by_row(image, side, spacing_zyx, midline, low, extent))
    faces = sum(int(np.count_nonzero(np.diff(np.pad(mask, [(1, 1) if a == axis else (0, 0) for a in range(3)])
                                             .view(np.int8), axis=axis))) for axis in range(3))
    assert voxel_surface_faces(mask) == faces


@pytest.mark.parametrize("kind", ["off_centre", "border", "fragmented"])
def test_fm_features_on_the_crop_equal_whole_array_values(kind):
    image = _anatomy()
    _check_fm_against_whole_array(image, _masks_for()[kind], REAL_SPACING_XYZ[::-1])


@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason="../shared/real_sij_sample is absent")
def test_fm_features_on_the_crop_equal_whole_array_values_real_scan():
    scan = REAL_SAMPLE / "1013"
    image = sitk.ReadImage(str(scan / "t1w.nii.gz"), sitk.sitkFloat32)
    region = sitk.GetArrayFromImage(sitk.ReadImage(str(scan / "disease_region_t1w.nii.gz"))) > 0
    z, y, x = np.indices(region.shape)
    blobs = region & ((z - 12) ** 2 / 9 + (y - 150) ** 2 / 400 + (x - 120) ** 2 / 300 < 1)
    _check_fm_against_whole_array(sitk.GetArrayFromImage(image), blobs, image.GetSpacing()[::-1])
