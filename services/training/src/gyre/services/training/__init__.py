"""Gyre training scheduler: runs and sweeps on Ray, experiment tracking, ONNX packaging,
and continuous-training triggers.

See ``docs/training.md``. The process: ``gyre-training``; in-process:
``gyre.services.training.app.running(settings)``; the Ray job entrypoint:
``python -m gyre.services.training.worker``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

__all__ = ["STACK_SERVICE", "StackService"]


@dataclass(frozen=True)
class StackService:
    """How ``gyre up`` runs the training scheduler (the ``gyre.services`` entry point)."""

    name: str = "training"
    command: tuple[str, ...] = field(
        default_factory=lambda: (sys.executable, "-m", "gyre.services.training")
    )
    default_port: int = 50052
    port_env: str = "GYRE_SERVER__PORT"
    health_service: str = "gyre.training.v1.TrainingService"


STACK_SERVICE = StackService()
