"""The runtime's package-level names resolve lazily to their submodules."""

from __future__ import annotations

import subprocess
import sys

import gyre.runtime


def test_every_exported_name_resolves() -> None:
    for name in gyre.runtime.__all__:
        assert getattr(gyre.runtime, name) is not None, name


def test_importing_settings_does_not_import_heavy_modules() -> None:
    code = (
        "import sys, gyre.runtime.settings; "
        "print(','.join(m for m in ('sqlalchemy', 'nats', 'grpc', 'minio') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
