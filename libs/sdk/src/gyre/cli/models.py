"""`gyre` sub-commands of the model_registry service (filled in by its issue)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add this domain's commands to ``app``."""
