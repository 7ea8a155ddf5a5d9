"""Build the segmentation-metric reference values in ``seg_metric_reference.json``.

Run with a separate environment that has the reference libraries (surface-distance
needs numpy < 2)::

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install "numpy<2" surface-distance medpy scipy
    /tmp/refvenv/bin/python tests/reference/make_seg_metric_reference.py

The volumes are small anisotropic masks built from a fixed seed; they are stored in the
JSON (``np.packbits`` of the C-order boolean array, base64, plus the shape) so the tests
never regenerate them. Values stored per case:

* ``surface_distance``: DeepMind surface-distance 0.1 (``compute_dice_coefficient``,
  ``compute_robust_hausdorff(.., 95)``, ``compute_average_surface_distance`` (the two
  directed averages) and ``compute_surface_dice_at_tolerance`` at 1 and 2 mm).
* ``medpy``: ``medpy.metric.binary.dc`` and ``jc``: same definitions as ours, so they
  must agree. ``medpy_not_comparable`` keeps medpy's ``hd95`` and ``assd`` for the
  record only: medpy takes the surface as the border *voxels* (mask minus its erosion)
  and measures between voxel centres, unweighted, while surface-distance (and we) use
  area-weighted marching-cubes surfels on the voxel-corner grid, so the numbers differ
  by design (typically by a fraction of a voxel).
* ``simpleitk``: ``LabelOverlapMeasuresImageFilter`` Dice/Jaccard and volume similarity
  (SimpleITK's is signed, 2(|A|-|B|)/(|A|+|B|); ours is 1 - |that|/2, stored converted),
  and 26-connected lesion counts from ``ConnectedComponent(fullyConnected=True)``
  (reference lesions, reference lesions touching the prediction, predicted lesions
  touching no reference voxel).
"""

from __future__ import annotations

import base64
import json
import logging
import platform
from pathlib import Path

import numpy as np
from scipy import ndimage

LOG = logging.getLogger(__name__)
SEED = 20240093
TOLERANCES_MM = (1.0, 2.0)


def pack(mask: np.ndarray) -> dict:
    """Compact JSON form of a boolean array."""
    return {"shape": list(mask.shape), "bits": base64.b64encode(np.packbits(mask.astype(bool).ravel())).decode()}


def ellipsoid(shape, centre, radii_mm, spacing) -> np.ndarray:
    """Boolean ellipsoid with semi-axes in mm on a (z, y, x) grid."""
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    centre_mm = [c * s for c, s in zip(centre, spacing)]
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre_mm, radii_mm)) <= 1.0


def blobs(rng, shape, sigma, level) -> np.ndarray:
    """Smoothed-noise blobs."""
    return ndimage.gaussian_filter(rng.random(shape), sigma) > level


def build_cases(rng) -> list[dict]:
    """The test pairs: name, spacing (z, y, x) mm, reference and prediction."""
    cases = []
    sp = (4.0, 0.7, 0.7)
    odd = (3.3, 0.595, 0.8)
    shape = (10, 48, 48)
    a = blobs(rng, shape, (1.0, 3.0, 3.0), 0.5)
    b = a ^ (blobs(rng, shape, (1.0, 2.0, 2.0), 0.53))
    cases.append(("blobs_4x0.7", sp, a, b))
    a = blobs(rng, shape, (1.0, 3.0, 3.0), 0.52)
    b = ndimage.binary_dilation(a, np.ones((1, 3, 3), bool)) & ~blobs(rng, shape, (1.0, 2.0, 2.0), 0.55)
    cases.append(("blobs_odd", odd, a, b))
    a = ellipsoid(shape, (5, 24, 24), (12.0, 10.0, 10.0), sp)
    b = ellipsoid(shape, (5.4, 25.5, 23.2), (12.0, 10.0, 10.0), sp)
    cases.append(("sphere_shifted", sp, a, b))
    a = ellipsoid(shape, (4.6, 22.3, 25.1), (9.0, 7.0, 12.0), odd)
    b = ellipsoid(shape, (4.6, 22.3, 25.1), (10.5, 7.8, 11.0), odd)
    cases.append(("ellipsoid_odd", odd, a, b))
    a = np.zeros(shape, bool)
    a[5, 20:24, 10:40] = True  # one-slice-thick, 4-voxel-wide lesion
    b = np.zeros(shape, bool)
    b[5:7, 21:25, 12:41] = True
    cases.append(("thin_lesion", sp, a, b))
    a = np.zeros(shape, bool)
    for centre, radius in (((3, 10, 10), 3.0), ((6, 30, 12), 2.5), ((5, 36, 36), 4.0), ((2, 12, 38), 1.5)):
        a |= ellipsoid(shape, centre, (4.0, radius, radius), sp)
    b = a.copy()
    b[:, 8:16, 32:44] = False  # misses the small lesion at (2, 12, 38)
    b |= ellipsoid(shape, (7, 40, 6), (4.0, 2.0, 2.0), sp)  # false-positive blob
    b = ndimage.binary_dilation(b, np.ones((1, 3, 1), bool))
    cases.append(("lesions_missed_and_fp", sp, a, b))
    a = np.zeros(shape, bool)
    a[0:4, 0:20, 30:48] = True  # touches the array border
    b = np.zeros(shape, bool)
    b[1:5, 2:22, 28:48] = True
    cases.append(("border_boxes_odd", odd, a, b))
    a = blobs(rng, (16, 40, 56), (1.2, 4.0, 4.0), 0.51)
    b = blobs(rng, (16, 40, 56), (1.2, 4.0, 4.0), 0.51) | a & blobs(rng, (16, 40, 56), 2.0, 0.49)
    cases.append(("independent_blobs_odd", odd, a, b))
    return [dict(name=n, spacing_mm=list(s), ref=r, pred=p) for n, s, r, p in cases]


