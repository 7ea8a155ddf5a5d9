"""Per-case checks of an image and its FM mask before conversion.

The checks are pure functions over arrays and :class:`nnunet_fm.image_io.Geometry`, plus
one loader that reads a pair and returns every fault found (not only the first).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from nnunet_fm.image_io import (
    DEFAULT_MAX_VOXELS,
    GEOMETRY_TOLERANCE,
    GEOMETRY_TOLERANCE_HINT,
    Geometry,
    ImageReadError,
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


#: A second channel must cover at least this share of the first channel's grid.
MIN_CHANNEL_OVERLAP = 0.5
TOLERANCE_OPTION = "--geometry-tolerance"  # named in the converter's own argument errors


def geometry_mismatch(reference, other, tolerance: float, what: str, against: str) -> str:
    """'' when ``other`` lies on ``reference``'s grid within ``tolerance``, else one line.

    The line names what differs and by how much (voxels, mm, degrees; the wording of
    :meth:`nnunet_fm.image_io.Geometry.differences`) and the option that changes the tolerance.
    """
    problems = Geometry.of(reference).differences(Geometry.of(other), tolerance)
    if not problems:
        return ""
    return f"{what} geometry does not match {against}: " + "; ".join(problems) + f"; {GEOMETRY_TOLERANCE_HINT}"


def grid_overlap(reference, other) -> float:
    """Share of ``reference``'s voxel centres that fall inside ``other``'s grid (0..1)."""
    import SimpleITK as sitk

    ones = sitk.Image(other.GetSize(), sitk.sitkUInt8) + 1
    ones.CopyInformation(other)
    covered = sitk.Resample(ones, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return float(np.mean(sitk.GetArrayViewFromImage(covered)))


def align_channel(reference, image, tolerance: float, name: str, first: str) -> tuple[object | None, bool, str]:
    """Put channel ``image`` on the first channel's grid.

    Within ``tolerance`` the first channel's geometry is copied on (header noise);
    beyond it the channel is resampled (linear) onto the first grid, unless it covers
    less than :data:`MIN_CHANNEL_OVERLAP` of it (a different field of view or a wrong file).

    Returns:
        ``(aligned image or None, resampled, fault)``.
    """
    import SimpleITK as sitk

    if not Geometry.of(reference).differences(Geometry.of(image), tolerance):
        aligned = sitk.Image(image)
        aligned.CopyInformation(reference)
        return aligned, False, ""
    overlap = grid_overlap(reference, image)
    if overlap < MIN_CHANNEL_OVERLAP:
        return None, False, (f"{name} image covers {100 * overlap:.0f}% of the {first} image's field of view "
                             f"(< {100 * MIN_CHANNEL_OVERLAP:.0f}%); they are not the same anatomy on nearby grids")
    resampled = sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), reference, sitk.Transform(), sitk.sitkLinear,
                              0.0, sitk.sitkFloat32)
    return resampled, True, ""


@dataclass
class CheckedCase:
    """A readable, valid case (SimpleITK images; mask not yet aligned).

    ``channels`` are on the first channel's grid; ``resampled`` names the channels that
    had to be resampled onto it.
    """

    image: object
    mask: object
    mask_voxels: int
    channels: list = field(default_factory=list)
    resampled: list[str] = field(default_factory=list)


def _read_checked_image(path, what: str, max_voxels: int = DEFAULT_MAX_VOXELS) -> tuple[object | None, list[str]]:
    """Read one image channel and return its faults (unreadable, non-finite, constant, not 3-D)."""
    import SimpleITK as sitk

    try:
        image = read_image(path, max_voxels=max_voxels)
    except ImageReadError as exc:
        return None, [f"{what} unreadable: {exc}"]
    stored = nifti_nonfinite_faults(path, what)
    # With NaN/inf in the file, SimpleITK's zeros would only add a misleading fault.
    faults = stored or [f.replace("image", what, 1) if what != "image" else f
                        for f in image_array_faults(sitk.GetArrayViewFromImage(image))]
    return image, faults


def _read_checked_mask(path, max_voxels: int = DEFAULT_MAX_VOXELS) -> tuple[object | None, int, list[str]]:
    import SimpleITK as sitk

    try:
        mask = read_image(path, max_voxels=max_voxels)
    except ImageReadError as exc:
        return None, 0, [f"mask unreadable: {exc}"]
    view = sitk.GetArrayViewFromImage(mask)
    faults = nifti_nonfinite_faults(path, "mask") or mask_array_faults(view)
    return mask, (0 if faults else int(np.count_nonzero(view))), faults


def _align_channels(images: list, names: list[str], tolerance: float) -> tuple[list, list[str], list[str]]:
    """(channels on the first grid, resampled channel names, faults)."""
    channels, resampled, faults = [images[0]], [], []
    for image, name in zip(images[1:], names[1:]):
        aligned, was_resampled, fault = align_channel(images[0], image, tolerance, name, names[0])
        if fault:
            faults.append(fault)
        channels.append(aligned)
        if was_resampled:
            resampled.append(name)
    return channels, resampled, faults


def load_and_check_case(image_path, mask_path: str | os.PathLike, tolerance: float = GEOMETRY_TOLERANCE,
                        channel_names=None, max_voxels: int = DEFAULT_MAX_VOXELS
                        ) -> tuple[CheckedCase | None, list[str]]:
    """Read a case (one or more image channels and a mask) and check it.

    Checks: all readable and 3-D; every image finite (for NIfTI, in the stored file) and
    not constant; mask labels in {0, 1}; mask geometry (size, spacing, origin,
    direction) equal to the first image's within ``tolerance`` (mm for spacing/origin,
    absolute for direction cosines); further channels on the first channel's grid or
    resampled onto it (:func:`align_channel`).

    Args:
        image_path: Volume file or DICOM series folder, or a sequence of them (channels).
        mask_path: Mask volume file (or DICOM folder).
        tolerance: Geometry tolerance.
        channel_names: Name of each channel for messages (default ``image``, ``channel 1``, ...).
        max_voxels: Largest voxel count a header may claim (checked before reading voxels).

    Returns:
        ``(case, faults)``: ``case`` is ``None`` when any fault was found.
    """
    paths = [image_path] if isinstance(image_path, (str, os.PathLike)) else list(image_path)
    if len(paths) == 1:
        labels = ["image"]
    else:
        names = list(channel_names) if channel_names else [f"channel {k}" for k in range(len(paths))]
        labels = [f"{n} image" for n in names]
    faults: list[str] = []
    images = []
    for path, label in zip(paths, labels):
        image, image_faults = _read_checked_image(path, label, max_voxels)
        images.append(image)
        faults.extend(image_faults)
    mask, mask_voxels, mask_faults = _read_checked_mask(mask_path, max_voxels)
    faults.extend(mask_faults)
    if images[0] is not None and mask is not None:
        fault = geometry_mismatch(images[0], mask, tolerance, "mask", f"the {labels[0]}")
        faults.extend([fault] if fault else [])
    channels, resampled = [], []
    if len(images) > 1 and all(i is not None for i in images):
        channels, resampled, channel_faults = _align_channels(images, [lb[:-len(" image")] for lb in labels],
                                                              tolerance)
        faults.extend(channel_faults)
    if faults:
        return None, faults
    return CheckedCase(images[0], mask, mask_voxels, channels or images, resampled), []
