"""The inference gateway's Alembic chain."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from gyre.runtime.db import MigrationChain
from gyre.services.inference._orm import Base

__all__ = ["INFERENCE_MIGRATIONS"]

INFERENCE_MIGRATIONS: Final = MigrationChain(
    name="inference",
    script_location=str(Path(__file__).parent / "migrations"),
    version_table="gyre_inference_alembic_version",
    metadata=Base.metadata,
)
