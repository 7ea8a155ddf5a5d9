"""Image reading, writing and geometry checks on top of SimpleITK.

Readers keep native geometry (spacing, origin, oblique direction). Geometry is compared
with an explicit tolerance because real masks often differ from their image by ~1e-5 in
the direction cosines (qform vs sform), which SimpleITK's default 1e-6 rejects.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import zlib
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


#: Largest number of voxels read by default (checked from the header, before allocation).
#: A 512**3 float32 volume is 0.5 GiB; the SIJ MRI in this project have ~3 million voxels.
DEFAULT_MAX_VOXELS = 512 ** 3

#: Option and config field that change the geometry tolerance (named in mismatch messages).
GEOMETRY_TOLERANCE_HINT = "raise --geometry-tolerance (config conversion.geometry_tolerance) to accept"

_NIFTI_SUFFIXES = (".nii", ".nii.gz")
#: SimpleITK's messages for short reads, per format (NRRD raw, NRRD gzip, MetaImage).
_SHORT_READ_PATTERNS = ("not read completely", "fread got only", "but received", "unexpected end")


class ImageTooLargeError(ImageReadError):
    """The header declares more voxels than the configured limit."""


class TruncatedImageError(ImageReadError):
    """The file holds fewer voxel bytes than its header declares."""


class NonFiniteImageError(ImageReadError):
    """A float NIfTI stores NaN or infinite voxels (which SimpleITK would read as 0)."""


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
        """Describe every way ``other`` differs from this grid (empty list if none).

        Spacing and origin are compared in mm; direction cosines (unitless) are compared
        with the same number and the worst axis angle is reported in degrees. NaN in a
        geometry is always a difference.

        Raises:
            ValueError: ``tolerance`` is NaN, infinite or negative.
        """
        if not (math.isfinite(tolerance) and tolerance >= 0):
            raise ValueError(f"geometry tolerance must be a finite number >= 0, got {tolerance}")
        if self.size != other.size:
            return [f"size {other.size} voxels != {self.size} voxels"]
        problems = []
        for name in ("spacing", "origin"):
            worst = _worst_difference(getattr(self, name), getattr(other, name))
            if not worst <= tolerance:  # written this way so NaN counts as a difference
                problems.append(f"{name} differs by {worst:.3g} mm (> tolerance {tolerance:g} mm)")
        worst = _worst_difference(self.direction, other.direction)
        if not worst <= tolerance:
            problems.append(f"direction differs by {_worst_axis_angle_deg(self.direction, other.direction):.3g} "
                            f"degrees (cosines by {worst:.3g} > tolerance {tolerance:g})")
        return problems


def _worst_difference(a, b) -> float:
    diff = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    return float("nan") if np.isnan(diff).any() else float(np.max(diff))


def _worst_axis_angle_deg(a, b) -> float:
    """Largest angle (degrees) between corresponding axes of two direction matrices."""
    n = int(round(math.sqrt(len(a))))
    ma, mb = np.asarray(a, dtype=float).reshape(n, n), np.asarray(b, dtype=float).reshape(n, n)
    cosines = np.sum(ma * mb, axis=0) / (np.linalg.norm(ma, axis=0) * np.linalg.norm(mb, axis=0))
    return float(np.degrees(np.max(np.arccos(np.clip(cosines, -1.0, 1.0)))))


def is_dicom_dir(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder holding a DICOM series."""
    path = Path(path)
    if not path.is_dir():
        return False
    import SimpleITK as sitk

    return bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path)))


