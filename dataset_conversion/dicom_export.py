"""Write a 3-D volume as an MR DICOM series (one file per slice) with fake patient data.

Used by the synthetic cohort for its external center, so that the converter has to read
a real-looking series: oblique ImageOrientationPatient, one ImagePositionPatient per
slice, identifying tags to pseudonymise, and file names in a shuffled order (readers
must sort slices by position, not by name). UIDs are derived from a seed so the same
seed writes byte-identical files.

The Modality LUT (rescale intercept 0, slope 1, type US) is always written explicitly:
left out, GDCM decides whether to add it from a process-global flag that ITK switches on
at the first DICOM read in the process and never off, so a series written after any
DICOM read would differ from one written by a fresh process (e.g. a spawn pool worker).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: SOP class of classic single-frame MR images.
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"

#: Identity Modality LUT, written explicitly so the bytes do not depend on GDCM's global state.
IDENTITY_RESCALE = {"0028|1052": "0", "0028|1053": "1", "0028|1054": "US"}


@dataclass(frozen=True)
class DicomPatient:
    """Identifying and study data written into every slice (all fake)."""

    patient_id: str
    patient_name: str
    birth_date: str  # YYYYMMDD
    sex: str  # "F" or "M"
    study_date: str  # YYYYMMDD
    institution: str
    accession: str = ""
    series_description: str = "T1 TSE SCOR"


def uid_from_int(value: int) -> str:
    """A valid DICOM UID under the UUID root ``2.25`` (at most 64 characters)."""
    return f"2.25.{int(value) % (1 << 128)}"


def _ds(value: float) -> str:
    """DICOM decimal string (at most 16 characters)."""
    text = f"{value:.10g}"
    if len(text) > 16:
        text = f"{value:.6f}"[:16]
    return text


def write_dicom_series(image, folder: str | os.PathLike, patient: DicomPatient, seed: int) -> list[Path]:
    """Write ``image`` (a 3-D int16 ``SimpleITK.Image``) as one DICOM file per slice.

    Args:
        image: 3-D image with its final geometry (oblique direction allowed).
        folder: Output folder (created); must not already hold a series.
        patient: Fake patient and study data.
        seed: Seed for the UIDs and the shuffled file names.

    Returns:
        The written files, in slice order.

    Raises:
        ValueError: The image is not 3-D or not int16.
    """
    import SimpleITK as sitk

    if image.GetDimension() != 3:
        raise ValueError(f"patient {patient.patient_id}: DICOM export needs a 3-D image")
    if image.GetPixelID() != sitk.sitkInt16:
        raise ValueError(f"patient {patient.patient_id}: DICOM export expects int16 pixels")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_slices = image.GetSize()[2]
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    iop = "\\".join(_ds(v) for v in (*direction[:, 0], *direction[:, 1]))
    spacing = image.GetSpacing()
    study_uid, series_uid, frame_uid = (uid_from_int(int.from_bytes(rng.bytes(16), "big")) for _ in range(3))
    names = [f"IM{int(v):08d}.dcm" for v in rng.choice(10 ** 8, size=n_slices, replace=False)]
    common = {
        "0008|0008": "ORIGINAL\\PRIMARY\\M\\ND",
        "0008|0016": MR_IMAGE_STORAGE,
        "0008|0012": patient.study_date, "0008|0013": "101500",
        "0008|0020": patient.study_date, "0008|0021": patient.study_date,
        "0008|0023": patient.study_date, "0008|0030": "101500", "0008|0031": "101500",
        "0008|0033": "101500",
        "0008|0050": patient.accession,
        "0008|0060": "MR",
        "0008|0070": "Synthetic Phantom Systems",
        "0008|0080": patient.institution,
        "0008|103e": patient.series_description,
        "0010|0010": patient.patient_name,
        "0010|0020": patient.patient_id,
        "0010|0030": patient.birth_date,
        "0010|0040": patient.sex,
        "0018|0015": "SIJ",
        "0018|0020": "SE",
        "0018|0050": _ds(spacing[2]),
        "0018|0088": _ds(spacing[2]),
        "0018|0080": "600", "0018|0081": "12",
        "0020|000d": study_uid,
        "0020|000e": series_uid,
        "0020|0010": "1",
        "0020|0011": "3",
        "0020|0037": iop,
        "0020|0052": frame_uid,
        "0028|0030": f"{_ds(spacing[1])}\\{_ds(spacing[0])}",
        **IDENTITY_RESCALE,
    }
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    written = []
    for k in range(n_slices):
        slab = image[:, :, k:k + 1]  # stays 3-D: keeps the oblique direction and its origin
        for tag, value in common.items():
            slab.SetMetaData(tag, value)
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        slab.SetMetaData("0020|0032", "\\".join(_ds(v) for v in position))
        slab.SetMetaData("0020|0013", str(k + 1))
        slab.SetMetaData("0008|0018", uid_from_int(int.from_bytes(rng.bytes(16), "big")))
        slab.SetMetaData("0020|1041", _ds(float(np.dot(direction[:, 2], position))))
        path = folder / names[k]
        writer.SetFileName(str(path))
        writer.Execute(slab)
        written.append(path)
    return written
