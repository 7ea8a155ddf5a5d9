"""Synthetic two-center SIJ MRI cohort: plan (pure) and writer (parallel, atomic).

The cohort mirrors the study's design (Li et al., Insights into Imaging 2024): center 1
(internal, NIfTI) and center 2 (external, DICOM series with a real domain shift), with
axSpA and non-axSpA patients in the paper's proportions. Every patient has fat
metaplasia (FM). Images are rendered by :mod:`dataset_conversion.sij_phantom`.

Generative model of diagnosis (all draws from the plan's random generator; the numbers
are in :data:`GENERATIVE_MODEL` and :class:`~dataset_conversion.diagnosis_model.DiagnosisModel`
and are copied into ``cohort.json``):

1. Stratum counts are fixed: at scale 1 center 1 has 462 axSpA / 186 non-axSpA and
   center 2 37 / 21; at scale ``s`` each stratum has ``max(3, round(n * s))`` patients.
2. Given the diagnosis, age, sex and the imaging latents are drawn from the explicit
   class-conditional model of :mod:`dataset_conversion.diagnosis_model`: a per-patient
   imaging pattern (burden, border width, heterogeneity) shared by the patient's lesions
   plus lesion-level noise, a lesion count that rises with the burden, a per-patient
   sacral propensity and bilaterality. The class distributions overlap; the model's
   Bayes-optimal AUC is computed by Monte Carlo and written to ``cohort.json``.
3. Each lesion's size factor is ``exp(burden latent)`` (scaling length, depth and, by its
   square root, slice extent, times shape jitter), its border width ``exp(log-edge
   latent)`` mm and its heterogeneity ``0.6 * sigmoid(logit latent)``; its position along
   the joint is uniform (not diagnostic).
4. Mimics (never labelled) depend on age only, so they carry no diagnostic information
   beyond age: fatty marrow islands Poisson(0.8 + 0.03 (age - 30)), deep in the bone;
   degenerative foci Poisson(0.5 + 0.03 (age - 30)), small, heterogeneous and dimmer, away
   from the subchondral plate. Marrow gets fattier (brighter) with age.

Center 2 differs in resolution (0.8 x 0.8 x 3.5 mm, 176 x 144 matrix), contrast (lower
fat/marrow ratio), noise, bias-field strength, point-spread and tilt (30-50 degrees
versus 20-40 degrees). Per-patient rendering seeds come from
``np.random.SeedSequence(seed)``, so the files do not depend on ``jobs``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnunet_fm.contract import paper_stratum_counts
from nnunet_fm.parallel import map_with_progress

from dataset_conversion.diagnosis_model import DiagnosisModel, bayes_auc, log_likelihood_ratio, sample_latents
from dataset_conversion.sij_phantom import Anatomy, Lesion, Mimic, PhantomParams, ScannerParams

LOG = logging.getLogger(__name__)

#: Bumped whenever the plan or the rendering changes what a seed produces.
GENERATOR_VERSION = "2.0.1"

#: Patients per (center, diagnosis) at scale 1 (the paper's cohort).
PAPER_COUNTS = paper_stratum_counts()

#: Fewest patients per stratum at any scale.
MIN_PER_STRATUM = 3

#: Parameters of the generative model beyond :class:`DiagnosisModel` (module docstring).
GENERATIVE_MODEL: dict[str, Any] = {
    "lesion_base_mm": {"half_length": 8.0, "depth": 4.5, "half_z": 5.0},
    "heterogeneity_max": 0.6,
    "edge_mm_range": [0.25, 4.0],
    "mimics": {"fatty_island_rate": [0.8, 0.03], "degenerative_rate": [0.5, 0.03]},
}

#: The diagnosis model used for every cohort (its Bayes AUC is in ``cohort.json``).
DIAGNOSIS_MODEL = DiagnosisModel()


@dataclass(frozen=True)
class CenterProtocol:
    """Scanner distribution of one center (means and spreads of ``ScannerParams``)."""

    center: int
    pixel_mm: float
    slice_mm: float
    nx: int
    ny: int
    slices: tuple[int, int]
    tilt_deg: tuple[float, float]
    fat: tuple[float, float]
    marrow: tuple[float, float]
    muscle: tuple[float, float]
    cartilage: float
    noise_sigma: tuple[float, float]
    bias_strength: tuple[float, float]
    psf_sigma_px: float
    image_format: str
    institution: str


PROTOCOLS = {
    1: CenterProtocol(1, 0.7, 4.0, 192, 160, (12, 20), (20.0, 40.0), (1350.0, 90.0), (820.0, 60.0),
                      (480.0, 30.0), 330.0, (16.0, 34.0), (0.05, 0.30), 0.5, "nifti", "Internal University Hospital"),
    2: CenterProtocol(2, 0.8, 3.5, 176, 144, (14, 20), (30.0, 50.0), (1250.0, 60.0), (780.0, 45.0),
                      (540.0, 30.0), 380.0, (30.0, 42.0), (0.15, 0.35), 0.7, "dicom", "External Regional Medical Center"),
}

_FIRST = ("ANNA", "JOHN", "MARIA", "PETER", "LENA", "DAVID", "SARA", "MARK", "EMMA", "PAUL", "JULIA", "TOM")
_LAST = ("SMITH", "MUELLER", "GARCIA", "CHEN", "NOVAK", "ROSSI", "DUBOIS", "KOWALSKI", "SILVA", "JENSEN")


def stratum_counts(scale: float) -> dict[tuple[int, str], int]:
    """Patients per (center, diagnosis) at ``scale`` (at least :data:`MIN_PER_STRATUM`)."""
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    return {key: max(MIN_PER_STRATUM, int(math.floor(n * scale + 0.5))) for key, n in PAPER_COUNTS.items()}


def _draw_scanner(proto: CenterProtocol, rng: np.random.Generator) -> ScannerParams:
    return ScannerParams(
        pixel_mm=proto.pixel_mm, slice_mm=proto.slice_mm, nx=proto.nx, ny=proto.ny,
        n_slices=int(rng.integers(proto.slices[0], proto.slices[1] + 1)),
        tilt_deg=float(rng.uniform(*proto.tilt_deg)),
        roll_deg=float(rng.normal(0, 2.0)), yaw_deg=float(rng.normal(0, 2.0)),
        center_lps=(float(rng.normal(0, 5)), float(rng.normal(40, 8)), float(rng.normal(-100, 10))),
        fat=float(rng.normal(*proto.fat)), marrow=float(rng.normal(*proto.marrow)),
        muscle=float(rng.normal(*proto.muscle)), cartilage=proto.cartilage,
        noise_sigma=float(rng.uniform(*proto.noise_sigma)), bias_strength=float(rng.uniform(*proto.bias_strength)),
        psf_sigma_px=proto.psf_sigma_px,
    )


def _draw_anatomy(age: float, sex: str, rng: np.random.Generator) -> Anatomy:
    return Anatomy(
        joint_top_mm=float(rng.uniform(-40, -32)), joint_bottom_mm=float(rng.uniform(30, 38)),
        sacrum_half_top_mm=float(rng.uniform(20, 24)), sacrum_half_bottom_mm=float(rng.uniform(11, 15)),
        joint_bow_mm=float(rng.uniform(-2, 5)), joint_gap_mm=float(rng.uniform(1.6, 2.4)),
        cortex_mm=float(rng.uniform(0.9, 1.4)),
        ilium_width_top_mm=float(rng.uniform(18, 25)), ilium_width_bottom_mm=float(rng.uniform(11, 16)),
        body_edge_mm=float(rng.uniform(55, 63)),
        fat_thickness_mm=float(rng.uniform(6, 12) if sex == "F" else rng.uniform(4, 9)),
        widen_per_z_mm=float(rng.uniform(0.0, 0.15)),
        marrow_factor=float(1.0 + 0.003 * (age - 40) + rng.normal(0, 0.04)),
    )


def _draw_lesions(lat: dict[str, np.ndarray], i: int, n_slices: int, slice_mm: float,
                  rng: np.random.Generator) -> tuple[Lesion, ...]:
    """Turn patient ``i``'s lesion latents into rendered lesions (shape jitter is not diagnostic)."""
    gm = GENERATIVE_MODEL
    base = gm["lesion_base_mm"]
    n = int(lat["n_lesions"][i])
    first_side = int(rng.choice((-1, 1)))
    z_room = max(2.0, min(14.0, (n_slices - 1) * slice_mm / 2 - 6.0))
    lesions = []
    for k in range(n):
        log_size, log_edge, logit_het = (float(v) for v in lat["lesion"][i, k])
        size = math.exp(log_size)
        side = -first_side if (lat["bilateral"][i] and k % 2) else first_side
        lesions.append(Lesion(
            side=side, bone="sacrum" if lat["sacral"][i, k] else "ilium", pos=float(rng.uniform(0.1, 0.9)),
            z_mm=float(rng.uniform(-z_room, z_room)),
            half_length_mm=float(np.clip(base["half_length"] * size * rng.uniform(0.8, 1.25), 4.0, 22.0)),
            depth_mm=float(np.clip(base["depth"] * size * rng.uniform(0.75, 1.3), 2.5, 11.0)),
            half_z_mm=float(np.clip(base["half_z"] * math.sqrt(size) * rng.uniform(0.8, 1.25), slice_mm, 14.0)),
            edge_mm=float(np.clip(math.exp(log_edge), *gm["edge_mm_range"])),
            heterogeneity=float(gm["heterogeneity_max"] / (1.0 + math.exp(-logit_het))),
        ))
    return tuple(lesions)


