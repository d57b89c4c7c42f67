"""The ``gyre`` command line."""

from __future__ import annotations

from gyre.cli.main import app, main

__all__ = ["app", "main"]
