"""The model registry's migration chain (run with the runtime's at start-up)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from gyre.runtime.db import MigrationChain
from gyre.services.model_registry.tables import Base

__all__ = ["MIGRATIONS"]

MIGRATIONS: Final = MigrationChain(
    name="model-registry",
    script_location=str(Path(__file__).parent / "migrations"),
    version_table="gyre_model_registry_alembic_version",
    metadata=Base.metadata,
)
