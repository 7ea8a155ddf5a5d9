"""Write SIMULATED reader masks for the synthetic cohort's reader study.

Four simulated readings of every internal-test case: a resident and an expert, each
without the model (starting from scratch) and with it (starting from the model's mask).
The perturbation model is documented in :mod:`benchmarks.engine.reader_simulation`. These masks
are simulations, never real readers; the report labels them so.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

LOG = logging.getLogger(__name__)

from nnunet_fm.contract import READERS as SIMULATED_READERS


def write_simulated_readers(reference_dir: str, model_dir: str, out_root: str, seed: int) -> dict[str, Path]:
    """Simulate every reader on every reference case and write the masks.

    Args:
        reference_dir: Reference masks (``CASE.nii.gz``).
        model_dir: The model's masks for the same cases (same file names).
        out_root: Output root; one sub-folder per simulated reader.
        seed: Seed; each (reader, case) pair gets its own stream, so results do not
            depend on processing order.

    Returns:
        Reader name -> folder written.

    Raises:
        FileNotFoundError: A reference case has no model mask.
    """
    import SimpleITK as sitk

    from benchmarks.engine.reader_simulation import simulate_reader_mask
    from nnunet_fm.image_io import align_mask_to_image, read_image, voxel_spacing_zyx, write_image

    reference_dir, model_dir, out_root = Path(reference_dir), Path(model_dir), Path(out_root)
    references = sorted(reference_dir.glob("*.nii.gz"))
    if not references:
        raise FileNotFoundError(f"no reference masks in {reference_dir}")
    missing = [p.name for p in references if not (model_dir / p.name).exists()]
    if missing:
        raise FileNotFoundError(f"model masks missing in {model_dir} for: {', '.join(missing[:10])}")
    folders = {}
    for reader_index, (reader, (skill, assisted)) in enumerate(SIMULATED_READERS.items()):
        folder = out_root / reader
        folder.mkdir(parents=True, exist_ok=True)
        for case_index, ref_path in enumerate(references):
            ref_img = read_image(ref_path)
            model_img = align_mask_to_image(ref_img, read_image(model_dir / ref_path.name))
            rng = np.random.default_rng(np.random.SeedSequence([seed, reader_index, case_index]))
            mask = simulate_reader_mask(
                sitk.GetArrayFromImage(ref_img) > 0, sitk.GetArrayFromImage(model_img) > 0,
                voxel_spacing_zyx(ref_img), skill=skill, assisted=assisted, rng=rng,
            )
            out = sitk.GetImageFromArray(np.asarray(mask, dtype=np.uint8))
            out.CopyInformation(ref_img)
            write_image(out, folder / ref_path.name)
        folders[reader] = folder
        LOG.info("simulated reader %s: %d cases -> %s", reader, len(references), folder)
    return folders
