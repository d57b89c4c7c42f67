"""Gyre validation gate: blesses or rejects each candidate model version on held-out data
it evaluates itself, against per-model policies and the current champion.

Run it with ``gyre-validation`` (or ``gyre up``); embed it with
:func:`gyre.services.validation.app.running`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Final

__all__ = ["STACK_SERVICE", "StackService"]


@dataclass(frozen=True)
class StackService:
    """How ``gyre up`` runs this service (the ``gyre.services`` entry point)."""

    name: str = "validation"
    command: tuple[str, ...] = field(
        default_factory=lambda: (sys.executable, "-m", "gyre.services.validation")
    )
    default_port: int = 50054
    health_service: str = "gyre.validation.v1.ValidationService"


STACK_SERVICE: Final = StackService()
