"""Gyre monitoring service: streaming drift detection, live performance, alerts.

See ``docs/monitoring.md``. The process: ``gyre-monitoring``; in-process:
``gyre.services.monitoring.app.running(settings)``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

__all__ = ["STACK_SERVICE", "StackService"]


@dataclass(frozen=True)
class StackService:
    """How ``gyre up`` runs the monitor (the ``gyre.services`` entry point)."""

    name: str = "monitoring"
    command: tuple[str, ...] = field(
        default_factory=lambda: (sys.executable, "-m", "gyre.services.monitoring")
    )
    default_port: int = 50056
    port_env: str = "GYRE_SERVER__PORT"
    health_service: str = "gyre.monitoring.v1.MonitoringService"


STACK_SERVICE = StackService()
