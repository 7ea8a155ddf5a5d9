"""Shared test helpers: tiny oblique anisotropic volumes and the optional real sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

#: ../shared/real_sij_sample beside the checkout (absent on machines without it).
REAL_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "real_sij_sample"


def oblique_direction(angle_deg: float = 30.0) -> tuple[float, ...]:
    """Orthonormal direction: a rotation about the x axis (semi-coronal-like tilt)."""
    a = np.deg2rad(angle_deg)
    rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    return tuple(float(v) for v in rot.ravel())


def make_image(array: np.ndarray, spacing=(0.7, 0.7, 4.0), origin=(-50.0, 20.0, 10.0), direction=None):
    """SimpleITK image from a zyx array with the given geometry (spacing in x, y, z)."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(o) for o in origin))
    image.SetDirection(direction or oblique_direction())
    return image


@pytest.fixture
def real_sample() -> Path:
    """Path of the real SIJ sample; skips the test when it is absent."""
    if not REAL_SAMPLE.is_dir():
        pytest.skip("../shared/real_sij_sample is absent")
    return REAL_SAMPLE
