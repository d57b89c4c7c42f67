"""Where the shared public datasets live for tests (never copied into the repo).

``../shared/datasets/`` beside the checkout holds Elec2 (``electricity.csv``) and
bank-marketing (``bank-marketing.csv``); see its README. ``GYRE_DATASETS_DIR``
overrides the location. Tests that need a file call :func:`dataset_path`, which
skips the test with the reason when the file is nowhere to be found.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

ELECTRICITY = "electricity.csv"
BANK_MARKETING = "bank-marketing.csv"


def datasets_dir() -> Path | None:
    """The first existing candidate directory, or None."""
    candidates = []
    if os.environ.get("GYRE_DATASETS_DIR"):
        candidates.append(Path(os.environ["GYRE_DATASETS_DIR"]))
    candidates += [REPO_ROOT.parent / "shared" / "datasets", Path("/work/shared/datasets")]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def dataset_path(name: str) -> Path:
    """Path of the shared dataset file ``name``; skips the calling test when absent."""
    base = datasets_dir()
    if base is None or not (base / name).is_file():
        pytest.skip(f"shared dataset {name} not found (set GYRE_DATASETS_DIR)")
    return base / name
