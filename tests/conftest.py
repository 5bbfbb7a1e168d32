"""Shared fixtures: small configs, the repository root, and the shared reference data."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The directory with the reference data (var_u.mat, mnist/), or None when absent.

    Looked up in $INFOPLANE_SHARED_DATA, then ../shared/data beside the repository.
    """
    env = os.environ.get("INFOPLANE_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


TINY_NETWORK_CONFIG = {
    "study": "tiny",
    "seeds": [0, 1],
    "dataset": {"name": "tishby_12bit"},
    "model": {"kind": "mlp", "widths": [6, 4], "activation": "tanh"},
    "training": {"epochs": 6, "batch_size": 256, "lr": 0.01, "checkpoint_every": 2},
    "record": {"num_epochs": 4, "spacing": "log"},
    "estimators": [{"name": "binning", "bins": 30, "range": [-1, 1]}],
}


@pytest.fixture
def tiny_config() -> dict:
    """A raw (unvalidated) tiny network-study config."""
    return copy.deepcopy(TINY_NETWORK_CONFIG)


@pytest.fixture
def repo() -> Path:
    return REPO