def read_image(path: str | os.PathLike, pixel_type: int | None = None, max_voxels: int = DEFAULT_MAX_VOXELS,
               refuse_nonfinite: bool = False):
    """Read a volume (NIfTI, NRRD, MHA/MHD) or a DICOM series folder, completely or not at all.

    Before any voxel is read, the header is checked: only regular files (a symlink to one
    is fine; pipes and devices could hang), 3-D, one real-valued component, at most
    ``max_voxels`` voxels. A file holding fewer voxel bytes than its header declares is
    refused (SimpleITK silently zero-fills truncated NIfTI). DICOM slices are ordered by
    their position along the slice normal (GDCM's sort), not by file name; only a folder
    with exactly one series is accepted.

    Args:
        path: File or DICOM folder.
        pixel_type: Optional SimpleITK pixel type to cast to (e.g. ``sitk.sitkFloat32``).
        max_voxels: Largest accepted number of voxels (``DEFAULT_MAX_VOXELS``).
        refuse_nonfinite: Refuse a float NIfTI that stores NaN or inf voxels, which
            SimpleITK silently reads as 0 (NRRD/MHA keep them, so callers see them).

    Returns:
        A 3-D ``SimpleITK.Image`` in its native geometry.

    Raises:
        ImageReadError: Every failure, naming the file (``ImageTooLargeError``,
            ``TruncatedImageError`` and ``NonFiniteImageError`` are subclasses).
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise ImageReadError(f"{path}: file or folder does not exist")
    try:
        if path.is_dir():
            image = _read_dicom_series(path, max_voxels)
        else:
            image = _read_file(path, max_voxels, refuse_nonfinite)
    except ImageReadError:
        raise
    except RuntimeError as exc:  # SimpleITK reports every IO failure as RuntimeError
        raise _itk_error(path, exc) from None
    if image.GetDimension() != 3:  # e.g. a DICOM series of multi-frame files
        raise ImageReadError(f"{path}: image is {image.GetDimension()}-D; expected 3-D")
    if pixel_type is not None:
        import SimpleITK as sitk

        image = sitk.Cast(image, pixel_type)
    return image


def _read_file(path: Path, max_voxels: int, refuse_nonfinite: bool):
    import SimpleITK as sitk

    from nnunet_fm.input_checks import NotRegularFileError, require_regular_file

    try:
        require_regular_file(path, "image")
    except (FileNotFoundError, NotRegularFileError) as exc:
        raise ImageReadError(str(exc)) from None
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    _check_header(path, tuple(reader.GetSize()), reader.GetPixelID(), reader.GetNumberOfComponents(), max_voxels)
    _check_detached_data_file(path)
    if path.name.lower().endswith(_NIFTI_SUFFIXES):
        _check_nifti(path, refuse_nonfinite)
    try:
        return reader.Execute()
    except RuntimeError as exc:  # the header was fine, so the voxel data is short or damaged
        raise _itk_error(path, exc, header_ok=True) from None


def _read_dicom_series(path: Path, max_voxels: int):
    import SimpleITK as sitk

    from nnunet_fm.input_checks import NotRegularFileError, require_regular_file

    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path))
    if not series:
        raise ImageReadError(f"{path}: folder holds no DICOM series")
    if len(series) > 1:
        raise ImageReadError(f"{path}: folder holds {len(series)} DICOM series; expected one")
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path), series[0])
    try:
        for name in files:
            require_regular_file(name, "DICOM slice")
    except (FileNotFoundError, NotRegularFileError) as exc:
        raise ImageReadError(f"{path}: {exc}") from None
    _check_slice_positions(path, files)
    first = sitk.ImageFileReader()
    first.SetFileName(files[0])
    first.ReadImageInformation()
    slice_size = tuple(first.GetSize()) + (1,)  # (x, y[, frames])
    size = tuple(slice_size[:2]) + (slice_size[2] * len(files),)
    _check_header(path, size, first.GetPixelID(), first.GetNumberOfComponents(), max_voxels)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    return reader.Execute()


def _slice_tags(files: list[str]) -> list[dict[str, str]]:
    """Position, orientation and instance number of every slice (header only)."""
    import SimpleITK as sitk

    tags = []
    for name in files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(name)
        reader.ReadImageInformation()
        tags.append({key: reader.GetMetaData(key).strip() for key in ("0020|0032", "0020|0037", "0020|0013")
                     if reader.HasMetaDataKey(key)})
    return tags


def _check_slice_positions(path: Path, files: list[str]) -> None:
    """Refuse a DICOM series with a duplicated, missing or unevenly spaced slice.

    SimpleITK would stack such slices as if evenly spaced, which later shows up only as
    a confusing size or geometry mismatch with the mask.
    """
    if len(files) < 2:
        return
    tags = _slice_tags(files)
    numbers: dict[str, str] = {}
    for name, tag in zip(files, tags):
        number = tag.get("0020|0013")
        if number and number in numbers:
            raise ImageReadError(f"{path}: slices {Path(numbers[number]).name} and {Path(name).name} share instance "
                                 f"number {number} (duplicated slice?)")
        numbers.setdefault(number or "", name)
    try:
        positions = np.array([[float(v) for v in t["0020|0032"].split("\\")] for t in tags])
        cosines = [float(v) for v in tags[0]["0020|0037"].split("\\")]
    except (KeyError, ValueError):
        return  # no usable positions: GDCM's order is all there is
    normal = np.cross(cosines[:3], cosines[3:6])
    gaps = np.diff(positions @ normal)
    step = float(np.median(gaps))
    for k, gap in enumerate(gaps):
        pair = f"{Path(files[k]).name} and {Path(files[k + 1]).name}"
        if abs(gap) < 1e-3:
            raise ImageReadError(f"{path}: slices {pair} lie at the same position (duplicated slice)")
        if abs(gap - step) > max(0.01, 0.01 * abs(step)):
            hint = " (missing slice?)" if abs(gap) > 1.5 * abs(step) else ""
            raise ImageReadError(f"{path}: uneven slice spacing: {abs(gap):.3g} mm between {pair}, "
                                 f"{abs(step):.3g} mm elsewhere{hint}")


def _check_header(path: Path, size: tuple[int, ...], pixel_id: int, components: int, max_voxels: int) -> None:
    """Refuse a file from its header alone: dimension, pixel type, components, voxel count."""
    import SimpleITK as sitk

    real_types = {sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16, sitk.sitkUInt32, sitk.sitkInt32,
                  sitk.sitkUInt64, sitk.sitkInt64, sitk.sitkFloat32, sitk.sitkFloat64}
    dimension = len(size)
    if dimension != 3:
        raise ImageReadError(f"{path}: image is {dimension}-D; expected 3-D")
    if pixel_id in (sitk.sitkComplexFloat32, sitk.sitkComplexFloat64):
        raise ImageReadError(f"{path}: pixel type is {sitk.GetPixelIDValueAsString(pixel_id)}; "
                             "expected real-valued scalars")
    if components != 1:
        raise ImageReadError(f"{path}: image has {components} components per voxel; expected 1")
    if pixel_id not in real_types:
        raise ImageReadError(f"{path}: pixel type {sitk.GetPixelIDValueAsString(pixel_id)} is not supported; "
                             "expected real-valued scalars")
    voxels = math.prod(int(s) for s in size)
    if voxels > max_voxels:
        dims = "x".join(str(int(s)) for s in size)
        raise ImageTooLargeError(f"{path}: header declares {dims} = {voxels:,} voxels, more than the limit of "
                                 f"{max_voxels:,} (raise the maximum voxel count to read it)")


@dataclass(frozen=True)
class _NiftiLayout:
    """Where a NIfTI file's voxels are: byte offset, count, size, and float dtype if any."""

    offset: int
    voxels: int
    itemsize: int
    float_dtype: str | None

    @property
    def expected_bytes(self) -> int:
        return self.offset + self.voxels * self.itemsize


