"""Config generation of the local stack: settings, command lines, supervisord.conf."""

from __future__ import annotations

import configparser
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError

from gyre.stack._commands import (
    build_triton_backend_dir,
    nats_server_command,
    s3_identities_json,
    weed_server_command,
)
from gyre.stack._components import (
    STACK_ID_ENV,
    ProbeSpec,
    StackCredentials,
    client_environment,
    plan_components,
)
from gyre.stack._layout import StackLayout
from gyre.stack._services import ServiceSpec
from gyre.stack._settings import StackSettings
from gyre.stack._supervisor import ProgramConfig, render_supervisord_conf


@pytest.fixture
def credentials(tmp_path: Path) -> StackCredentials:
    return StackCredentials(
        s3_access_key="gyre", s3_secret_key="s3cr%t", ray_token_file=tmp_path / "token"
    )


def _arg(argv: Sequence[str], prefix: str) -> str:
    matches = [a.split("=", 1)[1] for a in argv if a.startswith(prefix + "=")]
    assert len(matches) == 1, (prefix, argv)
    return matches[0]


def test_settings_defaults_do_not_collide() -> None:
    settings = StackSettings()
    from gyre.stack._ports import planned_ports

    ports = planned_ports(settings, {})
    assert len(set(ports.values())) == len(ports)
    assert ports["nats_port"] == 4222
    assert ports["s3_port + 10000"] == 18333
    assert not any(
        settings.ray_min_worker_port <= p <= settings.ray_max_worker_port for p in ports.values()
    )


def test_settings_read_env_and_forbid_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GYRE_STACK__NATS_PORT", "4333")
    monkeypatch.setenv("GYRE_STACK__SERVICE_PORTS", '{"data_registry": 50061}')
    settings = StackSettings()
    assert settings.nats_port == 4333
    assert settings.service_ports == {"data_registry": 50061}
    with pytest.raises(ValidationError):
        StackSettings(nats_prot=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="10000"):
        StackSettings(s3_port=60000)


def test_nats_command() -> None:
    argv = nats_server_command(
        binary="nats-server", store_dir=Path("/s"), host="127.0.0.1", port=1, monitor_port=2
    )
    assert argv == ["nats-server", "-js", "-sd", "/s", "-a", "127.0.0.1", "-p", "1", "-m", "2"]


def test_weed_command_sets_every_grpc_port_and_disables_extra_listeners() -> None:
    argv = weed_server_command(
        binary="weed",
        data_dir=Path("/d"),
        host="127.0.0.1",
        s3_port=1001,
        master_port=1002,
        volume_port=1003,
        filer_port=1004,
        s3_config=Path("/d/s3.json"),
        filer_socket=Path("/d/filer.sock"),
    )
    assert _arg(argv, "-s3.port.grpc") == "11001"
    assert _arg(argv, "-master.port.grpc") == "11002"
    assert _arg(argv, "-volume.port.grpc") == "11003"
    assert _arg(argv, "-filer.port.grpc") == "11004"
    assert _arg(argv, "-s3.port.iceberg") == "0"
    assert _arg(argv, "-s3.port.lance") == "0"
    assert _arg(argv, "-master.telemetry") == "false"
    assert _arg(argv, "-filer.localSocket") == "/d/filer.sock"
    assert not any(a.startswith("-s3.localSocket") for a in argv)


def test_s3_identities_json_grants_the_key() -> None:
    import json

    config = json.loads(s3_identities_json("gyre", "secret"))
    (identity,) = config["identities"]
    assert identity["credentials"] == [{"accessKey": "gyre", "secretKey": "secret"}]
    assert "Write" in identity["actions"]


def test_triton_backend_dir_links_the_wheel_and_the_stub(tmp_path: Path) -> None:
    backends = build_triton_backend_dir(tmp_path / "backends", python_version="3.11")
    python = backends / "python"
    names = {p.name for p in python.iterdir()}
    assert {"libtriton_python.so", "triton_python_backend_stub"} <= names
    assert all((python / n).is_symlink() for n in names)
    assert "python_backend_stubs/3.11" in str((python / "triton_python_backend_stub").resolve())
    # Idempotent, and switching Python version re-points the stub.
    build_triton_backend_dir(tmp_path / "backends", python_version="3.12")
    assert "3.12" in str((python / "triton_python_backend_stub").resolve())
    with pytest.raises(FileNotFoundError, match=r"2\.7"):
        build_triton_backend_dir(tmp_path / "other", python_version="2.7")


