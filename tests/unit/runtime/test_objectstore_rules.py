"""The object store's HTTP policy and key rules, without an S3 server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from gyre.runtime import objectstore
from gyre.runtime.errors import InvalidArgument, Unavailable
from gyre.runtime.objectstore import SyncObjectStore
from gyre.runtime.settings import S3Settings


class _SilentServer:
    """Accepts connections and reads requests, never answers (a hung S3 server)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.requests = 0
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._connections.append(connection)
            if connection.recv(65536):
                self.requests += 1

    def close(self) -> None:
        self._listener.close()
        for connection in self._connections:
            connection.close()


@pytest.fixture
def silent_server() -> Iterator[_SilentServer]:
    server = _SilentServer()
    yield server
    server.close()


def test_a_read_timeout_is_not_retried(silent_server: _SilentServer) -> None:
    store = SyncObjectStore.from_settings(
        S3Settings(endpoint=f"127.0.0.1:{silent_server.port}"),
        connect_timeout_s=1.0,
        read_timeout_s=0.3,
        max_retries=3,
    )

    with pytest.raises(Unavailable) as caught:
        store.stat("k")

    assert caught.value.reason == "OBJECT_STORE_UNAVAILABLE"
    # One request: retrying a request the store received but never answered
    # would multiply the wait by the retries.
    assert silent_server.requests == 1


def test_default_timeouts_fail_a_hung_call_well_under_a_minute() -> None:
    worst = objectstore.DEFAULT_CONNECT_TIMEOUT_S * (objectstore.DEFAULT_MAX_RETRIES + 1)
    worst += objectstore.DEFAULT_READ_TIMEOUT_S
    assert worst < 60


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("", "empty"),
        ("a/", "end with '/'"),
        ("/a", "start with '/'"),
        ("a//b", "empty segment"),
        ("a/../b", "'..' segment"),
        ("a\x00b", "control characters"),
        ("x" * 1025, "at most 1024 bytes"),
        ("\ud800", "valid UTF-8"),
        ("m\\n", "must not contain '\\'"),
    ],
)
def test_invalid_keys_name_the_key_and_the_rule(key: str, rule: str) -> None:
    store = SyncObjectStore.from_settings(S3Settings(endpoint="127.0.0.1:1"))
    with pytest.raises(InvalidArgument) as caught:
        store.stat(key)
    assert caught.value.reason == "INVALID_OBJECT_KEY"
    assert rule in caught.value.message
    assert caught.value.metadata["key"] == key


def test_timeouts_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from gyre.runtime.settings import GyreSettings

    monkeypatch.setenv("GYRE_S3__CONNECT_TIMEOUT_S", "1.5")
    monkeypatch.setenv("GYRE_S3__READ_TIMEOUT_S", "7")
    monkeypatch.setenv("GYRE_S3__MAX_RETRIES", "0")
    store = objectstore.SyncObjectStore.from_settings(GyreSettings().s3)
    pool = store._client._http  # minio keeps its urllib3 PoolManager here
    timeout = pool.connection_pool_kw["timeout"]
    assert (timeout.connect_timeout, timeout.read_timeout) == (1.5, 7.0)
    assert pool.connection_pool_kw["retries"].total == 0
