"""Feature stability: ICC table from two mask sources, plot, CLI."""

import numpy as np
import pandas as pd
import pytest

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("radiomics")

from classifiers.feature_stability import icc_table, stability_band  # noqa: E402
from classifiers.icc import icc_both  # noqa: E402
from nnunet_fm.cli import main  # noqa: E402


def _write(path, array):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.7, 0.7, 4.0))
    sitk.WriteImage(image, str(path))


@pytest.fixture
def two_sources(tmp_path):
    """Six cases of different lesion size; mask B is mask A grown by one voxel in plane."""
    from scipy import ndimage

    images, masks_a, masks_b = (tmp_path / n for n in ("images", "a", "b"))
    for folder in (images, masks_a, masks_b):
        folder.mkdir()
    rng = np.random.default_rng(5)
    for i in range(6):
        image = rng.normal(200.0, 20.0, size=(6, 40, 48)).astype(np.float32)
        mask = np.zeros(image.shape, dtype=np.uint8)
        size = 4 + 2 * i
        mask[1:4, 8 : 8 + size, 10 : 10 + size] = 1
        image[mask > 0] += 150.0 + 20 * i
        grown = ndimage.binary_dilation(mask, structure=np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], dtype=bool))
        _write(images / f"CASE_{i:02d}_0000.nii.gz", image)
        _write(masks_a / f"CASE_{i:02d}.nii.gz", mask)
        _write(masks_b / f"CASE_{i:02d}.nii.gz", grown.astype(np.uint8))
    return images, masks_a, masks_b


def test_icc_table_sorted_and_matches_icc_module():
    a = pd.DataFrame({"case_id": ["x", "y", "z", "w"], "f_good": [1.0, 2.0, 3.0, 4.0], "f_bad": [1.0, 5.0, 2.0, 3.0],
                      "f_const": [1.0] * 4, "mask_empty": [0, 0, 0, 1], "error": ["", "", "", ""]})
    b = a.copy()
    b["f_good"] = [1.1, 2.1, 2.9, 9.0]
    b["f_bad"] = [4.0, 1.0, 3.0, 2.0]
    table = icc_table(a, b)
    assert list(table["feature"]) == ["f_good", "f_bad", "f_const"]  # NaN (no variance) last
    expected = icc_both(np.array([[1.0, 1.1], [2.0, 2.1], [3.0, 2.9]]))  # case w (empty) excluded
    assert table.loc[0, "icc_a1"] == pytest.approx(expected.icc_a1)
    assert table.loc[0, "icc_c1"] == pytest.approx(expected.icc_c1)
    assert table.loc[0, "n_cases"] == 3
    assert table.loc[2, "stability"] == "undefined"
    assert [stability_band(v) for v in (0.95, 0.8, 0.6, 0.1)] == ["excellent", "good", "moderate", "poor"]
    with pytest.raises(ValueError, match=">= 2 cases"):
        icc_table(a.iloc[:1], b.iloc[:1])


def test_cli_end_to_end(two_sources, tmp_path):
    images, masks_a, masks_b = two_sources
    out = tmp_path / "stability"
    argv = ["feature-stability", "--masks-a", str(masks_a), "--masks-b", str(masks_b), "--images", str(images),
            "--out", str(out), "--jobs", "1"]
    assert main(argv) == 0
    table = pd.read_csv(out / "feature_icc.csv")
    assert list(table.columns[:3]) == ["feature", "icc_a1", "icc_a1_ci_low"]
    finite = table["icc_a1"].dropna().to_numpy()
    assert np.all(np.diff(finite) <= 0)  # sorted by ICC(A,1), most stable first
    by_name = table.set_index("feature")
    # Volume is systematically larger with B: consistency stays high, agreement drops.
    assert by_name.loc["fm_volume_ml", "icc_c1"] > 0.9
    assert by_name.loc["fm_volume_ml", "icc_a1"] < by_name.loc["fm_volume_ml", "icc_c1"]
    assert by_name.loc["fm_lesion_count", "stability"] == "undefined"  # one lesion everywhere
    assert "original_firstorder_Mean" in by_name.index
    assert (out / "feature_icc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "features_a.csv").exists() and (out / "features_b.csv").exists()
    assert not list(out.glob(".*tmp*"))


def test_text_columns_are_no_features_and_an_all_nan_feature_is_undefined():
    import pandas as pd

    from classifiers.feature_stability import icc_table

    base = {"case_id": ["a", "b", "c"], "mask_empty": 0, "error": ""}
    table_a = pd.DataFrame({**base, "f": [1.0, 2.0, 3.0], "g": [float("nan")] * 3, "note": ["x", "", "y"]})
    table_b = pd.DataFrame({**base, "f": [1.2, 2.1, 2.8], "g": [float("nan")] * 3, "note": ["", "", ""]})
    table = icc_table(table_a, table_b).set_index("feature")
    assert "note" not in table.index
    assert table.loc["f", "icc_a1"] > 0.8 and table.loc["f", "n_cases"] == 3
    assert table.loc["g", "stability"] == "undefined" and table.loc["g", "n_cases"] == 0
