"""Per-case checks of an image and its FM mask before conversion.

The checks are pure functions over arrays and :class:`nnunet_fm.image_io.Geometry`, plus
one loader that reads a pair and returns every fault found (not only the first).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from nnunet_fm.image_io import (
    GEOMETRY_TOLERANCE,
    GeometryMismatchError,
    ImageReadError,
    check_same_geometry,
    read_image,
)

ALLOWED_LABELS = (0, 1)


def image_array_faults(array: np.ndarray) -> list[str]:
    """Faults of an image's voxel array (numpy order z, y, x)."""
    faults = []
    if array.ndim != 3:
        return [f"image is {array.ndim}-D; expected 3-D"]
    if min(array.shape) < 2:
        faults.append(f"image has a single-voxel axis (shape z,y,x = {array.shape}); it is 2-D, expected 3-D")
    if array.size == 0:
        return faults + ["image has no voxels"]
    if np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.complexfloating):
        n_nan = int(np.count_nonzero(np.isnan(array)))
        n_inf = int(np.count_nonzero(np.isinf(array)))
        if n_nan:
            faults.append(f"image has {n_nan} NaN voxel(s)")
        if n_inf:
            faults.append(f"image has {n_inf} infinite voxel(s)")
        if n_nan or n_inf:
            return faults
    low, high = array.min(), array.max()
    if low == high:
        faults.append(f"image is constant (every voxel = {low!r}); empty or blank volume")
    return faults


def mask_array_faults(array: np.ndarray) -> list[str]:
    """Faults of a mask's voxel array: labels must lie in {0, 1}."""
    if array.ndim != 3:
        return [f"mask is {array.ndim}-D; expected 3-D"]
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        return ["mask has NaN or infinite voxel(s)"]
    values = np.unique(array)
    bad = [v.item() for v in values if v not in ALLOWED_LABELS]
    if bad:
        shown = ", ".join(repr(v) for v in bad[:10])
        return [f"mask has label(s) {shown} outside {set(ALLOWED_LABELS)}"]
    return []


def nifti_nonfinite_faults(path: str | os.PathLike, what: str = "image") -> list[str]:
    """NaN/inf voxels stored in a float NIfTI file.

    SimpleITK's NIfTI reader silently turns NaN and inf into 0, so the array it returns
    cannot show them; nibabel reads the stored values. Integer files cannot hold them.
    """
    name = str(path).lower()
    if not (name.endswith(".nii") or name.endswith(".nii.gz")):
        return []
    import nibabel as nib

    try:
        nii = nib.load(str(path))
    except Exception:  # unreadable files are reported by the SimpleITK reader
        return []
    if not np.issubdtype(nii.header.get_data_dtype(), np.floating):
        return []
    data = np.asanyarray(nii.dataobj)
    n_nan = int(np.count_nonzero(np.isnan(data)))
    n_inf = int(np.count_nonzero(np.isinf(data)))
    faults = []
    if n_nan:
        faults.append(f"{what} has {n_nan} NaN voxel(s) in the file")
    if n_inf:
        faults.append(f"{what} has {n_inf} infinite voxel(s) in the file")
    return faults


@dataclass
class CheckedCase:
    """A readable, valid image/mask pair (SimpleITK images; mask not yet aligned)."""

    image: object
    mask: object
    mask_voxels: int


def load_and_check_case(image_path: str | os.PathLike, mask_path: str | os.PathLike,
                        tolerance: float = GEOMETRY_TOLERANCE) -> tuple[CheckedCase | None, list[str]]:
    """Read an image/mask pair and check it.

    Checks: both readable and 3-D; image finite (for NIfTI, in the stored file) and not
    constant; mask labels in {0, 1};
    mask geometry (size, spacing, origin, direction) equal to the image's within
    ``tolerance`` (mm for spacing/origin, absolute for direction cosines).

    Args:
        image_path: Volume file or DICOM series folder.
        mask_path: Mask volume file (or DICOM folder).
        tolerance: Geometry tolerance.

    Returns:
        ``(case, faults)``: ``case`` is ``None`` when any fault was found.
    """
    import SimpleITK as sitk

    faults: list[str] = []
    image = mask = None
    try:
        image = read_image(image_path)
    except ImageReadError as exc:
        faults.append(f"image unreadable: {exc}")
    try:
        mask = read_image(mask_path)
    except ImageReadError as exc:
        faults.append(f"mask unreadable: {exc}")
    if image is not None:
        stored = nifti_nonfinite_faults(image_path, "image")
        # With NaN/inf in the file, SimpleITK's zeros would only add a misleading fault.
        faults.extend(stored or image_array_faults(sitk.GetArrayViewFromImage(image)))
    mask_voxels = 0
    if mask is not None:
        mask_view = sitk.GetArrayViewFromImage(mask)
        mask_faults = nifti_nonfinite_faults(mask_path, "mask") or mask_array_faults(mask_view)
        faults.extend(mask_faults)
        if not mask_faults:
            mask_voxels = int(np.count_nonzero(mask_view))
    if image is not None and mask is not None:
        try:
            check_same_geometry(image, mask, tolerance, what="mask")
        except GeometryMismatchError as exc:
            faults.append(str(exc))
    if faults:
        return None, faults
    return CheckedCase(image, mask, mask_voxels), []