def _nifti_layout(header: bytes) -> _NiftiLayout | None:
    """Parse a NIfTI-1/-2 header (``None``: not NIfTI, e.g. an ``.hdr``/``.img`` pair)."""
    import struct

    for order in "<>":
        if len(header) >= 348 and struct.unpack(order + "i", header[:4])[0] == 348:
            dims = struct.unpack(order + "8h", header[40:56])
            datatype, bitpix = struct.unpack(order + "2h", header[70:74])
            offset = max(int(struct.unpack(order + "f", header[108:112])[0]), 352)  # 348 + extension flag
            break
        if len(header) >= 540 and struct.unpack(order + "i", header[:4])[0] == 540:
            datatype, bitpix = struct.unpack(order + "2h", header[12:16])
            dims = struct.unpack(order + "8q", header[16:80])
            offset = max(int(struct.unpack(order + "q", header[168:176])[0]), 544)
            break
    else:
        return None
    n_dims = min(max(int(dims[0]), 0), 7)
    voxels = math.prod(max(int(d), 1) for d in dims[1:n_dims + 1])
    floats = {16: "f4", 64: "f8"}  # NIfTI codes of FLOAT32 and FLOAT64
    dtype = order + floats[datatype] if datatype in floats else None
    return _NiftiLayout(offset, voxels, max(int(bitpix), 0) // 8, dtype)


def _scan_nifti(path: Path, count_nonfinite: bool) -> tuple[_NiftiLayout | None, int, int]:
    """Stream a NIfTI file once: ``(layout, bytes available, non-finite voxels)``.

    ITK's NIfTI reader zero-fills a short file and turns NaN/inf into 0 without a word,
    so both are checked here on the raw bytes (gzip decompressed as a stream, constant
    memory). Non-finite voxels are counted only for float files and when asked.
    """
    gzipped = path.name.lower().endswith(".gz")
    with (gzip.open if gzipped else open)(path, "rb") as fh:
        layout = _nifti_layout(fh.read(540))
        if layout is None:
            return None, 0, 0
        dtype = layout.float_dtype if count_nonfinite else None
        if dtype is None and not gzipped:
            return layout, path.stat().st_size, 0
        fh.seek(0)
        start, end = layout.offset, layout.expected_bytes
        position = nonfinite = 0
        carry = b""
        while chunk := fh.read(1 << 22):
            if dtype is not None and position + len(chunk) > start and position < end:
                data = carry + chunk[max(0, start - position):max(0, end - position)]
                usable = len(data) - len(data) % layout.itemsize
                nonfinite += int(np.count_nonzero(~np.isfinite(np.frombuffer(data[:usable], dtype))))
                carry = data[usable:]
            position += len(chunk)
    return layout, position, nonfinite


def _check_nifti(path: Path, refuse_nonfinite: bool) -> None:
    """Refuse a NIfTI shorter than its header declares (and, if asked, one with NaN/inf)."""
    try:
        layout, available, nonfinite = _scan_nifti(path, refuse_nonfinite)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise TruncatedImageError(f"{path}: compressed data is truncated or damaged ({exc})") from None
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read image ({exc.strerror or exc})") from None
    if layout is None:
        return
    expected = layout.expected_bytes
    if available < expected:
        raise TruncatedImageError(f"{path}: file is truncated: {available:,} of {expected:,} bytes "
                                  f"({100.0 * available / expected:.1f}%) that its header declares")
    if nonfinite:
        raise NonFiniteImageError(f"{path}: {nonfinite} NaN or infinite voxel(s) stored in the file "
                                  "(SimpleITK would read them as 0)")


def _check_detached_data_file(path: Path) -> None:
    """For a detached header (.mhd, .nhdr) require its data file to be a regular file."""
    from nnunet_fm.input_checks import NotRegularFileError, require_regular_file

    name = path.name.lower()
    pattern = {".mhd": r"^\s*ElementDataFile\s*=\s*(.+?)\s*$", ".nhdr": r"^\s*data ?file\s*:\s*(.+?)\s*$"}
    suffix = next((s for s in pattern if name.endswith(s)), None)
    if suffix is None:
        return
    with open(path, "rb") as fh:
        text = fh.read(1 << 16).decode("latin-1")
    match = re.search(pattern[suffix], text, flags=re.IGNORECASE | re.MULTILINE)
    if not match:
        return
    data_name = match.group(1)
    if data_name.upper().startswith(("LOCAL", "LIST")) or "%" in data_name or " " in data_name:
        return  # inline data, a file list or a numbered pattern: SimpleITK opens those itself
    data_path = Path(data_name) if os.path.isabs(data_name) else path.parent / data_name
    try:
        require_regular_file(data_path, "data file")
    except (FileNotFoundError, NotRegularFileError) as exc:
        raise ImageReadError(f"{path}: {exc}") from None


def _itk_error(path: Path, exc: RuntimeError, header_ok: bool = False) -> ImageReadError:
    """One line naming the file from SimpleITK's multi-line exception text.

    Args:
        path: The file.
        exc: SimpleITK's exception.
        header_ok: The header was read, so the failure is in the voxel data.
    """
    lines = [_strip_itk_prefix(line) for line in str(exc).strip().splitlines() if line.strip()]
    lines = [ln for ln in lines if ln and not ln.startswith("Reason:")] or ["unknown error"]
    text = " ".join(lines)
    if header_ok or any(p in text for p in _SHORT_READ_PATTERNS):
        detail = next((ln for ln in lines if re.search(r"ideal|expected|fread", ln)), lines[-1])
        return TruncatedImageError(f"{path}: voxel data cannot be read in full, the file is truncated or damaged "
                                   f"({detail})")
    return ImageReadError(f"{path}: cannot read image ({lines[-1]})")


def _strip_itk_prefix(line: str) -> str:
    """Drop ITK's source location and object address, which mean nothing to a user."""
    line = line.strip().split("sitk::ERROR:")[-1]
    return re.sub(r"^.*ITK ERROR: \w+\(0x[0-9a-fA-F]+\):\s*", "", line).strip()


def write_image(image, target: str | os.PathLike, compress: bool = True) -> Path:
    """Atomically write a SimpleITK image (format from the target's extension)."""
    import SimpleITK as sitk

    from nnunet_fm.atomic import atomic_path

    with atomic_path(target) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=compress)
    return Path(target)


def check_same_geometry(reference, other, tolerance: float = GEOMETRY_TOLERANCE, what: str = "mask") -> None:
    """Raise ``GeometryMismatchError`` if ``other`` is not on ``reference``'s grid.

    Raises:
        GeometryMismatchError: Names what differs, by how much (mm, degrees) and the
            option that changes the tolerance.
        ValueError: ``tolerance`` is NaN, infinite or negative.
    """
    problems = Geometry.of(reference).differences(Geometry.of(other), tolerance)
    if problems:
        raise GeometryMismatchError(f"{what} geometry does not match the image: " + "; ".join(problems)
                                    + f"; {GEOMETRY_TOLERANCE_HINT}")


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
