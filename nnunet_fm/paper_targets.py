"""The study's published target values, read from ``paper_targets.yaml``."""

from __future__ import annotations

from importlib import resources
from typing import Any


def load_paper_targets() -> dict[str, Any]:
    """Return the paper's headline numbers as a nested dict (see ``paper_targets.yaml``)."""
    import yaml

    text = resources.files("nnunet_fm").joinpath("paper_targets.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)
