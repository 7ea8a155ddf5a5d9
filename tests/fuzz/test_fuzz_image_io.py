"""Hostile image files against ``nnunet_fm.image_io.read_image`` (issue 14, groups 1, 2, 6, 11)."""

from __future__ import annotations

import gzip
import socket
import struct

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_fm.image_io import (
    DEFAULT_MAX_VOXELS, ImageReadError, ImageTooLargeError, NonFiniteImageError, TruncatedImageError, read_image,
    write_image,
)
from tests.conftest import make_image, oblique_direction
from tests.fuzz.harness import judge, make_fifo

SHAPE_ZYX = (18, 20, 22)
FORMATS = [(".nii.gz", True), (".nii", False), (".nrrd", False), (".nrrd", True), (".mha", False), (".mha", True)]


def volume(dtype=np.int16, shape=SHAPE_ZYX, seed=0):
    """A noisy volume (compresses poorly, so truncation points fall inside the voxel data)."""
    rng = np.random.default_rng(seed)
    return rng.integers(1, 1000, size=shape).astype(dtype)


def write(path, array, compress, **geometry):
    sitk.WriteImage(make_image(array, **geometry), str(path), useCompression=compress)
    return path


@pytest.mark.parametrize("suffix,compress", FORMATS)
def test_valid_files_read_every_voxel(tmp_path, suffix, compress):
    array = volume()
    path = write(tmp_path / f"case{suffix}", array, compress)
    image = judge(lambda: read_image(path), accept=True, watch=tmp_path)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), array)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("suffix,compress", FORMATS)
def test_truncated_files_are_refused_with_their_name(tmp_path, suffix, compress, fraction):
    full = write(tmp_path / f"full{suffix}", volume(), compress).read_bytes()
    path = tmp_path / f"cut_{int(fraction * 1000)}{suffix}"
    path.write_bytes(full[:max(1, int(len(full) * fraction))])
    judge(lambda: read_image(path), accept=False, culprits=[path.name], errors=(ImageReadError,))


def test_nifti_missing_only_the_last_byte_is_refused(tmp_path):
    # The case SimpleITK zero-fills silently: one voxel short, gzip stream otherwise intact.
    full = write(tmp_path / "full.nii", volume(), False).read_bytes()
    path = tmp_path / "short.nii.gz"
    path.write_bytes(gzip.compress(full[:-1]))
    error = judge(lambda: read_image(path), accept=False, culprits=[path.name], errors=(TruncatedImageError,))
    assert "bytes" in str(error)


def test_truncated_real_like_oblique_volume_is_refused(tmp_path):
    array = volume(np.float32, shape=(25, 336, 336))
    path = write(tmp_path / "t1w.nii.gz", array, True, spacing=(0.6, 0.6, 3.3), direction=oblique_direction(20))
    assert judge(lambda: read_image(path), accept=True).GetSize() == (336, 336, 25)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    judge(lambda: read_image(path), accept=False, culprits=["t1w.nii.gz"], errors=(TruncatedImageError,))


def test_corrupted_gzip_byte_is_refused(tmp_path):
    path = write(tmp_path / "flip.nii.gz", volume(), True)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    judge(lambda: read_image(path), accept=False, culprits=["flip.nii.gz"], errors=(ImageReadError,))


def tiny_nifti_header(dims, datatype=4, bitpix=16) -> bytes:
    """A bare NIfTI-1 header (+4 extension bytes) declaring ``dims`` and no voxel data."""
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, len(dims), *dims, *([1] * (7 - len(dims))))
    struct.pack_into("<hh", header, 70, datatype, bitpix)
    struct.pack_into("<8f", header, 76, 1, *([1.0] * 7))
    struct.pack_into("<f", header, 108, 352.0)
    header[344:348] = b"n+1\0"
    return bytes(header) + b"\0\0\0\0"


@pytest.mark.parametrize("dims", [(1300, 1300, 1300), (10000, 10000, 10000), (32767, 32767, 32767)])
def test_huge_header_is_refused_before_allocation(tmp_path, dims):
    path = tmp_path / "bomb.nii.gz"
    path.write_bytes(gzip.compress(tiny_nifti_header(dims)))
    error = judge(lambda: read_image(path), accept=False, culprits=["bomb.nii.gz", "x".join(map(str, dims))],
                  errors=(ImageTooLargeError,))
    assert f"{DEFAULT_MAX_VOXELS:,}" in str(error)


def test_voxel_limit_is_a_parameter(tmp_path):
    path = write(tmp_path / "small.nii.gz", volume(), True)
    judge(lambda: read_image(path, max_voxels=1000), accept=False, culprits=["small.nii.gz", "22x20x18", "1,000"])
    assert judge(lambda: read_image(path, max_voxels=22 * 20 * 18), accept=True).GetSize() == (22, 20, 18)


