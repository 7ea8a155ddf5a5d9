"""Analytic phantom of a semi-coronal T1-weighted sacroiliac-joint (SIJ) MRI volume.

One call of :func:`make_phantom` renders one patient: an oblique, strongly anisotropic
volume (thin in-plane pixels, thick slices) showing the body outline with subcutaneous
fat, muscle, the sacrum in the middle, both ilia laterally, the two curved SIJ lines
(dark cortex + cartilage) and fat metaplasia (FM) lesions, plus unlabelled FM mimics.

Coordinates used while rendering (millimetres, centred on the volume):

* ``X`` along the first index axis, patient right (-) to left (+); the sacrum is centred.
* ``Y`` along the second index axis, cranial (-) to caudal (+).
* ``Z`` along the slice axis (third index axis), posterior (-) to anterior (+).

The world geometry (direction, origin) is a rotation of this frame: the slice normal is
tilted from true coronal by ``ScannerParams.tilt_deg`` (semi-coronal plane parallel to
the sacrum), with small extra rotations so that no axis is exactly axis-aligned.

FM lesions are half-ellipsoids that start at a subchondral bone plate and grow into the
marrow of the ilium or the sacrum; their voxels are bright (fat-like) and the ground
truth mask is exactly where the lesion's fat fraction exceeds one half. Mimics are bright
regions that are *not* FM: fatty marrow islands deep in the bone, degenerative small
heterogeneous foci away from the subchondral plate, and the fat in the sacral foramina.

Everything random about a patient's *content* (anatomy sizes, lesions, mimics, scanner
settings) lives in :class:`PhantomParams`; the ``rng`` given to :func:`make_phantom`
only draws textures, boundary irregularity, the bias field and the noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

@dataclass(frozen=True)
class ScannerParams:
    """Acquisition and tissue-contrast settings (one center has one distribution of these).

    Intensities are in scanner units (T1 spin echo, stored as int16).
    """

    pixel_mm: float = 0.7
    slice_mm: float = 4.0
    nx: int = 192
    ny: int = 160
    n_slices: int = 16
    tilt_deg: float = 30.0
    roll_deg: float = 0.0
    yaw_deg: float = 0.0
    center_lps: tuple[float, float, float] = (0.0, 60.0, -80.0)
    fat: float = 1350.0
    marrow: float = 820.0
    muscle: float = 480.0
    cartilage: float = 330.0
    cortex: float = 110.0
    disc: float = 380.0
    fm_fat_fraction: float = 0.95
    noise_sigma: float = 25.0
    bias_strength: float = 0.15
    psf_sigma_px: float = 0.5


@dataclass(frozen=True)
class Anatomy:
    """Patient anatomy, in mm of the rendering frame (see module docstring)."""

    joint_top_mm: float = -36.0
    joint_bottom_mm: float = 34.0
    sacrum_half_top_mm: float = 25.0
    sacrum_half_bottom_mm: float = 14.0
    joint_bow_mm: float = 3.0
    joint_gap_mm: float = 2.6
    cortex_mm: float = 1.3
    ilium_width_top_mm: float = 24.0
    ilium_width_bottom_mm: float = 14.0
    body_edge_mm: float = 62.0
    fat_thickness_mm: float = 8.0
    widen_per_z_mm: float = 0.08
    marrow_factor: float = 1.0


@dataclass(frozen=True)
class Lesion:
    """One FM lesion: a subchondral half-ellipsoid in the ilium or the sacrum.

    Attributes:
        side: +1 patient left (+X), -1 patient right.
        bone: ``"ilium"`` or ``"sacrum"``.
        pos: Centre along the joint, 0 = cranial end, 1 = caudal end.
        z_mm: Centre along the slice axis (0 = middle slice).
        half_length_mm: Half extent along the joint.
        depth_mm: Extent from the subchondral plate into the marrow.
        half_z_mm: Half extent across slices.
        edge_mm: Width of the signal transition at the border (small = sharp).
        heterogeneity: 0 = homogeneous fat signal; up to ~0.6 = patchy.
    """

    side: int
    bone: str
    pos: float
    z_mm: float
    half_length_mm: float
    depth_mm: float
    half_z_mm: float
    edge_mm: float = 0.8
    heterogeneity: float = 0.2

    @property
    def planned_volume_ml(self) -> float:
        """Volume of the ideal half-ellipsoid (before clipping to the bone)."""
        return (2.0 / 3.0) * math.pi * self.half_length_mm * self.depth_mm * self.half_z_mm / 1000.0


@dataclass(frozen=True)
class Mimic:
    """A bright region that is not FM (never labelled).

    Attributes:
        kind: ``"fatty_island"`` (normal fatty marrow, deep in the bone) or
            ``"degenerative"`` (small, heterogeneous, less bright focus).
        side, bone, pos, z_mm: as for :class:`Lesion`.
        depth_mm: Distance of its centre from the subchondral plate.
        radius_mm: Radius in plane (the z radius is ``radius_mm * 1.5``).
        brightness: Fat fraction at its centre (0..1).
        heterogeneity: Patchiness (0..1).
    """

    kind: str
    side: int
    bone: str
    pos: float
    z_mm: float
    depth_mm: float
    radius_mm: float
    brightness: float
    heterogeneity: float = 0.3


@dataclass(frozen=True)
class PhantomParams:
    """Everything that defines one phantom apart from textures and noise."""

    scanner: ScannerParams = field(default_factory=ScannerParams)
    anatomy: Anatomy = field(default_factory=Anatomy)
    lesions: tuple[Lesion, ...] = ()
    mimics: tuple[Mimic, ...] = ()


def direction_matrix(tilt_deg: float, roll_deg: float = 0.0, yaw_deg: float = 0.0) -> np.ndarray:
    """Orthonormal LPS direction (columns = index axes) of a semi-coronal acquisition.

    Index x runs to patient left, index y caudally, index z (slice) posteriorly before the
    tilt; the slice normal is then tilted by ``tilt_deg`` about the left-right axis, and
    rotated by the small ``roll_deg`` (about A-P) and ``yaw_deg`` (about S-I).
    """
    base = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    t, r, w = (math.radians(a) for a in (tilt_deg, roll_deg, yaw_deg))
    rot_x = np.array([[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])
    rot_y = np.array([[math.cos(r), 0, math.sin(r)], [0, 1, 0], [-math.sin(r), 0, math.cos(r)]])
    rot_z = np.array([[math.cos(w), -math.sin(w), 0], [math.sin(w), math.cos(w), 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x @ base


def tilt_from_coronal_deg(direction: np.ndarray | tuple[float, ...]) -> float:
    """Angle between the slice normal (third column) and the coronal normal (LPS y)."""
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    return float(np.degrees(np.arccos(min(1.0, abs(d[1, 2])))))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int, int], sigma_vox: tuple[float, float, float]) -> np.ndarray:
    """Gaussian-smoothed white noise rescaled to unit standard deviation."""
    from scipy.ndimage import gaussian_filter

    field_ = gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_vox, mode="wrap", truncate=3.0)
    std = float(field_.std())
    return field_ / std if std > 0 else field_


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))).astype(np.float32)


def _window(coord: np.ndarray, lo: float, hi: float) -> slice:
    """Index slice of the 1-D coordinate vector ``coord`` that lies in [lo, hi]."""
    idx = np.nonzero((coord >= lo) & (coord <= hi))[0]
    return slice(int(idx[0]), int(idx[-1]) + 1) if idx.size else slice(0, 0)


@dataclass
class _Frame:
    """Voxel grid and bone layout of one phantom, in rendering-frame mm (arrays (z, y, x))."""

    z1: np.ndarray
    y1: np.ndarray
    x1: np.ndarray
    zc: np.ndarray
    yc: np.ndarray
    xc: np.ndarray
    ax: np.ndarray
    t: np.ndarray
    tcl: np.ndarray
    hw: np.ndarray
    d: np.ndarray
    sac_top: float
    sacrum: np.ndarray
    sac_inside: np.ndarray
    il_w: np.ndarray
    d_il: np.ndarray
    ilium: np.ndarray
    il_inside: np.ndarray
    disc: np.ndarray
    l5: np.ndarray
    l5_inside: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.ax.shape


def _layout(sc: ScannerParams, an: Anatomy) -> _Frame:
    """Grid coordinates and the bones: sacrum, ilia, L5 and the L5/S1 disc."""
    nz, ny, nx = sc.n_slices, sc.ny, sc.nx
    px, dz = sc.pixel_mm, sc.slice_mm
    z1 = ((np.arange(nz) - (nz - 1) / 2) * dz).astype(np.float32)
    y1 = ((np.arange(ny) - (ny - 1) / 2) * px).astype(np.float32)
    x1 = ((np.arange(nx) - (nx - 1) / 2) * px).astype(np.float32)
    zc, yc, xc = z1[:, None, None], y1[None, :, None], x1[None, None, :]
    ax = np.abs(xc) + np.zeros((nz, ny, nx), np.float32)  # full-size so every region mask is 3-D
    # joint line: half-width of the sacrum as a function of Y (and slowly of Z)
    j_top, j_bot = an.joint_top_mm, an.joint_bottom_mm
    t = (yc - j_top) / (j_bot - j_top)  # 0 at the cranial, 1 at the caudal end of the joint
    tcl = np.clip(t, 0, 1)
    hw = an.sacrum_half_top_mm + (an.sacrum_half_bottom_mm - an.sacrum_half_top_mm) * t
    hw = np.maximum(hw + an.joint_bow_mm * np.sin(np.pi * tcl) + an.widen_per_z_mm * zc, 5.0)
    d = ax - hw  # horizontal signed distance from the sacral joint surface (>0 lateral)
    sac_top = j_top - 4.0
    # Ilium: lateral to the joint, flaring into the iliac wing cranially, tapering caudally.
    il_w = an.ilium_width_bottom_mm + (an.ilium_width_top_mm - an.ilium_width_bottom_mm) * (1.0 - tcl) ** 1.5
    il_w = il_w + 0.25 * np.maximum(-(yc - j_top), 0)
    il_w = il_w * np.clip(1.0 - (yc - (j_bot + 2.0)) / 10.0, 0.0, 1.0)
    il_w = np.minimum(il_w, an.body_edge_mm - an.fat_thickness_mm - 4.0 - hw - an.joint_gap_mm)
    d_il = d - an.joint_gap_mm  # distance lateral of the iliac joint surface
    l5_hw = 0.8 * an.sacrum_half_top_mm  # L5 vertebral body above the sacrum, separated by a disc
    return _Frame(
        z1, y1, x1, zc, yc, xc, ax, t, tcl, hw, d, sac_top,
        sacrum=(d < 0) & (yc > sac_top), sac_inside=np.minimum(-d, yc - sac_top),
        il_w=il_w, d_il=d_il, ilium=(d_il >= 0) & (d_il < il_w), il_inside=np.minimum(d_il, il_w - d_il),
        disc=(yc <= sac_top) & (yc > sac_top - 5.0) & (ax < l5_hw), l5=(yc <= sac_top - 5.0) & (ax < l5_hw),
        l5_inside=np.minimum(l5_hw - ax, (sac_top - 5.0) - yc),
    )


def _soft_tissue(sc: ScannerParams, an: Anatomy, fr: _Frame, tex_field: np.ndarray, muscle_field: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """Background, muscle with a few fat septa, and the subcutaneous fat band."""
    edge = an.body_edge_mm + 4.0 * (fr.yc / 50.0) ** 2 + 0.05 * fr.zc  # hips widen caudally
    body = fr.ax < edge
    fat_band = body & (fr.ax >= edge - an.fat_thickness_mm)
    img = np.where(body, sc.muscle * (1.0 + 0.05 * muscle_field), 0.0).astype(np.float32)
    img = np.where(fat_band, sc.fat * (1.0 + 0.03 * tex_field), img)
    # a few intermuscular fat septa: thin bright curves in the gluteal muscle
    for y0, amp, phase in zip(rng.uniform(-40, 40, size=2), rng.uniform(4, 10, size=2), rng.uniform(0, 6.3, size=2)):
        curve = y0 + amp * np.sin(fr.xc / 9.0 + phase) + 0.15 * fr.zc
        sept = body & ~fat_band & (np.abs(fr.yc - curve) < 0.45) & (fr.d_il > fr.il_w + 3.0)
        img[sept] = 0.7 * sc.fat
    return img


def _bone(img: np.ndarray, sc: ScannerParams, an: Anatomy, fr: _Frame, tex: np.ndarray):
    """Marrow, disc, cartilage, cortex and fat-filled sacral foramina; returns (img, cortex, foramen)."""
    bone_any = fr.sacrum | fr.ilium | fr.l5
    img = np.where(bone_any, sc.marrow * an.marrow_factor * (1.0 + tex) * np.where(fr.sacrum, 1.03, 1.0), img)
    img[fr.disc] = sc.disc
    cort = an.cortex_mm
    cortex = ((fr.sacrum & (fr.sac_inside < cort)) | (fr.ilium & (fr.il_inside < cort))
              | (fr.l5 & (fr.l5_inside < cort)))
    joint = (fr.d >= 0) & (fr.d < an.joint_gap_mm) & (fr.yc > fr.sac_top) & (fr.t < 1.08)
    img[joint] = sc.cartilage
    img[cortex] = sc.cortex
    # Sacral foramina: fat-filled (bright) rings around a dark nerve root.
    foramen = np.zeros(fr.shape, bool)
    j_top, j_bot = an.joint_top_mm, an.joint_bottom_mm
    for tf in (0.18, 0.42, 0.66):
        yf = j_top + tf * (j_bot - j_top)
        hwf = an.sacrum_half_top_mm + (an.sacrum_half_bottom_mm - an.sacrum_half_top_mm) * tf
        rf = 3.2 - 0.8 * tf
        ys = _window(fr.y1, yf - rf - 1, yf + rf + 1)
        for side in (-1, 1):
            xs = _window(fr.x1, side * 0.42 * hwf - rf - 1, side * 0.42 * hwf + rf + 1)
            r = np.sqrt((fr.xc[..., xs] - side * 0.42 * hwf) ** 2 + (fr.yc[:, ys] - yf) ** 2 + (fr.zc / 3.5) ** 2)
            box = (slice(None), ys, xs)
            ring = fr.sacrum[box] & (r < rf)
            foramen[box] |= ring
            img[box] = np.where(ring, sc.fat * 0.9, img[box])
            img[box] = np.where(fr.sacrum[box] & (r < 1.1), sc.muscle * 0.9, img[box])
    return img, cortex, foramen


def _side_window(fr: _Frame, side: int) -> slice:
    return _window(fr.x1, 0.0, np.inf) if side == 1 else _window(fr.x1, -np.inf, 0.0)


def _lesion_fat(lesions: tuple[Lesion, ...], an: Anatomy, fr: _Frame, marrow: dict, lesion_field: np.ndarray):
    """Fat fraction of the FM lesions and the reference mask; returns (fat_frac, mask).

    The fat fraction is a smooth sigmoid of the distance to the lesion's nominal border
    (width ``edge_mm``), lowered in patches by ``heterogeneity``; it is NOT clipped at the
    mask, so the blurred border is real in the image. The mask is the nominal extent, the
    lesion's shape level < 1, i.e. where the smooth (non-patchy) fat fraction exceeds 0.5 —
    the half-maximum contour a reader traces.
    """
    fat_frac = np.zeros(fr.shape, np.float32)
    mask = np.zeros(fr.shape, bool)
    j_top, j_bot = an.joint_top_mm, an.joint_bottom_mm
    for les in lesions:
        y0 = j_top + les.pos * (j_bot - j_top)
        box = (_window(fr.z1, les.z_mm - 1.3 * les.half_z_mm, les.z_mm + 1.3 * les.half_z_mm),
               _window(fr.y1, y0 - 1.3 * les.half_length_mm - 1, y0 + 1.3 * les.half_length_mm + 1),
               _side_window(fr, les.side))
        depth, allowed = marrow[les.bone]
        depth, allowed = depth[box], allowed[box]
        level = (((fr.yc[:, box[1]] - y0) / les.half_length_mm) ** 2 + (np.maximum(depth, 0) / les.depth_mm) ** 2
                 + ((fr.zc[box[0]] - les.z_mm) / les.half_z_mm) ** 2)
        field_ = lesion_field[box]
        level = level * (1.0 + 0.12 * field_)
        radius = min(les.half_length_mm, les.depth_mm)
        dist_in = (1.0 - np.sqrt(np.maximum(level, 0))) * radius  # ~mm inside the border
        f = _sigmoid(dist_in * 4.0 / max(les.edge_mm, 0.2))
        f = f * (1.0 - les.heterogeneity * _sigmoid(2.0 * field_ * field_ - 1.0))
        mask[box] |= allowed & (level < 1.0)
        fat_frac[box] = np.where(allowed, np.maximum(fat_frac[box], f), fat_frac[box])
    return fat_frac, mask


def _mimic_fat(fat_frac: np.ndarray, mimics: tuple[Mimic, ...], an: Anatomy, fr: _Frame, marrow: dict,
               mask: np.ndarray, lesion_field: np.ndarray) -> np.ndarray:
    """Add the unlabelled mimics (fatty islands, degenerative foci) to the fat fraction."""
    j_top, j_bot = an.joint_top_mm, an.joint_bottom_mm
    for mim in mimics:
        y0 = j_top + mim.pos * (j_bot - j_top)
        box = (_window(fr.z1, mim.z_mm - 2.0 * mim.radius_mm, mim.z_mm + 2.0 * mim.radius_mm),
               _window(fr.y1, y0 - 1.5 * mim.radius_mm - 1, y0 + 1.5 * mim.radius_mm + 1), _side_window(fr, mim.side))
        depth, allowed = marrow[mim.bone]
        depth, allowed = depth[box], allowed[box] & ~mask[box]
        r = np.sqrt(((fr.yc[:, box[1]] - y0) / mim.radius_mm) ** 2 + ((depth - mim.depth_mm) / mim.radius_mm) ** 2
                    + ((fr.zc[box[0]] - mim.z_mm) / (1.5 * mim.radius_mm)) ** 2)
        soft = 1.5 if mim.kind == "fatty_island" else 0.6
        patchy = _sigmoid(2.0 * lesion_field[box])
        f = mim.brightness * _sigmoid((1.0 - r) * mim.radius_mm * 4.0 / soft) * (1.0 - mim.heterogeneity * patchy)
        fat_frac[box] = np.where(allowed, np.maximum(fat_frac[box], f), fat_frac[box])
    return fat_frac


def _acquire(img: np.ndarray, sc: ScannerParams, fr: _Frame, rng: np.random.Generator) -> np.ndarray:
    """In-plane PSF, smooth multiplicative bias field and Rician noise."""
    from scipy.ndimage import gaussian_filter

    nz, ny, nx = fr.shape
    img = gaussian_filter(img.astype(np.float32), (0.0, sc.psf_sigma_px, sc.psf_sigma_px))
    u, v, w = fr.xc / (nx * sc.pixel_mm / 2), fr.yc / (ny * sc.pixel_mm / 2), fr.zc / max(nz * sc.slice_mm / 2, 1.0)
    coef = rng.standard_normal(6) / math.sqrt(6)
    poly = (coef[0] * u + coef[1] * v + 0.5 * coef[2] * w + coef[3] * u * v + coef[4] * (u * u - 0.3)
            + coef[5] * (v * v - 0.3))
    img = img * np.exp(sc.bias_strength * poly).astype(np.float32)
    n1 = rng.standard_normal(fr.shape, dtype=np.float32) * np.float32(sc.noise_sigma)
    n2 = rng.standard_normal(fr.shape, dtype=np.float32) * np.float32(sc.noise_sigma)
    return np.sqrt((img + n1) ** 2 + n2 ** 2).astype(np.float32)


def _world_geometry(sc: ScannerParams):
    """(spacing, direction, origin) in SimpleITK conventions, volume centred on ``center_lps``."""
    direction = direction_matrix(sc.tilt_deg, sc.roll_deg, sc.yaw_deg)
    spacing = (float(sc.pixel_mm), float(sc.pixel_mm), float(sc.slice_mm))
    half_extent = direction @ (np.array([sc.nx - 1, sc.ny - 1, sc.n_slices - 1], float) / 2 * np.array(spacing))
    origin = tuple(float(c) for c in np.asarray(sc.center_lps, float) - half_extent)
    return spacing, tuple(float(v) for v in direction.ravel()), origin


def make_phantom(params: PhantomParams, rng: np.random.Generator):
    """Render one semi-coronal T1 SIJ volume and its FM mask.

    Args:
        params: Scanner, anatomy, lesions and mimics of the patient.
        rng: Source of texture, boundary irregularity, bias field and noise.

    Returns:
        ``(image, fm_mask, spacing, direction, origin)``: ``image`` float32 and
        ``fm_mask`` uint8 {0, 1}, both indexed (z, y, x); ``spacing`` (x, y, z) in mm;
        ``direction`` the 9 row-major direction cosines; ``origin`` in LPS mm — all in
        SimpleITK conventions.
    """
    sc, an = params.scanner, params.anatomy
    fr = _layout(sc, an)
    px, dz = sc.pixel_mm, sc.slice_mm
    tex_field = _smooth_noise(rng, fr.shape, (3.0 / dz, 1.5 / px, 1.5 / px))
    lesion_field = _smooth_noise(rng, fr.shape, (3.0 / dz, 2.0 / px, 2.0 / px))
    muscle_field = _smooth_noise(rng, fr.shape, (0.4, 2.5 / px, 0.8 / px))  # striated along Y
    img = _soft_tissue(sc, an, fr, tex_field, muscle_field, rng)
    tex = 0.05 * tex_field + 0.035 * rng.standard_normal(fr.shape, dtype=np.float32)
    img, cortex, foramen = _bone(img, sc, an, fr, tex)
    marrow_il = fr.ilium & ~cortex
    marrow_sac = fr.sacrum & ~cortex & ~foramen
    # depth below the subchondral plate and where FM may grow, per bone
    marrow = {"ilium": (fr.d_il - an.cortex_mm, marrow_il), "sacrum": (-fr.d - an.cortex_mm, marrow_sac)}
    fat_frac, mask = _lesion_fat(params.lesions, an, fr, marrow, lesion_field)
    fat_frac = _mimic_fat(fat_frac, params.mimics, an, fr, marrow, mask, lesion_field)
    fm_level = sc.fat * sc.fm_fat_fraction
    img = np.where(marrow_il | marrow_sac, img * (1.0 - fat_frac) + fm_level * (1.0 + 0.02 * tex) * fat_frac, img)
    img = _acquire(img, sc, fr, rng)
    spacing, direction, origin = _world_geometry(sc)
    return img, mask.astype(np.uint8), spacing, direction, origin
