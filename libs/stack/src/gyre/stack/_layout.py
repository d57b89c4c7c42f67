"""The state directory of the local stack (``GYRE_HOME``, ``.gyre`` by default).

::

    <home>/
      stack.json            endpoints of the running stack (removed by `gyre down`)
      env                   the same as sourceable GYRE_* variables
      stack.id              the stack id every process of the stack carries
      stack.pids            sessions and process groups of its processes, as last seen
      stack.lock            serialises concurrent `gyre up` / `gyre down`
      supervisord.conf      generated on every `gyre up`
      supervisord.pid
      supervisor.sock       supervisord's XML-RPC socket (see below)
      logs/<component>.log  stdout+stderr of each component, plus supervisord.log
      nats/                 JetStream store
      s3/                   SeaweedFS data, s3.json identities, its local sockets
      triton/models/        Triton's model repository (explicit model control)
      triton/backends/      backend directory built from the nvidia-pytriton wheel
      ray/                  Ray's temp dir (session logs, sockets)

Unix socket paths are limited to 107 bytes, and Ray nests its sockets ~65 bytes below
its temp dir. When ``<home>`` is too deep for that, sockets and Ray's temp dir move to
``/tmp/gyre-<hash of home>/`` instead, and ``<home>/ray`` is a symlink to it.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["StackLayout"]

# sun_path is 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107
# Ray creates "<temp>/session_YYYY-MM-DD_HH-MM-SS_ffffff_PID/sockets/plasma_store" and
# similar; keep its temp dir short enough for those.
_MAX_RAY_TEMP_DIR = 40


@dataclass(frozen=True)
class StackLayout:
    """Paths of one stack's state directory; pure, creates nothing."""

    home: Path

    @classmethod
    def for_home(cls, home: Path | str) -> StackLayout:
        """The layout of ``home``, made absolute (components run with other cwds)."""
        return cls(Path(home).expanduser().resolve())

    @property
    def short_dir(self) -> Path:
        """``/tmp/gyre-<hash>``: where sockets go when ``home`` is too deep for them."""
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"gyre-{digest}"

    def _socket(self, preferred: Path) -> Path:
        if len(str(preferred)) <= _MAX_SOCKET_PATH:
            return preferred
        return self.short_dir / preferred.name

    @property
    def stack_json(self) -> Path:
        return self.home / "stack.json"

    @property
    def env_file(self) -> Path:
        return self.home / "env"

    @property
    def stack_id_file(self) -> Path:
        return self.home / "stack.id"

    @property
    def pids_file(self) -> Path:
        """Sessions and process groups of the stack's processes (see ``_sweep``)."""
        return self.home / "stack.pids"

    @property
    def lock_file(self) -> Path:
        return self.home / "stack.lock"

    @property
    def supervisord_conf(self) -> Path:
        return self.home / "supervisord.conf"

    @property
    def supervisord_pid(self) -> Path:
        return self.home / "supervisord.pid"

    @property
    def supervisor_socket(self) -> Path:
        return self._socket(self.home / "supervisor.sock")

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    def log(self, component: str) -> Path:
        """Log file of one component (stdout and stderr), or of ``supervisord``."""
        return self.logs / f"{component}.log"

    @property
    def nats_store(self) -> Path:
        return self.home / "nats"

    @property
    def s3_dir(self) -> Path:
        return self.home / "s3"

    @property
    def s3_config(self) -> Path:
        return self.s3_dir / "s3.json"

    @property
    def weed_filer_socket(self) -> Path:
        return self._socket(self.s3_dir / "filer.sock")

    @property
    def weed_s3_socket(self) -> Path:
        return self._socket(self.s3_dir / "s3.sock")

    @property
    def triton_models(self) -> Path:
        return self.home / "triton" / "models"

    @property
    def triton_backends(self) -> Path:
        return self.home / "triton" / "backends"

    @property
    def ray_link(self) -> Path:
        """``<home>/ray``: Ray's temp dir, or a symlink to it."""
        return self.home / "ray"

    @property
    def ray_temp_dir(self) -> Path:
        """Ray's ``--temp-dir``: ``<home>/ray`` when short enough, else under /tmp."""
        if len(str(self.ray_link)) <= _MAX_RAY_TEMP_DIR:
            return self.ray_link
        return self.short_dir / "ray"
