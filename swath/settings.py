"""Settings for every Swath process, read from `SWATH_*` environment variables (or `.env`)."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_REGISTRY = Path(__file__).parent / "registry_data"


class Mode(StrEnum):
    """`dev` enables conveniences (a dev API key, loopback URLs); `production` refuses them."""

    DEV = "dev"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """One place for every tunable; embedded defaults run the whole stack on one machine."""

    model_config = SettingsConfigDict(env_prefix="SWATH_", env_file=".env", extra="ignore")

    mode: Mode = Mode.DEV
    data_dir: Path = Path("data")

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_url: str | None = Field(
        default=None, description="Base URL clients use to reach the API (default: http://api_host:api_port)."
    )

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = 8233
    temporal_ui_url: str | None = Field(
        default=None, description="Base URL of the Temporal Web UI (default: the embedded dev server's UI)."
    )
    embedded_temporal: bool = Field(default=True, description="`swath up` starts the temporal dev server.")
    temporal_tls: bool = False
    temporal_tls_ca: Path | None = None
    temporal_tls_cert: Path | None = Field(default=None, description="Client certificate for mTLS.")
    temporal_tls_key: Path | None = Field(default=None, description="Client private key for mTLS.")
    temporal_api_key: SecretStr | None = Field(default=None, description="API key (e.g. Temporal Cloud).")

    database_url: str | None = Field(
        default=None, description="PostgreSQL DSN; unset means the embedded server on pg_port."
    )
    pg_port: int = 5433
    embedded_postgres: bool = Field(default=True, description="`swath up` starts embedded PostgreSQL.")
    pg_run_as: str | None = Field(default=None, description="Unix user for embedded PostgreSQL when run as root.")

    blob_dir: Path | None = Field(default=None, description="Local blob store root (default: data_dir/blobs).")
    model_registry_dir: Path = BUNDLED_REGISTRY

    inference_chunk_size: int = Field(default=16, ge=1, le=1024)
    inference_device: str = Field(default="auto", description="`auto`, `cpu`, `cuda` or `cuda:N`.")
    max_items_per_run: int = Field(default=1000, ge=1)
    max_item_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    allow_loopback_urls: bool | None = Field(
        default=None, description="Let input URLs reach loopback addresses (default: on in dev mode only)."
    )
    url_allowlist: list[str] = Field(default_factory=list, description="Hosts or CIDRs input URLs may reach.")

    @cached_property
    def dsn(self) -> str:
        """The PostgreSQL DSN every process connects to."""
        return self.database_url or f"postgresql://postgres@127.0.0.1:{self.pg_port}/swath"

    @cached_property
    def blob_root(self) -> Path:
        """Root directory of the local blob store."""
        return (self.blob_dir or self.data_dir / "blobs").resolve()

    @cached_property
    def api_base_url(self) -> str:
        """Base URL of the API as clients see it."""
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @cached_property
    def ui_base_url(self) -> str:
        """Base URL of the Temporal Web UI."""
        host = self.temporal_address.rsplit(":", 1)[0]
        return (self.temporal_ui_url or f"http://{host}:{self.temporal_ui_port}").rstrip("/")

    @property
    def loopback_allowed(self) -> bool:
        """Whether URLs may point at loopback addresses."""
        if self.allow_loopback_urls is not None:
            return self.allow_loopback_urls
        return self.mode is Mode.DEV

    @property
    def dev_api_key_file(self) -> Path:
        """Where `swath up` keeps the dev admin key (mode 600)."""
        return self.data_dir / "dev-api-key"

    def workflow_ui_url(self, workflow_id: str) -> str:
        """Link to one workflow's history in the Temporal Web UI."""
        return f"{self.ui_base_url}/namespaces/{self.temporal_namespace}/workflows/{workflow_id}"
