"""Gyre data registry: content-addressed, de-duplicated dataset versions in S3, with
schema, profiles, leak-free splits, diff and verified pull.

``gyre.services.data_registry.app.running(settings)`` runs it in-process;
``STACK_SERVICE`` tells ``gyre up`` how to start it.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

__all__ = ["STACK_SERVICE"]

STACK_SERVICE = SimpleNamespace(
    name="data_registry",
    command=[sys.executable, "-m", "gyre.services.data_registry"],
    default_port=50051,
)
