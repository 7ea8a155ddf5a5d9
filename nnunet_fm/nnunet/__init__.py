"""nnU-Net v2 wrapper: environment, profiles, planning, training and prediction.

Everything here drives nnunetv2 through its Python API. Run nnU-Net work inside
:func:`nnunet_fm.nnunet.environment.nnunet_workspace`, which sets nnU-Net's variables
(and the module copies nnunetv2 made of them) for the block only; the submodules
import nnunetv2 lazily, inside functions.
"""
