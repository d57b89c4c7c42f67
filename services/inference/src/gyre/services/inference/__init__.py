"""Gyre inference gateway: deployments on NVIDIA Triton with champion / canary /
shadow routing, SLO-judged rollouts, prediction logging and feedback.

``gyre.services.inference.app.running(settings)`` runs the whole service in the
caller's event loop; ``gyre-inference`` (``__main__``) runs it as a process.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

__all__ = ["STACK_SERVICE"]

#: What ``gyre up`` needs to start this service (the ``gyre.services`` entry point).
STACK_SERVICE = SimpleNamespace(
    name="inference",
    command=[sys.executable, "-m", "gyre.services.inference"],
    default_port=50055,
    health_service="gyre.inference.v1.InferenceService",
)
