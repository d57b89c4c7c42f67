"""Adapter over the Ray Jobs API (``ray.job_submission.JobSubmissionClient``).

Every call runs in a worker thread (the client is blocking HTTP) and Ray's errors
become Gyre errors here: an unreachable dashboard is ``Unavailable``, a job id Ray
does not know is ``None`` / ``NotFound``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gyre.runtime.errors import InvalidArgument, NotFound, Unavailable

__all__ = ["TERMINAL_STATUSES", "JobInfo", "RayJobs", "token_headers"]

TERMINAL_STATUSES: Final = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
# Where Ray keeps the cluster's token when token authentication is on (Ray >= 2.52).
DEFAULT_TOKEN_PATH: Final = Path.home() / ".ray" / "auth_token"


def token_headers(token_file: str | Path | None = None) -> dict[str, str]:
    """The bearer header for a Ray cluster with token authentication.

    The token comes from ``token_file``, else ``$RAY_AUTH_TOKEN``, else the file named
    by ``$RAY_AUTH_TOKEN_PATH`` (what ``gyre up`` sets), else ``~/.ray/auth_token``;
    no header when none exists (a cluster with authentication off).
    """
    if token_file:
        return {"Authorization": f"Bearer {Path(token_file).read_text().strip()}"}
    if os.environ.get("RAY_AUTH_TOKEN"):
        return {"Authorization": f"Bearer {os.environ['RAY_AUTH_TOKEN'].strip()}"}
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or DEFAULT_TOKEN_PATH)
    if path.is_file():
        return {"Authorization": f"Bearer {path.read_text().strip()}"}
    return {}


@dataclass(frozen=True)
class JobInfo:
    """What Ray says about one job."""

    status: str
    message: str

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class RayJobs:
    """Submit, watch, stop and read the logs of Ray jobs.

    Args:
        address: the Ray dashboard URL (``settings.ray.address``).
        headers: HTTP headers, e.g. :func:`token_headers`.
    """

    def __init__(self, address: str, *, headers: Mapping[str, str] | None = None) -> None:
        self.address = address
        self._headers = dict(headers or {})
        self._client: Any = None
        self._lock = threading.Lock()

    def _jobs(self) -> Any:
        with self._lock:
            if self._client is None:
                from ray.job_submission import JobSubmissionClient

                try:
                    self._client = JobSubmissionClient(self.address, headers=self._headers)
                except Exception as exc:
                    raise Unavailable(
                        f"cannot reach the Ray cluster at {self.address}: {exc}",
                        reason="RAY_UNAVAILABLE",
                    ) from exc
            return self._client

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        def call() -> Any:
            return getattr(self._jobs(), name)(*args, **kwargs)

        return await asyncio.to_thread(call)

    async def submit(
        self,
        submission_id: str,
        *,
        entrypoint: str,
        env_vars: Mapping[str, str],
        num_cpus: float,
        num_gpus: float = 0.0,
        memory_bytes: int = 0,
        pip: list[str] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Submit a job under ``submission_id``; a job that already exists is left alone.

        Raises:
            Unavailable: the cluster cannot be reached.
            InvalidArgument: Ray refused the request (e.g. a malformed runtime env).
        """
        runtime_env: dict[str, Any] = {"env_vars": dict(env_vars)}
        if pip:
            runtime_env["pip"] = list(pip)
        kwargs: dict[str, Any] = {
            "entrypoint": entrypoint,
            "submission_id": submission_id,
            "runtime_env": runtime_env,
            "entrypoint_num_cpus": num_cpus,
            "metadata": dict(metadata or {}),
        }
        if num_gpus:
            kwargs["entrypoint_num_gpus"] = num_gpus
        if memory_bytes:
            kwargs["entrypoint_memory"] = int(memory_bytes)
        try:
            await self._call("submit_job", **kwargs)
        except Unavailable:
            raise
        except Exception as exc:
            text = str(exc)
            if "already exists" in text.lower():
                return
            if _is_connection_error(exc):
                raise Unavailable(f"Ray job submission failed: {text}") from exc
            raise InvalidArgument(f"Ray refused the job: {text}", reason="RAY_REJECTED") from exc

    async def info(self, submission_id: str) -> JobInfo | None:
        """Status and message of a job; ``None`` when Ray does not know it.

        Raises:
            Unavailable: the cluster cannot be reached.
        """
        try:
            details = await self._call("get_job_info", submission_id)
        except Unavailable:
            raise
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise Unavailable(f"cannot read Ray job {submission_id}: {exc}") from exc
        status = getattr(details.status, "value", str(details.status))
        return JobInfo(status=str(status), message=str(details.message or ""))

    async def stop(self, submission_id: str) -> None:
        """Ask Ray to stop a job (no-op for a finished or unknown job)."""
        try:
            await self._call("stop_job", submission_id)
        except Unavailable:
            raise
        except Exception as exc:
            if _is_not_found(exc):
                return
            raise Unavailable(f"cannot stop Ray job {submission_id}: {exc}") from exc

    async def logs(self, submission_id: str) -> str:
        """The job's whole log (driver stdout and stderr).

        Raises:
            NotFound: Ray does not know the job.
            Unavailable: the cluster cannot be reached.
        """
        try:
            return str(await self._call("get_job_logs", submission_id))
        except Unavailable:
            raise
        except Exception as exc:
            if _is_not_found(exc):
                raise NotFound(f"Ray has no job {submission_id}") from exc
            raise Unavailable(f"cannot read the logs of Ray job {submission_id}: {exc}") from exc

    async def cluster_resources(self) -> dict[str, float]:
        """Total resources of the largest node is not exposed by the Jobs API; this is
        left for callers that connect with ``ray.init`` (unused by the scheduler)."""
        return {}


def _is_not_found(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "does not exist" in text or "not found" in text or "404" in text


def _is_connection_error(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(
        marker in text for marker in ("connection", "timed out", "timeout", "unreachable", "503")
    )
