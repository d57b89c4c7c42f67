"""Log output must not carry frame locals: they may hold secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from gyre.runtime.logging import configure_logging
from gyre.runtime.settings import LoggingSettings

SECRET = "SECRET_TOKEN_xyz"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
    for handler in [h for h in root.handlers if getattr(h, "_gyre_handler", False)]:
        root.removeHandler(handler)
    structlog.reset_defaults()


def _fail_with_a_secret_in_a_local() -> None:
    token = SECRET
    raise KeyError(len(token))


def _log_failure() -> None:
    try:
        _fail_with_a_secret_in_a_local()
    except KeyError:
        structlog.get_logger("test").exception("request failed")
    try:
        _fail_with_a_secret_in_a_local()
    except KeyError:
        logging.getLogger("stdlib").exception("stdlib failed")


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_tracebacks_are_logged_without_frame_locals(fmt: str) -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(format=fmt, level="INFO"), stream=stream)

    _log_failure()

    output = stream.getvalue()
    assert "request failed" in output
    assert "stdlib failed" in output
    # The traceback is there, naming the frame; the local's value is not.
    assert output.count("_fail_with_a_secret_in_a_local") >= 2
    assert "KeyError" in output
    assert SECRET not in output


def test_the_default_format_is_console_and_hides_locals() -> None:
    settings = LoggingSettings()
    assert settings.format == "console"
    stream = io.StringIO()
    configure_logging(settings, stream=stream)

    _log_failure()

    output = stream.getvalue()
    assert "Traceback" in output
    assert SECRET not in output
    with pytest.raises(json.JSONDecodeError):
        json.loads(output.splitlines()[0])
