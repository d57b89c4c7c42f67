"""The SDK installs and works without any server dependency.

Installs ``libs/sdk`` alone into a fresh virtual environment (uv, from the
package cache that ``make install`` filled) and checks that the client, the
generated stubs and the ``gyre`` command work there, and that none of the
server-side packages came along.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SERVER_PACKAGES = ("sqlalchemy", "nats", "minio", "ray", "tritonclient", "supervisor", "alembic")


@pytest.fixture(scope="module")
def sdk_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists():
        pytest.skip("uv is not installed in this environment (make install provides it)")
    venv = tmp_path_factory.mktemp("sdk-only") / "venv"
    subprocess.run([str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            str(REPO / "libs" / "sdk"),
        ],
        check=True,
    )
    return venv


def test_sdk_imports_without_server_packages(sdk_venv: Path) -> None:
    code = (
        "import importlib.util, sys\n"
        "import gyre.sdk\n"
        "from gyre.sdk import GyreClient, AsyncGyreClient, NotFound\n"
        "from gyre.events.v1 import event_pb2\n"
        "from gyre.data.v1 import data_service_pb2_grpc\n"
        "from gyre.inference.v1 import inference_service_pb2_grpc\n"
        f"missing = [m for m in {SERVER_PACKAGES!r} if importlib.util.find_spec(m) is None]\n"
        "print(','.join(sorted(missing)))\n"
    )
    out = subprocess.run(
        [str(sdk_venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    assert sorted(out.stdout.strip().split(",")) == sorted(SERVER_PACKAGES)


def test_gyre_command_runs_in_sdk_only_install(sdk_venv: Path) -> None:
    out = subprocess.run(
        [str(sdk_venv / "bin" / "gyre"), "version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("gyre-sdk ")
    assert "gyre-stack" not in out.stdout
