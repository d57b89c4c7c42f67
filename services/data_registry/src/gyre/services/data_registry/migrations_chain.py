"""The data registry's Alembic migration chain."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from gyre.runtime.db import MigrationChain
from gyre.services.data_registry.tables import DataBase

__all__ = ["DATA_REGISTRY_MIGRATIONS"]

DATA_REGISTRY_MIGRATIONS: Final = MigrationChain(
    name="data-registry",
    script_location=str(Path(__file__).parent / "migrations"),
    version_table="gyre_data_registry_alembic_version",
    metadata=DataBase.metadata,
)