def sitk_values(ref: np.ndarray, pred: np.ndarray) -> dict:
    """Overlap and lesion values from SimpleITK."""
    import SimpleITK as sitk

    ref_img = sitk.GetImageFromArray(ref.astype(np.uint8))
    pred_img = sitk.GetImageFromArray(pred.astype(np.uint8))
    overlap = sitk.LabelOverlapMeasuresImageFilter()
    overlap.Execute(ref_img, pred_img)
    ref_cc = sitk.GetArrayFromImage(sitk.ConnectedComponent(ref_img, True))
    pred_cc = sitk.GetArrayFromImage(sitk.ConnectedComponent(pred_img, True))
    both = ref & pred
    return {
        "dice": overlap.GetDiceCoefficient(),
        "jaccard": overlap.GetJaccardCoefficient(),
        "volume_similarity": 1.0 - abs(overlap.GetVolumeSimilarity()) / 2.0,
        "ref_lesions": int(ref_cc.max()),
        "detected_lesions": int(len(set(np.unique(ref_cc[both]).tolist()) - {0})),
        "fp_lesions": int(pred_cc.max()) - int(len(set(np.unique(pred_cc[both]).tolist()) - {0})),
    }


def main() -> None:
    """Compute every reference value and write the JSON beside this script."""
    import SimpleITK as sitk
    import surface_distance as sd
    from importlib.metadata import version
    from medpy.metric import binary as mb

    rng = np.random.default_rng(SEED)
    out = {
        "generator": "tests/reference/make_seg_metric_reference.py",
        "seed": SEED,
        "versions": {
            "python": platform.python_version(), "numpy": np.__version__,
            "surface-distance": version("surface-distance"), "medpy": version("medpy"),
            "SimpleITK": sitk.Version_VersionString(), "scipy": version("scipy"),
        },
        "tolerances_mm": list(TOLERANCES_MM),
        "cases": [],
    }
    for case in build_cases(rng):
        ref, pred, spacing = case["ref"], case["pred"], tuple(case["spacing_mm"])
        assert ref.any() and pred.any(), case["name"]
        dist = sd.compute_surface_distances(ref, pred, spacing)
        forward, backward = sd.compute_average_surface_distance(dist)
        entry = {
            "name": case["name"], "spacing_mm": case["spacing_mm"],
            "ref": pack(ref), "pred": pack(pred),
            "surface_distance": {
                "dice": float(sd.compute_dice_coefficient(ref, pred)),
                "hd95_mm": float(sd.compute_robust_hausdorff(dist, 95)),
                "hd100_mm": float(sd.compute_robust_hausdorff(dist, 100)),
                "average_distance_ref_to_pred_mm": float(forward),
                "average_distance_pred_to_ref_mm": float(backward),
                "surface_dice": {str(t): float(sd.compute_surface_dice_at_tolerance(dist, t)) for t in TOLERANCES_MM},
            },
            "medpy": {"dc": float(mb.dc(pred, ref)), "jc": float(mb.jc(pred, ref))},
            "medpy_not_comparable": {
                "hd95_mm": float(mb.hd95(pred, ref, voxelspacing=spacing)),
                "assd_mm": float(mb.assd(pred, ref, voxelspacing=spacing)),
            },
            "simpleitk": sitk_values(ref, pred),
        }
        LOG.info("%s: %s", case["name"], entry["surface_distance"])
        out["cases"].append(entry)
    target = Path(__file__).with_name("seg_metric_reference.json")
    target.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    LOG.info("wrote %s", target)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
