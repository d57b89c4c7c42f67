"""Where a CLI command finds the stack's NATS: the environment, else the stack's
``stack.json``, else the default."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gyre.runtime.settings import GyreSettings, NatsSettings

__all__ = ["stack_nats_settings"]


def stack_nats_settings(home: Path | None = None) -> NatsSettings:
    """NATS settings for tools: ``GYRE_NATS__*`` when ``GYRE_NATS__URL`` is set, else the
    URL recorded in ``<home>/stack.json`` by ``gyre up`` (``home`` defaults to
    ``$GYRE_HOME`` or ``./.gyre``), else ``nats://127.0.0.1:4222`` — the same order in
    which the SDK finds the services, so ``gyre events tail`` and ``gyre demo`` watch
    the stack that ``gyre data ls`` talks to."""
    settings = GyreSettings()
    nats = settings.nats
    if "GYRE_NATS__URL" in os.environ:
        return nats
    try:
        data = json.loads(((home or settings.home) / "stack.json").read_text())
    except (OSError, ValueError):
        return nats
    endpoints = data.get("endpoints") if isinstance(data, dict) else None
    if isinstance(endpoints, dict) and isinstance(endpoints.get("nats"), str):
        return nats.model_copy(update={"url": endpoints["nats"]})
    return nats
