"""Gyre model registry: registered models, versions with status, aliases with history,
lineage, model cards and sha256-verified artifacts.

Run it with ``gyre-model-registry`` (or ``gyre up``); embed it with
:func:`gyre.services.model_registry.app.running`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Final

__all__ = ["STACK_SERVICE", "StackService"]


@dataclass(frozen=True)
class StackService:
    """How ``gyre up`` runs this service (the ``gyre.services`` entry point)."""

    name: str = "model_registry"
    command: tuple[str, ...] = field(
        default_factory=lambda: (sys.executable, "-m", "gyre.services.model_registry")
    )
    default_port: int = 50053
    health_service: str = "gyre.models.v1.ModelRegistryService"


STACK_SERVICE: Final = StackService()