def test_plan_components(tmp_path: Path, credentials: StackCredentials) -> None:
    layout = StackLayout.for_home(tmp_path / "home")
    settings = StackSettings(nats_port=4300, ray_dashboard_port=8300, triton_grpc_port=8301)
    service = ServiceSpec(name="data_registry", command=("python", "-m", "x"))
    components = plan_components(layout, settings, credentials, [service], {"data_registry": 50070})
    by_name = {c.name: c for c in components}
    assert list(by_name) == ["nats", "s3", "triton", "ray", "data_registry"]

    assert by_name["nats"].endpoint == "nats://127.0.0.1:4300"
    triton = by_name["triton"].program
    assert "nvidia_pytriton.libs" in triton.environment["LD_LIBRARY_PATH"]
    assert _arg(triton.command, "--model-control-mode") == "explicit"
    assert _arg(triton.command, "--backend-directory") == str(layout.triton_backends)

    ray = by_name["ray"].program
    assert ray.stopasgroup is False
    assert ray.killasgroup is True
    assert ray.environment["RAY_AUTH_MODE"] == "token"
    assert _arg(ray.command, "--dashboard-port") == "8300"
    assert _arg(ray.command, "--include-dashboard") == "true"
    assert by_name["ray"].probe.bearer_token_file == str(credentials.ray_token_file)

    svc = by_name["data_registry"]
    assert svc.kind == "service"
    assert svc.endpoint == "grpc://127.0.0.1:50070"
    assert svc.program.environment["GYRE_SERVER__PORT"] == "50070"
    assert svc.program.environment["GYRE_NATS__URL"] == "nats://127.0.0.1:4300"
    assert svc.program.environment["GYRE_RAY__ADDRESS"] == "http://127.0.0.1:8300"
    assert svc.program.environment["GYRE_TRITON__GRPC_URL"] == "127.0.0.1:8301"
    assert svc.program.environment["GYRE_DATA_REGISTRY_ADDRESS"] == "127.0.0.1:50070"
    assert svc.probe == ProbeSpec("grpc", "127.0.0.1:50070")
    assert all(c.program.priority < svc.program.priority for c in components[:4])


def test_client_environment_matches_runtime_settings(
    tmp_path: Path, credentials: StackCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gyre.runtime.settings import GyreSettings

    layout = StackLayout.for_home(tmp_path)
    env = client_environment(layout, StackSettings(s3_port=9999), credentials)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = GyreSettings()
    assert settings.home == layout.home
    assert settings.s3.endpoint == "127.0.0.1:9999"
    assert settings.s3.secret_key.get_secret_value() == "s3cr%t"
    assert settings.triton.model_repository == str(layout.triton_models)


def test_supervisord_conf_is_valid_and_escapes(tmp_path: Path) -> None:
    program = ProgramConfig(
        name="nats",
        command=["/bin/nats server", "--flag=100%"],
        directory=tmp_path,
        log_file=tmp_path / "logs" / "nats.log",
        environment={"A": 'quote" and %', "B": "x,y"},
        stopwaitsecs=7,
        stopasgroup=False,
    )
    text = render_supervisord_conf(
        socket_path=tmp_path / "s.sock",
        pid_file=tmp_path / "s.pid",
        log_file=tmp_path / "logs" / "supervisord.log",
        directory=tmp_path,
        identifier="gyre-x",
        environment={STACK_ID_ENV: "abc"},
        programs=[program],
    )
    conf = tmp_path / "supervisord.conf"
    conf.write_text(text)
    (tmp_path / "logs").mkdir()

    # supervisord's own parser accepts it and reads back what we meant.
    from supervisor.options import ServerOptions

    options = ServerOptions()
    options.configfile = str(conf)
    options.process_config(do_usage=False)
    (group,) = options.process_group_configs
    (proc,) = group.process_configs
    assert proc.command == "'/bin/nats server' --flag=100%"
    # Program environment on top of supervisord's (which carries the stack id).
    assert proc.environment == {STACK_ID_ENV: "abc", "A": 'quote" and %', "B": "x,y"}
    assert proc.stopwaitsecs == 7
    assert proc.stopasgroup is False
    assert proc.killasgroup is True
    assert proc.autostart is False
    assert options.configroot.supervisord.environment == {STACK_ID_ENV: "abc"}

    parser = configparser.RawConfigParser()
    parser.read_string(text)
    assert parser.get("unix_http_server", "chmod") == "0700"


def test_layout_moves_sockets_when_home_is_deep(tmp_path: Path) -> None:
    short = StackLayout.for_home("/tmp/g")
    assert short.supervisor_socket == Path("/tmp/g/supervisor.sock")
    assert short.ray_temp_dir == Path("/tmp/g/ray")
    deep = StackLayout.for_home(tmp_path / ("x" * 120))
    assert len(str(deep.supervisor_socket)) <= 107
    assert deep.supervisor_socket.parent == deep.short_dir
    assert deep.ray_temp_dir == deep.short_dir / "ray"
    assert deep.short_dir == StackLayout.for_home(tmp_path / ("x" * 120)).short_dir


@pytest.mark.parametrize("value", ['"starts', "ends'", "both ' and \""])
def test_supervisord_conf_refuses_values_it_cannot_quote(tmp_path: Path, value: str) -> None:
    program = ProgramConfig(
        name="x",
        command=["x"],
        directory=tmp_path,
        log_file=tmp_path / "x.log",
        environment={"A": value},
    )
    with pytest.raises(ValueError, match="supervisord cannot pass"):
        render_supervisord_conf(
            socket_path=tmp_path / "s.sock",
            pid_file=tmp_path / "s.pid",
            log_file=tmp_path / "s.log",
            directory=tmp_path,
            identifier="x",
            environment={},
            programs=[program],
        )
