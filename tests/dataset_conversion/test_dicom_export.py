"""DICOM series export: the same seed writes the same bytes, whatever ran before in the process."""

from __future__ import annotations

import hashlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from dataset_conversion.dicom_export import DicomPatient, write_dicom_series
from dataset_conversion.sij_phantom import direction_matrix

PATIENT = DicomPatient("MRN1234567", "DOE^JANE", "19800101", "F", "20200102", "Test Hospital", accession="ACC1")
RESCALE_TAGS = ("0028|1052", "0028|1053", "0028|1054")


def _write_tiny_series(folder: str) -> dict[str, str]:
    """Write a 3-slice oblique int16 series; file name -> sha256 of its bytes."""
    voxels = np.arange(3 * 6 * 7, dtype=np.int16).reshape(3, 6, 7) * 7
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing((0.8, 0.8, 3.5))
    image.SetDirection(tuple(float(v) for v in direction_matrix(35.0, 1.0, -2.0).ravel()))
    image.SetOrigin((-70.0, 10.0, -50.0))
    files = write_dicom_series(image, folder, PATIENT, seed=7)
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def _header(path: Path) -> dict[str, str]:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return {key: reader.GetMetaData(key).strip() for key in reader.GetMetaDataKeys()}


def test_bytes_do_not_depend_on_an_earlier_dicom_read_or_the_itk_thread_count(tmp_path):
    # A fresh interpreter has GDCM's process-global "force rescale intercept/slope" flag off
    # (it is how spawn pool workers write the cohort) ...
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        fresh = pool.submit(_write_tiny_series, str(tmp_path / "fresh")).result()
    # ... while any DICOM read in this process (ITK's GDCMImageIO) turns it on for good.
    header = _header(tmp_path / "fresh" / sorted(fresh)[0])
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1 if threads != 1 else 3)
    try:
        here = _write_tiny_series(str(tmp_path / "here"))
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    assert here == fresh
    assert {tag: header[tag] for tag in RESCALE_TAGS} == {"0028|1052": "0", "0028|1053": "1", "0028|1054": "US"}


def test_series_reads_back_as_int16_with_the_written_geometry(tmp_path):
    names = _write_tiny_series(str(tmp_path))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path)))
    image = reader.Execute()
    assert len(names) == 3
    assert image.GetPixelID() == sitk.sitkInt16  # unit rescale keeps the stored integers
    expected = np.arange(3 * 6 * 7, dtype=np.int16).reshape(3, 6, 7) * 7
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), expected)
    np.testing.assert_allclose(image.GetSpacing(), (0.8, 0.8, 3.5), atol=1e-6)
    np.testing.assert_allclose(image.GetOrigin(), (-70.0, 10.0, -50.0), atol=1e-4)
