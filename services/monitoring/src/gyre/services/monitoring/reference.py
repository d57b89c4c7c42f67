"""Finding a deployment version's reference profile and baseline metrics.

The reference of ``(deployment, model version)`` is the policy's
``reference_dataset_version`` when set (so the monitor works without the model
registry); otherwise the model registry's ``GetModelVersion`` names the training
dataset version. Its profile comes from the data registry's ``GetDatasetVersion``.
Monitored features: the policy's ``features``, else the model version's signature
inputs (when the registry answered), else every profiled column but the target.

Results are cached per (dataset version, features); a failed lookup is not retried
for ``retry_after`` so that a missing peer costs one call per interval, not one per
logged record.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Final

from gyre.data.v1 import data_service_pb2, dataset_pb2
from gyre.models.v1 import model_version_pb2, models_service_pb2
from gyre.sdk.errors import GyreError
from gyre.services.monitoring.drift import Reference

__all__ = ["DEFAULT_RETRY_AFTER_S", "ReferenceResolver", "ReferenceUnavailable"]

_log = logging.getLogger(__name__)

#: Seconds before a failed reference lookup is tried again.
DEFAULT_RETRY_AFTER_S: Final = 30.0
_READY_STATES: Final = frozenset(
    {dataset_pb2.DATASET_VERSION_STATE_READY, dataset_pb2.DATASET_VERSION_STATE_UNSPECIFIED}
)


class ReferenceUnavailable(Exception):
    """No reference profile can be had (yet) for a deployment version."""


@dataclass
class _Failure:
    reason: str
    until: float


class ReferenceResolver:
    """Resolves and caches references and registry baselines.

    Args:
        client: an ``AsyncGyreClient`` (or anything with ``.data.GetDatasetVersion``
            and ``.models.GetModelVersion``); ``None`` means no peers (only explicit
            policy references that were preloaded work).
        retry_after_s: seconds a failed lookup is remembered.
    """

    def __init__(self, client: Any, *, retry_after_s: float = DEFAULT_RETRY_AFTER_S) -> None:
        self._client = client
        self._retry_after_s = retry_after_s
        self._versions: dict[str, model_version_pb2.ModelVersion] = {}
        self._datasets: dict[str, dataset_pb2.DatasetVersion] = {}
        self._references: dict[tuple[str, tuple[str, ...]], Reference] = {}
        self._failures: dict[str, _Failure] = {}

    def add_dataset_version(self, version: dataset_pb2.DatasetVersion) -> None:
        """Preload a dataset version (tests, or a profile obtained another way)."""
        self._datasets[version.name] = version

    def forget(self) -> None:
        """Drop every cached failure (e.g. after a policy change)."""
        self._failures.clear()

    def last_failure(self, key: str) -> str:
        """Why the last lookup of ``key`` failed, if it did."""
        failure = self._failures.get(key)
        return failure.reason if failure else ""

    async def _guarded(self, key: str, call: Any) -> Any:
        failure = self._failures.get(key)
        if failure is not None and failure.until > time.monotonic():
            raise ReferenceUnavailable(failure.reason)
        if self._client is None:
            reason = f"{key}: no peer client configured"
            self._failures[key] = _Failure(reason, time.monotonic() + self._retry_after_s)
            raise ReferenceUnavailable(reason)
        try:
            result = await call()
        except (GyreError, OSError, RuntimeError) as exc:
            reason = f"{key}: {exc}"
            _log.warning("reference lookup failed: %s", reason)
            self._failures[key] = _Failure(reason, time.monotonic() + self._retry_after_s)
            raise ReferenceUnavailable(reason) from exc
        self._failures.pop(key, None)
        return result

    async def model_version(self, name: str) -> model_version_pb2.ModelVersion:
        """The registry's model version (cached; versions are immutable where it matters).

        Raises:
            ReferenceUnavailable: the registry is unreachable or does not know it.
        """
        cached = self._versions.get(name)
        if cached is not None:
            return cached

        async def call() -> model_version_pb2.ModelVersion:
            response = await self._client.models.GetModelVersion(
                models_service_pb2.GetModelVersionRequest(name=name)
            )
            version: model_version_pb2.ModelVersion = response.model_version
            return version

        version: model_version_pb2.ModelVersion = await self._guarded(name, call)
        self._versions[name] = version
        return version

    async def dataset_version(self, name: str) -> dataset_pb2.DatasetVersion:
        """The data registry's dataset version, once profiled (cached).

        Raises:
            ReferenceUnavailable: unreachable, unknown, still profiling, failed or
                without profiles.
        """
        cached = self._datasets.get(name)
        if cached is not None:
            return cached

        async def call() -> dataset_pb2.DatasetVersion:
            response = await self._client.data.GetDatasetVersion(
                data_service_pb2.GetDatasetVersionRequest(name=name)
            )
            version: dataset_pb2.DatasetVersion = response.dataset_version
            return version

        version: dataset_pb2.DatasetVersion = await self._guarded(name, call)
        if version.state not in _READY_STATES or not version.column_profiles:
            state = dataset_pb2.DatasetVersionState.Name(version.state)
            reason = f"{name}: not profiled (state {state})"
            self._failures[name] = _Failure(reason, time.monotonic() + self._retry_after_s)
            raise ReferenceUnavailable(reason)
        self._datasets[version.name] = version
        self._datasets[name] = version
        return version

    async def resolve(
        self, model_version: str, *, reference_dataset_version: str, features: tuple[str, ...]
    ) -> Reference:
        """The reference of a model version under a policy (see the module docstring).

        Raises:
            ReferenceUnavailable: it cannot be had now.
        """
        dataset_name = reference_dataset_version
        wanted = features
        if not dataset_name or not wanted:
            try:
                version = await self.model_version(model_version)
            except ReferenceUnavailable:
                if not dataset_name:
                    raise
            else:
                dataset_name = dataset_name or version.dataset_version
                if not wanted:
                    wanted = tuple(spec.name for spec in version.signature.inputs)
        if not dataset_name:
            raise ReferenceUnavailable(
                f"{model_version}: the model version names no dataset version; set the "
                "policy's reference_dataset_version"
            )
        key = (dataset_name, wanted)
        cached = self._references.get(key)
        if cached is not None:
            return cached
        dataset = await self.dataset_version(dataset_name)
        reference = Reference.from_dataset_version(dataset, features=wanted)
        if not reference.features:
            raise ReferenceUnavailable(f"{dataset_name}: none of the features is profiled")
        self._references[key] = reference
        return reference

    async def registry_baseline(self, model_version: str) -> dict[str, float]:
        """The metrics the registry holds for a version (informational training metrics;
        used only when no validation baseline was received). Empty when unavailable."""
        try:
            version = await self.model_version(model_version)
        except ReferenceUnavailable:
            return {}
        return {m.name: m.value for m in version.metrics}
