"""Settings for every Gyre process, read from ``GYRE_``-prefixed environment variables.

Nested settings use ``__`` as the delimiter: ``GYRE_NATS__URL``, ``GYRE_S3__ENDPOINT``,
``GYRE_DATABASE__URL``. Unknown fields passed in code or in a nested JSON value are
rejected (``extra="forbid"``). Each service subclasses
:class:`ServiceSettings` to add its own fields and default port.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_HOME",
    "DatabaseSettings",
    "GyreSettings",
    "LoggingSettings",
    "NatsSettings",
    "RaySettings",
    "S3Settings",
    "ServerSettings",
    "ServiceSettings",
    "TritonSettings",
]

DEFAULT_HOME = Path(".gyre")


class NatsSettings(BaseModel, extra="forbid"):
    """Where lifecycle events go: a NATS server with JetStream."""

    # Comma-separated server URLs, e.g. "nats://127.0.0.1:4222".
    url: str = "nats://127.0.0.1:4222"
    # JetStream stream that holds every lifecycle event (subjects "<subject_prefix>.>").
    stream: str = "GYRE"
    # Subject prefix of lifecycle events; an event of type "data.version.committed" is
    # published on "<subject_prefix>.data.version.committed".
    subject_prefix: str = "gyre.v1"
    # Stream and subject prefix that receive events a consumer gave up on.
    dead_letter_stream: str = "GYRE_DLQ"
    dead_letter_prefix: str = "gyre.dlq"
    # Seconds to wait for a connection or a publish acknowledgement.
    connect_timeout_s: float = 2.0
    publish_timeout_s: float = 5.0
    # JetStream duplicate-detection window (seconds) used when the stream is created.
    duplicate_window_s: float = 120.0
    # Largest event (serialized envelope plus NATS headers) the outbox accepts, in bytes;
    # keep it at or below the server's max_payload (nats-server's default is 1 MiB).
    max_payload_bytes: int = Field(default=1024 * 1024, gt=0)


class S3Settings(BaseModel, extra="forbid"):
    """The S3-compatible object store (MinIO in production, SeaweedFS locally)."""

    # host:port of the S3 endpoint, without scheme.
    endpoint: str = "127.0.0.1:8333"
    # Credentials; the local stack configures these on its S3 server.
    access_key: str = "gyre"
    secret_key: SecretStr = SecretStr("gyre-secret-key")
    # Use HTTPS.
    secure: bool = False
    # Region sent in signatures (S3 servers other than AWS accept any).
    region: str = "us-east-1"
    # Bucket that holds Gyre's artifacts (datasets' chunks, models, reports).
    bucket: str = "gyre"
    # Seconds to wait for a TCP connection to the store.
    connect_timeout_s: float = Field(default=3.0, gt=0)
    # Seconds to wait for each socket read (not the whole transfer): a hung store
    # fails a call after this, while large streams keep flowing.
    read_timeout_s: float = Field(default=20.0, gt=0)
    # Retries after connection errors and 5xx answers (never after a read timeout).
    max_retries: int = Field(default=3, ge=0)


class DatabaseSettings(BaseModel, extra="forbid"):
    """The service's own SQL database."""

    # SQLAlchemy async URL, e.g. "postgresql+psycopg://user@host/db". Empty means an
    # SQLite file named after the service under the Gyre home directory.
    url: str = ""
    # Connection pool size for server databases (ignored by SQLite).
    pool_size: int = 10
    # Log every SQL statement (debugging only).
    echo: bool = False


class TritonSettings(BaseModel, extra="forbid"):
    """The NVIDIA Triton Inference Server behind the inference gateway."""

    # host:port of Triton's gRPC endpoint.
    grpc_url: str = "127.0.0.1:8001"
    # host:port of Triton's HTTP endpoint (health, model repository API).
    http_url: str = "127.0.0.1:8000"
    # Model repository Triton loads from (a directory, or an s3:// URI in production).
    model_repository: str = ""


class RaySettings(BaseModel, extra="forbid"):
    """The Ray cluster the training scheduler submits runs to."""

    # Ray Jobs API address (the head's dashboard), e.g. "http://127.0.0.1:8265".
    address: str = "http://127.0.0.1:8265"


class LoggingSettings(BaseModel, extra="forbid"):
    """Structured logging."""

    # Minimum level: DEBUG, INFO, WARNING, ERROR.
    level: str = "INFO"
    # "json" for machines (one JSON object per line), "console" for people.
    format: str = "console"


class ServerSettings(BaseModel, extra="forbid"):
    """The gRPC server of one service."""

    # Interface to bind.
    host: str = "127.0.0.1"
    # gRPC port; 0 picks a free port (tests).
    port: int = 0
    # Prometheus metrics HTTP port; 0 disables the endpoint.
    metrics_port: int = 0
    # Seconds in-flight RPCs get to finish after SIGTERM.
    grace_period_s: float = 5.0


class GyreSettings(BaseSettings):
    """Settings every Gyre process shares: where the platform's components are."""

    model_config = SettingsConfigDict(
        env_prefix="GYRE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    # Directory that holds local state (SQLite files, logs, the local stack).
    home: Path = DEFAULT_HOME
    nats: NatsSettings = Field(default_factory=NatsSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    triton: TritonSettings = Field(default_factory=TritonSettings)
    ray: RaySettings = Field(default_factory=RaySettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)


class ServiceSettings(GyreSettings):
    """Settings of one Gyre service process: its server and its database."""

    # Short service name, e.g. "data-registry"; names the SQLite file and log records.
    service_name: str = "gyre"
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    # Addresses ("host:port") of the other Gyre services this one calls, keyed like
    # ``gyre.sdk.endpoints.SERVICES`` (e.g. {"model_registry": "10.0.0.5:50053"}), from
    # GYRE_PEERS='{"model_registry": "..."}'. A missing key falls back to the SDK's
    # resolution (GYRE_<KEY>_ADDRESS, then <home>/stack.json, then the default port).
    peers: dict[str, str] = Field(default_factory=dict)

    def database_url(self) -> str:
        """The configured database URL, or the SQLite default under ``home``."""
        if self.database.url:
            return self.database.url
        path = (self.home / f"{self.service_name}.db").resolve()
        return f"sqlite+aiosqlite:///{path}"
