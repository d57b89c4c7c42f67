"""Presigned-URL transfers with the standard library: one keep-alive connection per
thread and host, a few retries on connection errors and 5xx answers."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from typing import Final

from gyre.sdk.errors import Unavailable

__all__ = ["get", "get_to_file", "put"]

_ATTEMPTS: Final = 4
_TIMEOUT_S: Final = 60.0
_local = threading.local()


def _connection(url: urllib.parse.SplitResult) -> http.client.HTTPConnection:
    pool: dict[tuple[str, str], http.client.HTTPConnection] = getattr(_local, "pool", None) or {}
    _local.pool = pool
    key = (url.scheme, url.netloc)
    conn = pool.get(key)
    if conn is None:
        cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = cls(url.netloc, timeout=_TIMEOUT_S)
        pool[key] = conn
    return conn


def _drop(url: urllib.parse.SplitResult) -> None:
    pool: dict[tuple[str, str], http.client.HTTPConnection] = getattr(_local, "pool", None) or {}
    conn = pool.pop((url.scheme, url.netloc), None)
    if conn is not None:
        conn.close()


def _request(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> bytes:
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    last: Exception | None = None
    for attempt in range(_ATTEMPTS):
        conn = _connection(parts)
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            _drop(parts)
            last = exc
            time.sleep(0.1 * 2**attempt)
            continue
        if response.status >= 500:
            last = Unavailable(f"{method} {parts.netloc}: HTTP {response.status}")
            time.sleep(0.1 * 2**attempt)
            continue
        if response.status >= 300:
            raise Unavailable(
                f"{method} {parts.netloc}{parts.path}: HTTP {response.status}: {data[:300]!r}"
            )
        return data
    raise Unavailable(f"{method} {parts.netloc}{parts.path} failed: {last}") from last


def put(url: str, body: bytes, headers: dict[str, str] | None = None) -> None:
    """PUT ``body`` to a presigned URL."""
    _request("PUT", url, body, {**(headers or {}), "Content-Length": str(len(body))})


def get(url: str) -> bytes:
    """GET a presigned URL's body (small objects: chunks)."""
    return _request("GET", url, None, {})


def get_to_file(url: str, path: str, *, block: int = 1 << 20) -> tuple[str, int]:
    """Stream a presigned URL's body to ``path``; (sha256 hex, size)."""
    import hashlib

    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    last: Exception | None = None
    for attempt in range(_ATTEMPTS):
        conn = _connection(parts)
        try:
            conn.request("GET", target)
            response = conn.getresponse()
            if response.status >= 300:
                data = response.read()
                if response.status >= 500:
                    last = Unavailable(f"GET {parts.netloc}: HTTP {response.status}")
                    time.sleep(0.1 * 2**attempt)
                    continue
                raise Unavailable(f"GET {parts.netloc}{parts.path}: HTTP {response.status}")
            digest = hashlib.sha256()
            size = 0
            with open(path, "wb") as out:
                while data := response.read(block):
                    digest.update(data)
                    out.write(data)
                    size += len(data)
            return digest.hexdigest(), size
        except (OSError, http.client.HTTPException) as exc:
            _drop(parts)
            last = exc
            time.sleep(0.1 * 2**attempt)
    raise Unavailable(f"GET {parts.netloc}{parts.path} failed: {last}") from last
