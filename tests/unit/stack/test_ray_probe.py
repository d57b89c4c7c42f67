"""The Ray readiness probe: the dashboard answering is not enough, the head's raylet
must have registered (a fake dashboard on a local HTTP server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gyre.stack._components import ProbeSpec
from gyre.stack._probes import ProbeFailed, RayProbe


class _Dashboard:
    def __init__(self) -> None:
        self.answer: tuple[int, Any] = (200, {"data": {"summary": []}})
        self.headers: list[str | None] = []


@pytest.fixture
def dashboard() -> Iterator[tuple[str, _Dashboard]]:
    state = _Dashboard()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.headers.append(self.headers.get("Authorization"))
            status, body = state.answer
            payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status if self.path == "/nodes?view=summary" else 404)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def _node(state: str, *, head: bool = True) -> dict[str, Any]:
    return {"raylet": {"state": state, "isHeadNode": head, "resourcesTotal": {"CPU": 2.0}}}


def test_ready_only_when_the_head_raylet_is_alive(dashboard: tuple[str, _Dashboard]) -> None:
    url, state = dashboard
    probe = RayProbe(url, headers={"Authorization": "Bearer t0ken"})
    with pytest.raises(ProbeFailed, match="has not registered"):
        probe(2.0)
    state.answer = (200, {"data": {"summary": [_node("ALIVE", head=False), _node("DEAD")]}})
    with pytest.raises(ProbeFailed, match="has not registered"):
        probe(2.0)
    state.answer = (200, {"data": {"summary": [_node("ALIVE")]}})
    assert probe(2.0) == "ready (2 CPUs)"
    assert state.headers[-1] == "Bearer t0ken"


def test_errors_and_odd_answers_are_probe_failures(dashboard: tuple[str, _Dashboard]) -> None:
    url, state = dashboard
    state.answer = (401, "Missing authentication token")
    with pytest.raises(ProbeFailed, match="HTTP 401 Missing authentication token"):
        RayProbe(url)(2.0)
    state.answer = (200, "not json")
    with pytest.raises(ProbeFailed, match="unexpected answer"):
        RayProbe(url)(2.0)
    with pytest.raises(ProbeFailed, match="ConnectError"):
        RayProbe("http://127.0.0.1:1")(2.0)


def test_the_ray_probe_round_trips_through_stack_json(tmp_path: Any) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    spec = ProbeSpec("ray", "http://127.0.0.1:8265", bearer_token_file=str(token))
    again = ProbeSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert again == spec
    probe = again.build()
    assert isinstance(probe, RayProbe)
    assert probe.headers == {"Authorization": "Bearer s3cret"}
