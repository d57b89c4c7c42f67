"""``gyre-monitoring`` as ``gyre up`` runs it: a process that migrates, serves health
and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.gyre_services import SERVICE_NAMES, UNREACHABLE_PEER
from support.servers import NatsServer, free_port, wait_for

from gyre.services.monitoring import STACK_SERVICE


def test_monitor_process_serves_health_and_stops_on_sigterm(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "GYRE_HOME": str(tmp_path),
        "GYRE_NATS__URL": nats_server.url,
        "GYRE_NATS__STREAM": "MON_PROC_TEST",
        "GYRE_NATS__SUBJECT_PREFIX": "monproctest.v1",
        "GYRE_NATS__DEAD_LETTER_STREAM": "MON_PROC_TEST_DLQ",
        "GYRE_NATS__DEAD_LETTER_PREFIX": "monproctest.dlq",
        "GYRE_SERVER__PORT": str(port),
        "GYRE_MONITORING__JOIN_MAX_ENTRIES": "1000",
        # Every peer at a closed port: never a local stack on the default ports.
        "GYRE_PEERS": json.dumps(dict.fromkeys(SERVICE_NAMES, UNREACHABLE_PEER)),
    }
    assert STACK_SERVICE.command[0] == sys.executable
    assert STACK_SERVICE.default_port == 50056
    process = subprocess.Popen(list(STACK_SERVICE.command), env=env, stderr=subprocess.PIPE)
    try:

        def serving() -> bool:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                response = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=STACK_SERVICE.health_service), timeout=1
                )
            return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

        wait_for(serving, what="gyre-monitoring")
        assert (tmp_path / "monitoring.db").exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
