"""``gyre-data-registry`` / ``python -m gyre.services.data_registry``: run the service."""

from __future__ import annotations

from gyre.runtime.logging import configure_logging
from gyre.runtime.server import run
from gyre.runtime.settings import ServiceSettings
from gyre.services.data_registry.app import SERVICE_NAME, run_forever

__all__ = ["main"]


def main() -> None:
    """Build settings from the environment (``GYRE_*``) and serve until stopped."""
    settings = ServiceSettings(service_name=SERVICE_NAME)
    configure_logging(settings.logging, service_name=settings.service_name)
    raise SystemExit(run(run_forever(settings)))


if __name__ == "__main__":
    main()
