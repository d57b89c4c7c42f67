"""The inference SDK always names an actor, even where ``$USER`` is empty."""

from __future__ import annotations

import getpass
import socket

import pytest

from gyre.sdk import inference


def test_explicit_then_environment_then_login_then_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GYRE_ACTOR", "ann")
    monkeypatch.setenv("USER", "bob")
    assert inference.actor("carol") == "carol"
    assert inference.actor() == "ann"
    monkeypatch.setenv("GYRE_ACTOR", "")
    assert inference.actor() == "bob"
    monkeypatch.setenv("USER", "")
    monkeypatch.setattr(getpass, "getuser", lambda: "dave")
    assert inference.actor() == "dave"

    def no_login() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_login)
    assert inference.actor() == f"cli@{socket.gethostname()}"
    assert inference.actor_metadata() == (("gyre-actor", f"cli@{socket.gethostname()}"),)
