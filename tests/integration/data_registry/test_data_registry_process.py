"""The service as `gyre up` runs it: `python -m gyre.services.data_registry`, configured by
GYRE_* environment variables, healthy, serving, and stopping on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.servers import NatsServer, SeaweedS3, free_port, wait_for

from gyre.data.v1 import data_service_pb2 as ds
from gyre.data.v1 import dataset_pb2
from gyre.sdk import GyreClient
from gyre.services.data_registry import STACK_SERVICE

pytestmark = pytest.mark.integration


def test_data_registry_runs_as_a_process(
    tmp_path: Path, nats_server: NatsServer, s3_server: SeaweedS3
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "GYRE_HOME": str(tmp_path),
        "GYRE_SERVER__PORT": str(port),
        "GYRE_NATS__URL": nats_server.url,
        "GYRE_S3__ENDPOINT": s3_server.endpoint,
        "GYRE_S3__ACCESS_KEY": s3_server.access_key,
        "GYRE_S3__SECRET_KEY": s3_server.secret_key,
        "GYRE_S3__BUCKET": "gyre-data-registry-process",
    }
    assert STACK_SERVICE.command[1:] == ["-m", "gyre.services.data_registry"]
    assert STACK_SERVICE.default_port == 50051
    log = open(tmp_path / "service.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "gyre.services.data_registry"], env=env, stdout=log, stderr=log
    )
    try:
        target = f"127.0.0.1:{port}"

        def serving() -> bool:
            with grpc.insecure_channel(target) as channel:
                try:
                    answer = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(service="gyre.data.v1.DataRegistryService"),
                        timeout=1,
                    )
                except grpc.RpcError:
                    return False
            return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

        wait_for(serving, what="data registry process")
        with GyreClient(addresses={"data_registry": target}) as client:
            created = client.data.CreateDataset(
                ds.CreateDatasetRequest(dataset_id="proc", dataset=dataset_pb2.Dataset())
            ).dataset
            assert created.name == "datasets/proc"
        assert (tmp_path / "data-registry.db").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
