"""nnU-Net trainer subclasses used by the profiles.

They are instantiated directly (never looked up by name: nnU-Net's lookup imports its
``primus`` trainers, which need torchvision). Schedules are class defaults that
:func:`nnunet_fm.nnunet.training.train_fold` may override on the instance before
``initialize()`` (nnU-Net builds the optimizer and poly schedule there).

Import this module only inside :func:`nnunet_fm.nnunet.environment.nnunet_workspace`.
"""

from __future__ import annotations

import logging

from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

LOG = logging.getLogger(__name__)


class _FMTrainerMixin:
    """Shared behaviour: per-epoch log lines, quiet console, optional lighter augmentation."""

    #: Drop Gaussian blur and low-resolution simulation (the costliest CPU augmentations).
    light_augmentation: bool = False
    #: Write the progress plot every N epochs and after the last one; ``None`` = after the
    #: last epoch only (matplotlib costs ~0.3-1.2 s per plot on a 2-core CPU).
    plot_every: int | None = 10

    def print_to_log_file(self, *args, also_print_to_console=True, add_timestamp=True):
        # nnU-Net's console output goes to its log file only; we log one line per epoch.
        super().print_to_log_file(*args, also_print_to_console=False, add_timestamp=add_timestamp)

    def on_epoch_end(self):
        epoch = self.current_epoch
        log = self.logger
        last = epoch == self.num_epochs - 1
        if not last and (self.plot_every is None or (epoch + 1) % self.plot_every != 0):
            log.plot_progress_png = lambda *args, **kwargs: None  # instance attribute shadows the method
            try:
                super().on_epoch_end()
            finally:
                del log.plot_progress_png
        else:
            super().on_epoch_end()
        seconds = log.get_value("epoch_end_timestamps", step=-1) - log.get_value("epoch_start_timestamps", step=-1)
        LOG.info("fold %s epoch %d/%d: train loss %.4f, val loss %.4f, pseudo Dice %s, lr %.5f, %.1f s",
                 self.fold, epoch + 1, self.num_epochs, log.get_value("train_losses", step=-1),
                 log.get_value("val_losses", step=-1),
                 [round(float(x), 4) for x in log.get_value("dice_per_class_or_region", step=-1)],
                 log.get_value("lrs", step=-1), seconds)

    def get_dataloaders(self):
        if self.light_augmentation:
            original = self.get_training_transforms

            def lighter(*args, **kwargs):
                return _drop_costly_transforms(original(*args, **kwargs))

            self.get_training_transforms = lighter
            try:
                return super().get_dataloaders()
            finally:
                del self.get_training_transforms
        return super().get_dataloaders()


def _drop_costly_transforms(compose):
    # The same classes nnU-Net's trainer module builds its pipeline from.
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import (GaussianBlurTransform, RandomTransform,
                                                               SimulateLowResolutionTransform)

    costly = (GaussianBlurTransform, SimulateLowResolutionTransform)
    compose.transforms = [t for t in compose.transforms
                          if not (isinstance(t, RandomTransform) and isinstance(t.transform, costly))]
    return compose


class nnUNetTrainerFMQuick(_FMTrainerMixin, nnUNetTrainer):
    """Short CPU schedule for the ``quick`` profile; never compiles; one progress plot at the end.

    Measured (cProfile, one quick fold, 4 x 10 iterations, 2-core CPU at load ~1.5):
    forward/backward 10.2 s of 18.6 s, batch loading + augmentation 0.7 s, validation
    0.2 s, checkpoint writes 0.03 s each, a progress plot 1.2 s; the rest is start-up.
    """

    light_augmentation = True
    plot_every = None

    def __init__(self, plans, configuration, fold, dataset_json, device=None):
        import torch

        super().__init__(plans, configuration, fold, dataset_json,
                         device if device is not None else torch.device("cpu"))
        self.num_epochs = 20
        self.num_iterations_per_epoch = 25
        self.num_val_iterations_per_epoch = 2
        self.save_every = 1

    #: ``sgd`` (nnU-Net's SGD, momentum 0.99, Nesterov) or ``adamw`` (as nnU-Net's own
    #: ``nnUNetTrainerAdam`` variant): AdamW leaves the all-background start far sooner on
    #: the short CPU schedule.
    optimizer_name: str = "sgd"

    def _do_i_compile(self):
        return False

    def configure_optimizers(self):
        if self.optimizer_name == "sgd":
            return super().configure_optimizers()
        if self.optimizer_name != "adamw":
            raise ValueError(f"unknown optimizer {self.optimizer_name!r}; use 'sgd' or 'adamw'")
        import torch
        from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler

        optimizer = torch.optim.AdamW(self.network.parameters(), lr=self.initial_lr,
                                      weight_decay=self.weight_decay, amsgrad=True)
        return optimizer, PolyLRScheduler(optimizer, self.initial_lr, self.num_epochs)


class nnUNetTrainerFMPaper(_FMTrainerMixin, nnUNetTrainer):
    """nnU-Net's default training (1000 x 250 iterations); epochs may be bounded for timing."""

    plot_every = 50

    def __init__(self, plans, configuration, fold, dataset_json, device=None):
        import torch

        super().__init__(plans, configuration, fold, dataset_json,
                         device if device is not None else torch.device("cuda"))
        self.save_every = 10


#: Trainers by class name (what nnU-Net stores in checkpoints as ``trainer_name``).
TRAINERS = {cls.__name__: cls for cls in (nnUNetTrainerFMQuick, nnUNetTrainerFMPaper, nnUNetTrainer)}


def trainer_class(name: str):
    """Trainer class by name, without nnU-Net's package-walking lookup.

    Raises:
        ValueError: Unknown trainer name.
    """
    try:
        return TRAINERS[name]
    except KeyError:
        raise ValueError(f"unknown trainer {name!r}; known: {sorted(TRAINERS)}") from None


__all__ = ["nnUNetTrainerFMQuick", "nnUNetTrainerFMPaper", "TRAINERS", "trainer_class"]
