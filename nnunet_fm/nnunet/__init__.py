"""nnU-Net v2 wrapper: environment, profiles, planning, training and prediction.

Everything here drives nnunetv2 through its Python API. Import order matters: call
:func:`nnunet_fm.nnunet.environment.apply_environment` before anything imports
``nnunetv2`` (the submodules import nnunetv2 lazily, inside functions).
"""
