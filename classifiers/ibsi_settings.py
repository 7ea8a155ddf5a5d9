"""The pyradiomics parameters of a study described in IBSI terms (Zwanenburg et al. 2020).

A reader judging comparability with other radiomics studies needs the image processing
named as the Image Biomarker Standardisation Initiative names it. :func:`ibsi_settings`
reads a pyradiomics parameter YAML, fills in pyradiomics' own defaults for what the file
does not set (pyradiomics 3.x: no resampling, B-spline interpolator, bin width 25, no
normalisation, 3-D) and returns one row per IBSI item; :func:`ibsi_settings_markdown`
renders them as a markdown table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

#: pyradiomics' defaults for the settings the table reports (featureextractor / base).
PYRADIOMICS_DEFAULTS = {"resampledPixelSpacing": None, "interpolator": "sitkBSpline", "binWidth": 25,
                        "binCount": None, "normalize": False, "normalizeScale": 1, "removeOutliers": None,
                        "voxelArrayShift": 0, "force2D": False, "force2Ddimension": 0, "distances": [1],
                        "resegmentRange": None}
_INTERPOLATORS = {"sitkBSpline": "cubic B-spline", "sitkLinear": "trilinear",
                  "sitkNearestNeighbor": "nearest neighbour"}


def load_params(path: str | os.PathLike) -> dict[str, Any]:
    """A pyradiomics parameter file as a dict.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a YAML mapping.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pyradiomics parameter file not found: {path}")
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(params, dict):
        raise ValueError(f"{path}: a pyradiomics parameter file must be a YAML mapping")
    return params


def _resampling(s: Mapping[str, Any]) -> tuple[str, str]:
    spacing = s["resampledPixelSpacing"]
    if not spacing:
        return "none (native voxel grid)", "not applicable"
    kept = [axis for axis, v in zip("xyz", spacing) if v == 0]
    text = " x ".join("native" if v == 0 else f"{v:g}" for v in spacing) + " mm (x, y, z)"
    if kept:
        text += f"; {', '.join(kept)} spacing kept (no interpolation along it)"
    interpolator = _INTERPOLATORS.get(s["interpolator"], str(s["interpolator"]))
    return text, f"{interpolator} ({s['interpolator']})"


def _discretisation(s: Mapping[str, Any]) -> str:
    if s.get("binCount"):
        return f"fixed bin number (FBN), {s['binCount']} bins"
    unit = "normalised units" if s["normalize"] else "image intensity units"
    return f"fixed bin size (FBS), bin width {s['binWidth']:g} {unit}"


def _normalisation(s: Mapping[str, Any]) -> str:
    if not s["normalize"]:
        return "none (raw intensities)"
    text = f"z-score over the whole image, multiplied by {s['normalizeScale']:g}"
    if s["removeOutliers"]:
        text += f", values beyond {s['removeOutliers']:g} SD clipped"
    if s["voxelArrayShift"]:
        text += f"; +{s['voxelArrayShift']:g} shift for first-order energy features"
    return text


def _aggregation(s: Mapping[str, Any]) -> str:
    distances = ", ".join(str(d) for d in s["distances"])
    if s["force2D"]:
        return (f"2.5-D (force2D, slice axis = array axis {s['force2Ddimension']}): in-plane neighbours only, "
                f"matrices built from all slices together, GLCM/GLRLM features averaged over in-plane "
                f"directions; neighbour distance {distances} voxel")
    return f"3-D: 26-connected neighbours, features averaged over 13 directions; neighbour distance {distances} voxel"


def ibsi_settings(params: Mapping[str, Any]) -> list[dict[str, str]]:
    """IBSI items of a pyradiomics parameter dict (defaults filled in).

    Returns:
        Rows ``{"item", "setting", "pyradiomics"}`` for image type, interpolation grid,
        image interpolator, mask interpolation, re-segmentation, intensity
        normalisation, discretisation and texture aggregation (2-D/3-D).
    """
    s = {**PYRADIOMICS_DEFAULTS, **(params.get("setting") or {})}
    image_types = params.get("imageType") or {"Original": {}}
    filters = ", ".join("none (original image)" if name == "Original" else name for name in image_types)
    grid, interpolator = _resampling(s)
    mask = ("nearest neighbour (pyradiomics' fixed choice), on the image's resampled grid"
            if s["resampledPixelSpacing"] else "none (mask used on its native grid)")
    reseg = s["resegmentRange"]
    return [
        {"item": "Image type / filter (response map)", "setting": filters, "pyradiomics": "imageType"},
        {"item": "Interpolation grid (voxel spacing)", "setting": grid, "pyradiomics": "resampledPixelSpacing"},
        {"item": "Image interpolator", "setting": interpolator, "pyradiomics": "interpolator"},
        {"item": "ROI mask interpolation", "setting": mask, "pyradiomics": "(built in)"},
        {"item": "Re-segmentation (intensity range)", "setting": "none" if not reseg else f"{reseg}",
         "pyradiomics": "resegmentRange"},
        {"item": "Intensity normalisation", "setting": _normalisation(s),
         "pyradiomics": "normalize, normalizeScale, removeOutliers, voxelArrayShift"},
        {"item": "Discretisation", "setting": _discretisation(s), "pyradiomics": "binWidth / binCount"},
        {"item": "Texture aggregation (2-D / 3-D)", "setting": _aggregation(s),
         "pyradiomics": "force2D, force2Ddimension, distances"},
    ]


def ibsi_settings_markdown(path: str | os.PathLike) -> str:
    """Markdown table of :func:`ibsi_settings` for a pyradiomics parameter YAML."""
    rows = ibsi_settings(load_params(path))
    lines = [f"Radiomics settings in IBSI terms (from `{Path(path).name}`)", "",
             "| IBSI item | Setting | pyradiomics key |", "| --- | --- | --- |"]
    lines += [f"| {r['item']} | {r['setting'].replace('|', '/')} | {r['pyradiomics']} |" for r in rows]
    return "\n".join(lines) + "\n"
