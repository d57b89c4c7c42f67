"""Where each Gyre service listens, and how a client finds it.

A service's address is resolved, first match wins, from:

1. an explicit ``address`` given in code;
2. the environment variable ``GYRE_<SERVICE>_ADDRESS`` (e.g.
   ``GYRE_DATA_REGISTRY_ADDRESS=10.0.0.5:50051``);
3. ``<GYRE_HOME>/stack.json``, written by ``gyre up`` (its ``"services"`` object maps
   a service key to its ``host:port``);
4. ``127.0.0.1:<default port>``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATA_REGISTRY",
    "INFERENCE",
    "MODEL_REGISTRY",
    "MONITORING",
    "SERVICES",
    "STACK_FILE",
    "TRAINING",
    "VALIDATION",
    "ServiceInfo",
    "gyre_home",
    "resolve_address",
    "service_by_key",
]

STACK_FILE = "stack.json"
DEFAULT_HOME = ".gyre"


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """Static facts about one Gyre service.

    Attributes:
        key: Identifier used in settings, environment variables and ``stack.json``
            (``"data_registry"``).
        title: Name for people (``"data registry"``).
        grpc_service: Fully-qualified gRPC service name, as used by health checks
            and reflection (``"gyre.data.v1.DataRegistryService"``).
        default_port: gRPC port of the local stack.
    """

    key: str
    title: str
    grpc_service: str
    default_port: int

    @property
    def env_var(self) -> str:
        """Environment variable that overrides the address, e.g. ``GYRE_DATA_REGISTRY_ADDRESS``."""
        return f"GYRE_{self.key.upper()}_ADDRESS"


DATA_REGISTRY = ServiceInfo(
    "data_registry", "data registry", "gyre.data.v1.DataRegistryService", 50051
)
TRAINING = ServiceInfo("training", "training scheduler", "gyre.training.v1.TrainingService", 50052)
MODEL_REGISTRY = ServiceInfo(
    "model_registry", "model registry", "gyre.models.v1.ModelRegistryService", 50053
)
VALIDATION = ServiceInfo(
    "validation", "validation gate", "gyre.validation.v1.ValidationService", 50054
)
INFERENCE = ServiceInfo(
    "inference", "inference gateway", "gyre.inference.v1.InferenceService", 50055
)
MONITORING = ServiceInfo("monitoring", "monitor", "gyre.monitoring.v1.MonitoringService", 50056)

SERVICES: tuple[ServiceInfo, ...] = (
    DATA_REGISTRY,
    TRAINING,
    MODEL_REGISTRY,
    VALIDATION,
    INFERENCE,
    MONITORING,
)


def service_by_key(key: str) -> ServiceInfo:
    """The :class:`ServiceInfo` for ``key``.

    Raises:
        KeyError: ``key`` names no Gyre service.
    """
    for info in SERVICES:
        if info.key == key:
            return info
    raise KeyError(f"unknown Gyre service {key!r}; known: {', '.join(s.key for s in SERVICES)}")


def gyre_home() -> Path:
    """The Gyre state directory: ``$GYRE_HOME`` or ``./.gyre``."""
    return Path(os.environ.get("GYRE_HOME", DEFAULT_HOME))


def _from_stack_file(home: Path, key: str) -> str | None:
    try:
        data = json.loads((home / STACK_FILE).read_text())
    except (OSError, ValueError):
        return None
    services = data.get("services") if isinstance(data, dict) else None
    if isinstance(services, dict):
        value = services.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict) and isinstance(value.get("address"), str):
            return str(value["address"])
    return None


def resolve_address(
    info: ServiceInfo, *, address: str | None = None, home: Path | None = None
) -> str:
    """The ``host:port`` a client should dial for ``info`` (see the module docstring)."""
    if address:
        return address
    from_env = os.environ.get(info.env_var)
    if from_env:
        return from_env
    from_stack = _from_stack_file(home if home is not None else gyre_home(), info.key)
    if from_stack:
        return from_stack
    return f"127.0.0.1:{info.default_port}"