def test_named_pipe_is_refused_without_hanging(tmp_path):
    path = tmp_path / "pipe.nii.gz"
    unblock = make_fifo(path)
    judge(lambda: read_image(path), accept=False, culprits=["pipe.nii.gz", "named pipe"], unblock=unblock)


def test_symlink_to_pipe_and_to_devices_are_refused(tmp_path):
    make_fifo(tmp_path / "pipe")
    for name, target in [("to_pipe.nii.gz", tmp_path / "pipe"), ("zero.nii.gz", "/dev/zero"),
                         ("null.nii", "/dev/null")]:
        link = tmp_path / name
        link.symlink_to(target)
        judge(lambda: read_image(link), accept=False, culprits=[name], unblock=lambda: None)


def test_socket_is_refused(tmp_path):
    path = tmp_path / "s.nii.gz"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        judge(lambda: read_image(path), accept=False, culprits=["s.nii.gz", "socket"])
    finally:
        server.close()


def test_symlink_to_a_regular_file_is_read(tmp_path):
    array = volume()
    real = write(tmp_path / "real.nii.gz", array, True)
    (tmp_path / "link.nii.gz").symlink_to(real)
    image = judge(lambda: read_image(tmp_path / "link.nii.gz"), accept=True)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), array)


def test_broken_symlink_is_refused(tmp_path):
    (tmp_path / "gone.nii.gz").symlink_to(tmp_path / "missing.nii.gz")
    judge(lambda: read_image(tmp_path / "gone.nii.gz"), accept=False, culprits=["gone.nii.gz"])


@pytest.mark.parametrize("dtype,name", [(np.complex64, "complex of 32-bit float"),
                                        (np.complex128, "complex of 64-bit float")])
def test_complex_images_are_refused(tmp_path, dtype, name):
    path = tmp_path / "complex.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray((volume() + 1j).astype(dtype)), str(path))
    judge(lambda: read_image(path), accept=False, culprits=["complex.nii.gz", name])


def test_vector_2d_and_4d_images_are_refused(tmp_path):
    cases = {"vector.nii.gz": sitk.Image([4, 5, 6], sitk.sitkVectorFloat32, 3),
             "flat.nii.gz": sitk.Image([4, 5], sitk.sitkInt16),
             "time.nii.gz": sitk.Image([4, 5, 6, 2], sitk.sitkInt16)}
    for name, image in cases.items():
        sitk.WriteImage(image, str(tmp_path / name))
        judge(lambda: read_image(tmp_path / name), accept=False, culprits=[name])


@pytest.mark.parametrize("content", [b"", b"\x1f\x8b", b"not an image at all", bytes(range(256)) * 4])
def test_garbage_files_are_refused(tmp_path, content):
    path = tmp_path / "garbage.nii.gz"
    path.write_bytes(content)
    judge(lambda: read_image(path), accept=False, culprits=["garbage.nii.gz"])


def test_detached_header_pointing_at_a_pipe_or_missing_data_is_refused(tmp_path):
    write(tmp_path / "vol.mhd", volume(), False)
    header = (tmp_path / "vol.mhd").read_text(encoding="utf-8")
    make_fifo(tmp_path / "pipe.raw")
    for name, data_file in [("pipe.mhd", "pipe.raw"), ("missing.mhd", "nowhere.raw"), ("dev.mhd", "/dev/zero")]:
        lines = [f"ElementDataFile = {data_file}" if ln.startswith("ElementDataFile") else ln
                 for ln in header.splitlines()]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        judge(lambda: read_image(tmp_path / name), accept=False, culprits=[name], unblock=lambda: None)


def test_detached_header_with_truncated_raw_is_refused(tmp_path):
    write(tmp_path / "vol.mhd", volume(), False)
    raw = tmp_path / "vol.raw"
    raw.write_bytes(raw.read_bytes()[:1000])
    judge(lambda: read_image(tmp_path / "vol.mhd"), accept=False, culprits=["vol.mhd"])


def test_folder_without_dicom_and_missing_path_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    judge(lambda: read_image(tmp_path / "empty"), accept=False, culprits=["empty"])
    judge(lambda: read_image(tmp_path / "absent.nii.gz"), accept=False, culprits=["absent.nii.gz"])


def test_written_image_round_trips_byte_identically(tmp_path):
    # No behaviour change for valid input: writing twice gives the same bytes.
    image = make_image(volume(), direction=oblique_direction(33))
    a, b = write_image(image, tmp_path / "a.nii.gz"), write_image(image, tmp_path / "b.nii.gz")
    assert a.read_bytes() == b.read_bytes()


