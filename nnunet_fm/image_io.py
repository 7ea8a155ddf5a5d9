"""Image reading, writing and geometry checks on top of SimpleITK.

Readers keep native geometry (spacing, origin, oblique direction). Geometry is compared
with an explicit tolerance because real masks often differ from their image by ~1e-5 in
the direction cosines (qform vs sform), which SimpleITK's default 1e-6 rejects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Default tolerance for comparing geometry: origin/spacing in mm, direction cosines.
GEOMETRY_TOLERANCE = 1e-4

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


class ImageReadError(ValueError):
    """An image file or DICOM series cannot be read."""


class GeometryMismatchError(ValueError):
    """Two images do not share one voxel grid within the stated tolerance."""


@dataclass(frozen=True)
class Geometry:
    """Voxel grid of an image in SimpleITK order (x, y, z)."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image) -> "Geometry":
        """Geometry of a ``SimpleITK.Image``."""
        return cls(
            tuple(int(s) for s in image.GetSize()),
            tuple(float(s) for s in image.GetSpacing()),
            tuple(float(s) for s in image.GetOrigin()),
            tuple(float(s) for s in image.GetDirection()),
        )

    def differences(self, other: "Geometry", tolerance: float = GEOMETRY_TOLERANCE) -> list[str]:
        """Describe every way ``other`` differs from this grid (empty list if none)."""
        problems = []
        if self.size != other.size:
            return [f"size {other.size} != {self.size}"]
        for name in ("spacing", "origin", "direction"):
            a, b = np.asarray(getattr(self, name)), np.asarray(getattr(other, name))
            worst = float(np.max(np.abs(a - b)))
            if worst > tolerance:
                problems.append(f"{name} differs by {worst:.3g} (> tolerance {tolerance:g})")
        return problems


def is_dicom_dir(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder holding a DICOM series."""
    path = Path(path)
    if not path.is_dir():
        return False
    import SimpleITK as sitk

    return bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path)))


def read_image(path: str | os.PathLike, pixel_type: int | None = None):
    """Read a volume (NIfTI, NRRD, MHA/MHD) or a DICOM series folder.

    DICOM slices are ordered by their position along the slice normal (GDCM's sort), not
    by file name. Only a folder with exactly one series is accepted.

    Args:
        path: File or DICOM folder.
        pixel_type: Optional SimpleITK pixel type to cast to (e.g. ``sitk.sitkFloat32``).

    Returns:
        A 3-D ``SimpleITK.Image`` in its native geometry.

    Raises:
        ImageReadError: Missing file, unreadable content, several series, or not 3-D.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: file or folder does not exist")
    try:
        if path.is_dir():
            series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path))
            if not series:
                raise ImageReadError(f"{path}: folder holds no DICOM series")
            if len(series) > 1:
                raise ImageReadError(f"{path}: folder holds {len(series)} DICOM series; expected one")
            files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path), series[0])
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(files)
            image = reader.Execute()
        else:
            image = sitk.ReadImage(str(path))
    except ImageReadError:
        raise
    except RuntimeError as exc:  # SimpleITK reports every IO failure as RuntimeError
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise ImageReadError(f"{path}: cannot read image ({first_line})") from exc
    if image.GetDimension() != 3:
        raise ImageReadError(f"{path}: image is {image.GetDimension()}-D; expected 3-D")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(f"{path}: image has {image.GetNumberOfComponentsPerPixel()} components")
    if pixel_type is not None:
        image = sitk.Cast(image, pixel_type)
    return image


def write_image(image, target: str | os.PathLike, compress: bool = True) -> Path:
    """Atomically write a SimpleITK image (format from the target's extension)."""
    import SimpleITK as sitk

    from nnunet_fm.atomic import atomic_path

    with atomic_path(target) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=compress)
    return Path(target)


def check_same_geometry(reference, other, tolerance: float = GEOMETRY_TOLERANCE, what: str = "mask") -> None:
    """Raise ``GeometryMismatchError`` if ``other`` is not on ``reference``'s grid."""
    problems = Geometry.of(reference).differences(Geometry.of(other), tolerance)
    if problems:
        raise GeometryMismatchError(f"{what} geometry does not match the image: " + "; ".join(problems))


def align_mask_to_image(image, mask, tolerance: float = GEOMETRY_TOLERANCE):
    """Check that ``mask`` lies on ``image``'s grid, then copy the image geometry onto it.

    This removes sub-tolerance float noise so SimpleITK filters accept the pair.
    """
    check_same_geometry(image, mask, tolerance)
    aligned = mask
    if Geometry.of(image) != Geometry.of(mask):
        aligned = type(mask)(mask)
        aligned.CopyInformation(image)
    return aligned


def voxel_spacing_zyx(image) -> tuple[float, float, float]:
    """Spacing in numpy axis order (z, y, x) for arrays from ``GetArrayFromImage``."""
    return tuple(float(s) for s in reversed(image.GetSpacing()))


def strip_volume_suffix(name: str) -> str:
    """File name without its volume suffix (``case.nii.gz`` -> ``case``)."""
    for suffix in VOLUME_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
