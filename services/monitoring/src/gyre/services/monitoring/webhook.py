"""Webhook delivery of alerts: an HTTP POST of the alert as JSON, with retries.

Retries (tenacity) on connection errors, timeouts, 5xx and 429 answers, with
exponential backoff; other 4xx answers are final. Every attempt is recorded on the
alert (attempts, last HTTP status, last error, time) so ``GetAlert`` shows it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

__all__ = [
    "DEFAULT_WEBHOOK_ATTEMPTS",
    "DEFAULT_WEBHOOK_TIMEOUT_S",
    "AttemptResult",
    "WebhookSender",
]

_log = logging.getLogger(__name__)

#: Attempts per alert (the first included), and the per-attempt timeout in seconds.
DEFAULT_WEBHOOK_ATTEMPTS: Final = 5
DEFAULT_WEBHOOK_TIMEOUT_S: Final = 5.0
_WAIT_INITIAL_S: Final = 0.2
_WAIT_MAX_S: Final = 10.0


@dataclass(frozen=True)
class AttemptResult:
    """The outcome of one POST."""

    attempt: int
    http_status: int
    error: str
    delivered: bool
    final: bool


class _Retryable(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class _Permanent(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class WebhookSender:
    """POSTs JSON payloads with retries.

    Args:
        attempts: attempts per delivery.
        timeout_s: per-attempt timeout.
        wait_initial_s, wait_max_s: exponential backoff bounds between attempts.
    """

    def __init__(
        self,
        *,
        attempts: int = DEFAULT_WEBHOOK_ATTEMPTS,
        timeout_s: float = DEFAULT_WEBHOOK_TIMEOUT_S,
        wait_initial_s: float = _WAIT_INITIAL_S,
        wait_max_s: float = _WAIT_MAX_S,
    ) -> None:
        self.attempts = attempts
        self._timeout_s = timeout_s
        self._wait_initial_s = wait_initial_s
        self._wait_max_s = wait_max_s
        self._client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def deliver(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        on_attempt: Callable[[AttemptResult], Awaitable[None]],
    ) -> bool:
        """POST ``payload`` to ``url`` until a 2xx or the last attempt.

        ``on_attempt`` is awaited after every attempt (to record it). Returns whether
        the payload was delivered.
        """
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        client = self._client
        attempt_no = 0

        async def once() -> None:
            nonlocal attempt_no
            attempt_no += 1
            try:
                response = await client.post(url, json=payload)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
                await on_attempt(
                    AttemptResult(attempt_no, 0, error, False, attempt_no >= self.attempts)
                )
                raise _Retryable(0, error) from exc
            status = response.status_code
            if 200 <= status < 300:
                await on_attempt(AttemptResult(attempt_no, status, "", True, True))
                return
            error = f"HTTP {status}"
            retry = status >= 500 or status == 429
            final = not retry or attempt_no >= self.attempts
            await on_attempt(AttemptResult(attempt_no, status, error, False, final))
            if retry:
                raise _Retryable(status, error)
            raise _Permanent(status, error)

        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, _Retryable)),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self._wait_initial_s, max=self._wait_max_s),
            reraise=False,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await once()
        except (RetryError, _Permanent) as exc:
            _log.warning("webhook delivery to %s failed: %s", url, exc)
            return False
        return True