def write_dicom_series(folder, n_slices=6, spacing_z=3.3, positions=None, numbers=None):
    """A small oblique single-series DICOM folder; ``positions`` overrides slice indices."""
    folder.mkdir()
    array = volume(shape=(n_slices, 12, 10))
    image = make_image(array, spacing=(0.6, 0.6, spacing_z), direction=oblique_direction(20))
    d = image.GetDirection()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(n_slices):
        s = image[:, :, k]
        z = k if positions is None else positions[k]
        s.SetMetaData("0008|0060", "MR")
        s.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.7")
        s.SetMetaData("0020|0037", "\\".join(f"{v:.6f}" for v in (d[0], d[3], d[6], d[1], d[4], d[7])))
        corner = image.TransformContinuousIndexToPhysicalPoint((0, 0, z))
        s.SetMetaData("0020|0032", "\\".join(f"{v:.6f}" for v in corner))
        s.SetMetaData("0020|0013", str(k + 1 if numbers is None else numbers[k]))
        writer.SetFileName(str(folder / f"slice{k:02d}.dcm"))
        writer.Execute(s)
    return array


def test_valid_dicom_series_is_read(tmp_path):
    array = write_dicom_series(tmp_path / "series")
    image = judge(lambda: read_image(tmp_path / "series"), accept=True)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), array)
    assert image.GetSpacing()[2] == pytest.approx(3.3, abs=1e-3)


def test_dicom_series_with_a_missing_slice_is_refused(tmp_path):
    write_dicom_series(tmp_path / "series")
    (tmp_path / "series" / "slice03.dcm").unlink()
    judge(lambda: read_image(tmp_path / "series"), accept=False,
          culprits=["series", "slice02.dcm and slice04.dcm", "missing slice"])


def test_dicom_series_with_uneven_spacing_is_refused(tmp_path):
    write_dicom_series(tmp_path / "series", positions=[0, 1, 2, 3.4, 4, 5])
    judge(lambda: read_image(tmp_path / "series"), accept=False, culprits=["series", "uneven slice spacing"])


def test_dicom_series_with_a_duplicated_slice_is_refused(tmp_path):
    write_dicom_series(tmp_path / "series", positions=[0, 1, 2, 2, 3, 4])
    judge(lambda: read_image(tmp_path / "series"), accept=False, culprits=["series", "same position"])
    write_dicom_series(tmp_path / "numbers", numbers=[1, 2, 3, 3, 5, 6])
    judge(lambda: read_image(tmp_path / "numbers"), accept=False, culprits=["numbers", "instance number 3"])


@pytest.mark.parametrize("suffix,dtype,bad", [(".nii.gz", np.float32, np.nan), (".nii", np.float32, np.inf),
                                              (".nii.gz", np.float64, -np.inf)])
def test_nonfinite_voxels_in_float_nifti_can_be_refused(tmp_path, suffix, dtype, bad):
    # SimpleITK reads NaN/inf in NIfTI as 0; callers that need the truth ask for a refusal.
    array = volume(dtype)
    array[2, 3, 4] = array[-1, -1, -1] = bad
    path = write(tmp_path / f"nan{suffix}", array, suffix.endswith(".gz"))
    judge(lambda: read_image(path, refuse_nonfinite=True), accept=False,
          culprits=[path.name, "2 NaN or infinite voxel(s)"], errors=(NonFiniteImageError,))
    assert judge(lambda: read_image(path), accept=True).GetSize() == (22, 20, 18)


def test_nonfinite_scan_crosses_chunk_boundaries(tmp_path):
    array = volume(np.float64, shape=(100, 80, 80))  # 5.1 MB of voxels: more than one 4 MiB chunk
    path = write(tmp_path / "big.nii.gz", array, True)
    assert judge(lambda: read_image(path, refuse_nonfinite=True), accept=True).GetSize() == (80, 80, 100)
    # voxel 524244 starts at byte 352 + 8 * 524244 = 4 MiB: the last of the first chunk and
    # the first of the second, plus the very last voxel
    array[81, 73, 3] = array[81, 73, 4] = array[-1, -1, -1] = np.nan
    path = write(tmp_path / "big.nii.gz", array, True)
    judge(lambda: read_image(path, refuse_nonfinite=True), accept=False, culprits=["big.nii.gz", "3 NaN"])


def test_integer_nifti_is_not_scanned_for_nan(tmp_path):
    path = write(tmp_path / "mask.nii.gz", volume(np.uint8), True)
    assert judge(lambda: read_image(path, refuse_nonfinite=True), accept=True).GetPixelID() == sitk.sitkUInt8