def _draw_mimics(age: float, n_slices: int, slice_mm: float, rng: np.random.Generator) -> tuple[Mimic, ...]:
    """Unlabelled mimics; their rates depend on age only (no diagnostic signal beyond age)."""
    fi_rate = GENERATIVE_MODEL["mimics"]["fatty_island_rate"]
    dg_rate = GENERATIVE_MODEL["mimics"]["degenerative_rate"]
    z_room = max(2.0, (n_slices - 1) * slice_mm / 2 - 4.0)
    mimics = []
    for _ in range(int(rng.poisson(max(0.05, fi_rate[0] + fi_rate[1] * (age - 30))))):
        bone = "ilium" if rng.random() < 0.6 else "sacrum"
        mimics.append(Mimic("fatty_island", int(rng.choice((-1, 1))), bone, float(rng.uniform(0.05, 0.8)),
                            float(rng.uniform(-z_room, z_room)),
                            float(rng.uniform(10, 15) if bone == "ilium" else rng.uniform(8, 11)),
                            float(rng.uniform(2.5, 5.0)), float(rng.uniform(0.55, 0.85)), float(rng.uniform(0.0, 0.3))))
    for _ in range(int(rng.poisson(max(0.05, dg_rate[0] + dg_rate[1] * (age - 30))))):
        mimics.append(Mimic("degenerative", int(rng.choice((-1, 1))), "ilium" if rng.random() < 0.7 else "sacrum",
                            float(rng.uniform(0.3, 0.95)), float(rng.uniform(-z_room, z_room)),
                            float(rng.uniform(6.5, 10.0)), float(rng.uniform(1.5, 2.8)),
                            float(rng.uniform(0.35, 0.6)), float(rng.uniform(0.4, 0.8))))
    return tuple(mimics)


