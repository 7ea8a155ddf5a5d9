"""SIMULATED readers: determinism, the perturbation model's pieces, the paper's pattern."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from benchmarks.engine import reader_simulation as rsim

SPACING = (4.0, 0.7, 0.7)


def _dice(a, b):
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def _ellipsoid(shape, centre, radii_mm):
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, SPACING)], indexing="ij")
    return sum(((g - c * s) / r) ** 2 for g, c, s, r in zip(grids, centre, SPACING, radii_mm)) <= 1.0


def _case(rng, shape=(12, 96, 96)):
    ref = np.zeros(shape, bool)
    for _ in range(int(rng.integers(1, 5))):
        centre = (rng.uniform(3, 9), rng.uniform(20, 76), rng.uniform(20, 76))
        ref |= _ellipsoid(shape, centre, (rng.uniform(4, 9), rng.uniform(1.5, 5), rng.uniform(4, 15)))
    model = rsim.perturb_boundary(ref, SPACING, 0.6, 1.3, 5.0, rng)
    return ref, model


def _quiet(skill, **changes):
    base = dict(bias_sd_mm=0.0, boundary_sd_mm=0.0, miss_small=0.0, miss_large=0.0, fp_rate=0.0)
    base.update(changes)
    return rsim.with_profile(skill, **base)


def test_deterministic_for_a_seed():
    ref, model = _case(np.random.default_rng(5))
    for assisted in (False, True):
        a = rsim.simulate_reader_mask(ref, model, SPACING, "resident", assisted, np.random.default_rng(11))
        b = rsim.simulate_reader_mask(ref, model, SPACING, "resident", assisted, np.random.default_rng(11))
        c = rsim.simulate_reader_mask(ref, model, SPACING, "resident", assisted, np.random.default_rng(12))
        assert a.dtype == bool and a.shape == ref.shape
        assert np.array_equal(a, b)
        assert not np.array_equal(a, c)


def test_noise_free_reader_reproduces_reference():
    ref, model = _case(np.random.default_rng(6))
    rng = np.random.default_rng(0)
    unassisted = rsim.simulate_reader_mask(ref, model, SPACING, "expert", False, rng, _quiet("expert"))
    assert np.array_equal(unassisted, ref)
    fully_diligent = _quiet("expert", diligence=1.0)
    assisted = rsim.simulate_reader_mask(ref, model, SPACING, "expert", True, rng, fully_diligent)
    assert np.array_equal(assisted, ref)
    lazy = _quiet("resident", diligence=0.0)
    copied = rsim.simulate_reader_mask(ref, model, SPACING, "resident", True, rng, lazy)
    assert np.array_equal(copied, model)  # no diligence: the model's mask is kept as is


def test_missed_small_lesions_and_false_positive_blobs():
    shape = (10, 80, 80)
    ref = _ellipsoid(shape, (5, 25, 25), (8.0, 5.0, 12.0)) | _ellipsoid(shape, (5, 60, 60), (4.0, 1.5, 2.0))
    labels, n = ndimage.label(ref, np.ones((3, 3, 3), bool))
    volumes_ml = ndimage.sum(ref, labels, [1, 2]) * np.prod(SPACING) / 1000
    assert n == 2 and min(volumes_ml) < 0.3 < max(volumes_ml)
    misses = _quiet("resident", miss_small=1.0)
    out = rsim.simulate_reader_mask(ref, None, SPACING, "resident", False, np.random.default_rng(1), misses)
    small = labels == (1 + int(np.argmin(volumes_ml)))
    assert not (out & small).any() and np.array_equal(out, ref & ~small)
    noisy = _quiet("resident", fp_rate=6.0)
    out = rsim.simulate_reader_mask(ref, None, SPACING, "resident", False, np.random.default_rng(2), noisy)
    extra = out & ~ref
    extra_labels, n_extra = ndimage.label(extra, np.ones((3, 3, 3), bool))
    assert n_extra >= 1
    grown = ndimage.binary_dilation(ref, np.ones((3, 3, 3), bool))
    assert not (extra & grown).any()  # blobs never touch a lesion
    assert np.array_equal(out & ref, ref)


def test_empty_masks_and_bad_input():
    empty = np.zeros((6, 30, 30), bool)
    out = rsim.simulate_reader_mask(empty, empty, SPACING, "expert", True, np.random.default_rng(0),
                                    _quiet("expert"))
    assert not out.any()
    out = rsim.simulate_reader_mask(empty, None, SPACING, "resident", False, np.random.default_rng(0))
    assert out.shape == empty.shape
    with pytest.raises(ValueError, match="needs the model's mask"):
        rsim.simulate_reader_mask(empty, None, SPACING, "expert", True, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown reader skill"):
        rsim.simulate_reader_mask(empty, None, SPACING, "student", False, np.random.default_rng(0))


def test_signed_distance_is_exact_inside_the_margin():
    mask = _ellipsoid((8, 40, 40), (4, 20, 20), (6.0, 4.0, 4.0))
    full = rsim.signed_distance_mm(mask, SPACING)
    cropped = rsim.signed_distance_mm(mask, SPACING, margin_mm=5.0)
    near = np.isfinite(cropped)
    assert near.sum() < mask.size and np.array_equal(full[near], cropped[near])
    assert np.all(full[~near] > 5.0)
    box = np.zeros((8, 30, 30), bool)
    box[2:6, 10:20, 10:20] = True
    box_sdf = rsim.signed_distance_mm(box, SPACING)
    assert box_sdf[4, 15, 15] == pytest.approx(-3.5)  # nearest outside voxel: 5 in-plane voxels away
    assert box_sdf[7, 15, 15] == pytest.approx(8.0)  # two slices above the box


def test_simulated_pattern_resembles_the_paper():
    rng = np.random.default_rng(1)
    scores = {key: [] for key in ("resident_u", "resident_a", "expert_u", "expert_a")}
    for _ in range(8):
        ref, model = _case(rng)
        for skill in ("resident", "expert"):
            for assisted, tag in ((False, "u"), (True, "a")):
                mask = rsim.simulate_reader_mask(ref, model, SPACING, skill, assisted, rng)
                scores[f"{skill}_{tag}"].append(_dice(ref, mask))
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    assert mean["resident_a"] - mean["resident_u"] > 0.04
    assert abs(mean["expert_a"] - mean["expert_u"]) < 0.03
    assert mean["expert_u"] > mean["resident_u"]
    assert 0.6 < mean["resident_u"] < 0.85 and 0.75 < mean["expert_u"] < 0.95