def _truth_columns(lat: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    """Per-patient latent summary (the sufficient statistics of the diagnosis model)."""
    lesion_mean = np.nanmean(lat["lesion"][i], axis=0)
    return {
        "latent_age": float(lat["age"][i]),
        "latent_burden": float(lat["pattern"][i, 0]), "latent_log_edge_mm": float(lat["pattern"][i, 1]),
        "latent_logit_heterogeneity": float(lat["pattern"][i, 2]),
        "lesion_mean_burden": float(lesion_mean[0]), "lesion_mean_log_edge_mm": float(lesion_mean[1]),
        "lesion_mean_logit_heterogeneity": float(lesion_mean[2]),
        "n_lesions": int(lat["n_lesions"][i]), "bilateral": bool(lat["bilateral"][i]),
        "sacral_lesions": int(lat["sacral"][i].sum()),
    }


def _center_rows(center: int, dxs: list[str], ids, render_seeds, rng: np.random.Generator) -> list[dict]:
    """Plan rows of one center, diagnoses in the given order."""
    proto = PROTOCOLS[center]
    y = np.array([dx == "axSpA" for dx in dxs], dtype=int)
    lat = sample_latents(DIAGNOSIS_MODEL, y, rng)
    llr = {which: log_likelihood_ratio(DIAGNOSIS_MODEL, lat, which) for which in ("all", "imaging", "clinical")}
    lo, hi = DIAGNOSIS_MODEL.age_range
    rows = []
    for i, dx in enumerate(dxs):
        age = int(np.clip(round(float(lat["age"][i])), lo, hi))
        sex = "M" if lat["male"][i] else "F"
        scanner = _draw_scanner(proto, rng)
        anatomy = _draw_anatomy(age, sex, rng)
        lesions = _draw_lesions(lat, i, scanner.n_slices, scanner.slice_mm, rng)
        mimics = _draw_mimics(age, scanner.n_slices, scanner.slice_mm, rng)
        pid = f"MRN{int(ids[i])}"
        study = _dt.date(2018, 1, 1) + _dt.timedelta(days=int(rng.integers(0, 5 * 365)))
        birth = study - _dt.timedelta(days=int(age * 365.25 + rng.integers(0, 360)))
        folder = f"center{center}/{pid}"
        rows.append({
            "patient_id": pid, "center": center, "diagnosis": dx, "age": age, "sex": sex,
            "image": f"{folder}/t1_dicom" if proto.image_format == "dicom" else f"{folder}/t1.nii.gz",
            "mask": f"{folder}/fm_mask.nii.gz", **_truth_columns(lat, i),
            **{f"bayes_llr_{which}": float(v[i]) for which, v in llr.items()},
            "planned_fm_volume_ml": float(sum(les.planned_volume_ml for les in lesions)),
            "render_seed": render_seeds[i],
            "patient_name": f"{_LAST[int(rng.integers(len(_LAST)))]}^{_FIRST[int(rng.integers(len(_FIRST)))]}",
            "birth_date": birth.strftime("%Y%m%d"), "study_date": study.strftime("%Y%m%d"),
            "institution": proto.institution, "params": PhantomParams(scanner, anatomy, lesions, mimics),
        })
    return rows


def plan_cohort(scale: float = 0.25, seed: int = 2024):
    """The whole cohort as a table, without rendering any image (pure, deterministic).

    Args:
        scale: Fraction of the paper's cohort size (1 = 706 patients).
        seed: Master seed.

    Returns:
        ``pandas.DataFrame``, one row per patient, center 1 first, with columns
        ``patient_id, center, diagnosis, age, sex, image, mask``, the latent truth
        (``latent_*``, ``lesion_mean_*``, ``n_lesions, bilateral, sacral_lesions``), the
        true log-likelihood ratios ``bayes_llr_{all,imaging,clinical}``,
        ``planned_fm_volume_ml, render_seed`` plus ``params`` (the :class:`PhantomParams`
        object) and fake DICOM identity columns.
    """
    import pandas as pd

    counts = stratum_counts(scale)
    plan_ss, render_ss = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(plan_ss)
    n_total = sum(counts.values())
    ids = rng.choice(np.arange(1_000_000, 10_000_000), size=n_total, replace=False)
    render_seeds = [int(s.generate_state(1, np.uint32)[0]) for s in render_ss.spawn(n_total)]
    rows: list[dict] = []
    for center in (1, 2):
        dxs = ["axSpA"] * counts[(center, "axSpA")] + ["non-axSpA"] * counts[(center, "non-axSpA")]
        dxs = [dxs[j] for j in rng.permutation(len(dxs))]
        start = len(rows)
        rows += _center_rows(center, dxs, ids[start:], render_seeds[start:], rng)
    return pd.DataFrame(rows)


def volume_auc(frame, column: str) -> dict[str, float | None]:
    """ROC AUC of ``column`` (higher = axSpA) over all patients and per center."""
    from sklearn.metrics import roc_auc_score

    out: dict[str, float | None] = {}
    for name, part in [("all", frame)] + [(f"center{c}", frame[frame["center"] == c]) for c in (1, 2)]:
        y = (part["diagnosis"] == "axSpA").astype(int)
        out[name] = float(roc_auc_score(y, part[column])) if y.nunique() == 2 else None
    return out


def _render_one(task: dict[str, Any]) -> dict[str, Any]:
    """Render and write one patient (runs in a worker process)."""
    import SimpleITK as sitk

    from dataset_conversion.dicom_export import DicomPatient, write_dicom_series
    from dataset_conversion.sij_phantom import make_phantom
    from nnunet_fm.image_io import write_image

    cpu_start = time.process_time()
    root = Path(task["root"])
    params: PhantomParams = task["params"]
    rng = np.random.default_rng(task["render_seed"])
    image, mask, spacing, direction, origin = make_phantom(params, rng)
    if not mask.any():
        raise RuntimeError(f"patient {task['patient_id']}: rendered FM mask is empty")
    voxels = np.clip(np.rint(image), 0, np.iinfo(np.int16).max).astype(np.int16)
    itk_image = sitk.GetImageFromArray(voxels)
    itk_mask = sitk.GetImageFromArray(mask)
    for item in (itk_image, itk_mask):
        item.SetSpacing(spacing)
        item.SetDirection(direction)
        item.SetOrigin(origin)
    write_image(itk_mask, root / task["mask"])
    if task["image"].endswith(".nii.gz"):
        write_image(itk_image, root / task["image"])
    else:
        patient = DicomPatient(task["patient_id"], task["patient_name"], task["birth_date"], task["sex"],
                               task["study_date"], task["institution"], accession=f"ACC{task['render_seed'] % 10**8:08d}")
        write_dicom_series(itk_image, root / task["image"], patient, seed=task["render_seed"])
    voxel_ml = float(np.prod(spacing)) / 1000.0
    return {"patient_id": task["patient_id"], "fm_volume_ml_true": float(mask.sum()) * voxel_ml,
            "cpu_s": time.process_time() - cpu_start}


def _tasks(plan, root: Path) -> list[dict[str, Any]]:
    keep = ("patient_id", "image", "mask", "sex", "render_seed", "patient_name", "birth_date",
            "study_date", "institution", "params")
    return [{"root": str(root), **{k: row[k] for k in keep}} for row in plan.to_dict("records")]


def _run_tasks(tasks: list[dict[str, Any]], jobs: int) -> list[dict[str, Any]]:
    """Render every patient (spawned workers that die with the parent; results in task order)."""
    return map_with_progress(_render_one, tasks, jobs, "synth",
                             task_id=lambda t, i: t.get("patient_id", f"item {i}"))


#: Latent truth written to ``truth.csv`` (for the ceiling; never a model input).
TRUTH_COLUMNS = ("bayes_llr_all", "bayes_llr_imaging", "bayes_llr_clinical", "latent_age", "latent_burden",
                 "latent_log_edge_mm", "latent_logit_heterogeneity", "lesion_mean_burden", "lesion_mean_log_edge_mm",
                 "lesion_mean_logit_heterogeneity", "n_lesions", "bilateral", "sacral_lesions", "planned_fm_volume_ml")

#: Parts of the latents the Bayes AUC is reported for.
BAYES_PARTS = ("all", "imaging", "clinical")

#: Spawn key of the Monte Carlo stream under the master seed (plan and render use 0 and 1).
BAYES_MC_SPAWN_KEY = (2,)


def model_bayes_auc(seed: int) -> dict[str, Any]:
    """Bayes-optimal AUC of :data:`DIAGNOSIS_MODEL` (Monte Carlo, 200,000 patients).

    The stream is ``SeedSequence(seed, spawn_key=(2,))``, independent of the cohort's own
    draws; the value is a property of the model, the seed only fixes the MC error.
    """
    out = bayes_auc(DIAGNOSIS_MODEL, seed=np.random.SeedSequence(seed, spawn_key=BAYES_MC_SPAWN_KEY))
    out["mc_seed"] = int(seed)
    out["mc_spawn_key"] = list(BAYES_MC_SPAWN_KEY)
    out["method"] = ("ROC AUC of the exact log-likelihood ratio of the diagnosis model on simulated "
                     "patients, half axSpA, half non-axSpA")
    return out


def _params_summary() -> dict[str, Any]:
    return {
        "generative_model": GENERATIVE_MODEL,
        "diagnosis_model": DIAGNOSIS_MODEL.as_dict(),
        "centers": {str(c): asdict(p) for c, p in PROTOCOLS.items()},
        "paper_counts": {f"center{c}_{dx}": n for (c, dx), n in PAPER_COUNTS.items()},
        "min_per_stratum": MIN_PER_STRATUM,
    }


def generate_cohort(out_dir: str | os.PathLike, scale: float = 0.25, seed: int = 2024, jobs: int = 2,
                    overwrite: bool = False) -> Path:
    """Render the synthetic cohort into ``out_dir`` (architecture contract section 1).

    Writes ``clinical.csv``, ``cohort.json``, center-1 NIfTI images, center-2 DICOM
    series and NIfTI FM masks. The folder is built under a temporary name and renamed at
    the end, so an interrupted run leaves nothing partial.

    Args:
        out_dir: Cohort folder to create.
        scale: Fraction of the paper's 706 patients (at least 3 per stratum).
        seed: Master seed; the same seed gives identical files for any ``jobs``.
        jobs: Worker processes.
        overwrite: Replace an existing ``out_dir``.

    Returns:
        The cohort folder.
    """
    from nnunet_fm.atomic import NotOwnedError, atomic_dir, is_owned, write_csv, write_json

    out_dir = Path(out_dir)
    if os.path.lexists(out_dir) and not overwrite:
        raise FileExistsError(f"{out_dir} already exists (use --overwrite to replace it)")
    if os.path.lexists(out_dir) and not is_owned(out_dir):
        raise NotOwnedError(f"{out_dir} exists but was not written by nnunet-fm synth (no ownership marker); "
                            "--overwrite only replaces folders it wrote: remove it yourself or choose another --out")
    jobs = max(1, int(jobs))
    start = time.perf_counter()
    plan = plan_cohort(scale, seed)
    LOG.info("planned %d patients (scale %g, seed %d); rendering with %d process(es)", len(plan), scale, seed, jobs)
    with atomic_dir(out_dir, overwrite=overwrite, owner_marker=True) as tmp:
        results = _run_tasks(_tasks(plan, tmp), jobs)
        truth = {r["patient_id"]: r["fm_volume_ml_true"] for r in results}
        plan["fm_volume_ml_true"] = plan["patient_id"].map(truth).round(4)
        clinical = plan[["patient_id", "center", "diagnosis", "age", "sex", "image", "mask", "fm_volume_ml_true"]]
        write_csv(tmp / "clinical.csv", clinical)
        write_csv(tmp / "truth.csv", plan[["patient_id", *TRUTH_COLUMNS]])
        counts = {f"center{c}_{dx}": int(((plan["center"] == c) & (plan["diagnosis"] == dx)).sum())
                  for c in (1, 2) for dx in ("axSpA", "non-axSpA")}
        info = {
            "generator": "nnunet-fm synthetic SIJ phantom cohort",
            "generator_version": GENERATOR_VERSION,
            "seed": int(seed), "scale": float(scale), "n_patients": int(len(plan)),
            "counts": counts,
            "fm_volume_alone_auc": volume_auc(plan, "fm_volume_ml_true"),
            "planned_fm_volume_alone_auc": volume_auc(plan, "planned_fm_volume_ml"),
            "bayes_auc": model_bayes_auc(seed),
            "bayes_auc_cohort": {which: volume_auc(plan, f"bayes_llr_{which}") for which in BAYES_PARTS},
            "truth_summary": _truth_summary(plan),
            "parameters": _params_summary(),
            "timing": {"jobs": jobs, "render_cpu_s": round(sum(r["cpu_s"] for r in results), 1),
                       "elapsed_s": round(time.perf_counter() - start, 1)},
        }
        write_json(tmp / "cohort.json", info)
    LOG.info("wrote %s: %s; FM-volume-alone AUC %s (%.1f s, rendering %.1f CPU s)", out_dir, counts,
             {k: (round(v, 3) if v is not None else None) for k, v in info["fm_volume_alone_auc"].items()},
             time.perf_counter() - start, info["timing"]["render_cpu_s"])
    return out_dir


def _truth_summary(plan) -> dict[str, Any]:
    """Per-diagnosis means of the latent truth (for documentation, not for models)."""
    out = {}
    for dx, part in plan.groupby("diagnosis"):
        out[dx] = {
            "n": int(len(part)),
            "fm_volume_ml_true_median": float(part["fm_volume_ml_true"].median()),
            "n_lesions_mean": float(part["n_lesions"].mean()),
            "bilateral_fraction": float(part["bilateral"].mean()),
            "sacral_involvement_fraction": float((part["sacral_lesions"] > 0).mean()),
            "age_mean": float(part["age"].mean()),
            "male_fraction": float((part["sex"] == "M").mean()),
        }
    return out

