"""Settings for every Swath process, read from `SWATH_*` environment variables (or `.env`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import cached_property
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from swath.domain.chunks import DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE
from swath.domain.scene_limits import SceneLimits

BUNDLED_REGISTRY = Path(__file__).parent / "models" / "registry_data"
#: What `blob_url` may name: S3 (and S3-compatible stores), Google Cloud Storage, Azure Blob Storage.
BLOB_URL_SCHEMES = ("s3://", "gs://", "az://", "abfs://", "abfss://")


class Mode(StrEnum):
    """`production` (the default everywhere) refuses unsafe settings; `dev` enables conveniences
    (a dev API key, loopback URLs, weak secrets with a warning) and is chosen only by `swath up`
    and the tests, explicitly."""

    DEV = "dev"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """One place for every tunable; embedded defaults run the whole stack on one machine."""

    # Errors never echo the input: a cross-field check would print every setting, secrets included.
    model_config = SettingsConfigDict(env_prefix="SWATH_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    mode: Mode = Field(
        default=Mode.PRODUCTION,
        description="`production` refuses unsafe settings at start; `dev` (what `swath up` picks unless this is set) "
        "creates the dev API key and lets URLs reach loopback.",
    )
    data_dir: Path = Field(
        default=Path("data"),
        description="The embedded stack's state: PostgreSQL data, the Temporal SQLite file, blobs, logs, the dev key.",
    )

    api_host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(default=8000, description="Port the API listens on.")
    public_url: str | None = Field(
        default=None, description="Base URL clients use to reach the API (default: http://api_host:api_port)."
    )

    temporal_address: str = Field(default="127.0.0.1:7233", description="Temporal frontend, `host:port`.")
    temporal_namespace: str = Field(default="default", description="Temporal namespace every run lives in.")
    temporal_ui_port: int = Field(default=8233, description="Port of the embedded dev server's Web UI.")
    temporal_ui_url: str | None = Field(
        default=None, description="Base URL of the Temporal Web UI (default: the embedded dev server's UI)."
    )
    embedded_temporal: bool = Field(default=True, description="`swath up` starts the temporal dev server.")
    temporal_tls: bool = Field(
        default=False, description="Reach Temporal over TLS (implied by a CA, a client certificate or an API key)."
    )
    temporal_tls_ca: Path | None = Field(
        default=None, description="CA bundle (PEM) that signed the Temporal frontend's certificate."
    )
    temporal_tls_cert: Path | None = Field(default=None, description="Client certificate for mTLS.")
    temporal_tls_key: Path | None = Field(default=None, description="Client private key for mTLS.")
    temporal_api_key: SecretStr | None = Field(default=None, description="API key (e.g. Temporal Cloud).")
    worker_drain_s: float = Field(
        default=25.0, ge=0,
        description="On SIGTERM a pool stops polling and gives in-flight activities this long to finish "
        "(then they are cancelled and retried elsewhere); keep it under the container's grace period.",
    )
    api_drain_s: float = Field(
        default=25.0, gt=0,
        description="On SIGTERM the API stops accepting connections and gives in-flight requests (a streaming "
        "upload among them) this long to finish, then closes them; keep it under the container's grace period.",
    )
    workflow_sandbox: bool = Field(
        default=False,
        description="Run workflows in the SDK's sandbox (about 10 ms of CPU per run). The tests run them sandboxed "
        "and replay recorded histories sandboxed, so determinism is checked there, not paid for per run.",
    )

    database_url: str | None = Field(
        default=None, repr=False, description="PostgreSQL DSN; unset means the embedded server on pg_port."
    )  # repr=False: a DSN may hold a password, and settings get printed in tracebacks
    pg_port: int = Field(default=5433, description="Port of the embedded PostgreSQL.")
    embedded_postgres: bool = Field(default=True, description="`swath up` starts embedded PostgreSQL.")
    pg_run_as: str | None = Field(
        default=None, description="Unix user for embedded PostgreSQL when run as root (default: `postgres`, else `nobody`)."
    )

    blob_dir: Path | None = Field(default=None, description="Local blob store root (default: data_dir/blobs).")
    blob_url: str | None = Field(
        default=None,
        description="Object store for blobs: `s3://bucket/prefix` (also `gs://…`, `az://…`, "
        "`abfss://container@account.dfs.core.windows.net/prefix` through obstore, with GCS and Azure credentials "
        "from obstore's environment or workload identity); unset: the local directory blob_dir. A `blob://<key>` "
        "is the object `<prefix>/<key>`.",
    )
    blob_endpoint: str | None = Field(
        default=None, description="S3-compatible endpoint URL (MinIO, Ceph, R2, moto); unset: AWS's for the region."
    )
    blob_region: str | None = Field(default=None, description="S3 region (unset: AWS_REGION or AWS_DEFAULT_REGION).")
    blob_access_key_id: str | None = Field(
        default=None, description="S3 access key id; unset: the standard AWS credential chain."
    )
    blob_secret_access_key: SecretStr | None = Field(default=None, description="S3 secret access key, with the id.")
    blob_allow_http: bool = Field(default=False, description="Let the object store be reached over plain HTTP.")
    blob_part_size: int = Field(
        default=8 * 1024 * 1024, ge=5 * 1024 * 1024,
        description="Bytes per multipart upload part: larger blobs and every streamed write go up in parts.",
    )
    model_registry_dir: Path = Field(
        default=BUNDLED_REGISTRY,
        description="Model registry root (`<name>/<version>/manifest.json`, `aliases.json`); default: the bundled one.",
    )

    inference_chunk_size: int = Field(
        default=DEFAULT_CHUNK_SIZE, ge=1, le=MAX_CHUNK_SIZE, description="Tiles per inference activity."
    )
    inference_device: str = Field(default="auto", description="`auto`, `cpu`, `cuda` or `cuda:N`.")
    inference_compile: bool | None = Field(
        default=None, description="`torch.compile` every served model at warm-up, or none (unset: each "
        "manifest's `serving.compile`).",
    )
    inference_warm_models: list[str] | None = Field(
        default=None, description="Models the inference pool loads and warms up before it reports ready, "
        "overriding the warm aliases (unset: every target of every alias marked `warm`, `production` ones by "
        "default, followed as they move; `[]`: none, each loads when first asked for).",
    )
    inference_model_cache_bytes: int = Field(
        default=4 * 2**30, ge=1, description="Artefact bytes of model versions one inference process keeps "
        "loaded; loading another evicts the least recently used idle ones (warm aliases' last). A version in "
        "use is never evicted, so the bound may be passed while every loaded version is busy.",
    )
    model_validation_timeout_s: float = Field(
        default=300, gt=0, le=600, description="Longest a pushed model version's validation (loading it and one forward "
        "pass, in a child process of the inference pool) may take; past it the child is killed and the version "
        "rejected.",
    )
    model_validations_per_tenant: int = Field(
        default=2, ge=1, description="Pushed model versions one tenant may have validating at once (each is "
        "a process on the inference pool); a push past it is answered 429 with Retry-After.",
    )
    model_validation_memory_bytes: int = Field(
        default=8 * 1024**3, ge=0, description="Address space (RLIMIT_AS) a model version's validation process "
        "may use on the CPU; past it the version is rejected (0: no cap; on a GPU the process is only first in "
        "line for the OOM killer).",
    )
    inference_warm_refresh_s: float = Field(
        default=30, ge=0, description="How often the inference pool re-reads the warm aliases and warms the "
        "versions they newly target, so a promoted version is warm without a restart (0: only at start).",
    )
    inference_processes: int | None = Field(
        default=None, ge=1, description="Inference pool processes `swath up` runs (unset: one per id in "
        "SWATH_INFERENCE_GPUS, else 1).",
    )
    inference_gpus: Annotated[tuple[str, ...], NoDecode] | None = Field(
        default=None, description="Comma list of CUDA device ids (`0,1`): `swath up` runs one inference process "
        "per id, the k-th seeing only the k-th device (`CUDA_VISIBLE_DEVICES`); a count that disagrees with "
        "SWATH_INFERENCE_PROCESSES is refused at start-up.",
    )
    pool_http_port: int | None = Field(
        default=None, description="Each pool serves /livez, /readyz (200 once it polls its queue; the inference "
        "pool's once its models warmed up) and /metrics (its own series and the Temporal SDK's) on this port "
        "(unset: off); meant for one pool per container."
    )
    pool_http_host: str = Field(default="127.0.0.1", description="Where the pools' HTTP port listens.")
    pool_http_base_port: int | None = Field(
        default=9470, description="`swath up` gives its pools this port and the next ones, one each, in task "
        "queue order, then one more per inference process beyond the first (unset: no pool ports)."
    )
    prometheus_port: int = Field(default=9090, description="Where `swath up --observe` serves Prometheus.")
    inference_max_queued_items: int = Field(
        default=4096, ge=1, description="Items that may wait in one model's batcher; more callers wait for room."
    )
    max_items_per_run: int = Field(default=1000, ge=1, description="Inputs one run may have (413 beyond).")
    # -- sharing one Swath between tenants (docs/sharing.md)
    tenant_max_queued_runs: int = Field(
        default=500, ge=0, description="Runs a tenant may have queued (not yet started); more are answered 429. "
        "An admin may set another per tenant (PUT /v1/tenants/{tenant}).",
    )
    tenant_max_active_runs: int = Field(
        default=1000, ge=0, description="Runs a tenant may have unfinished (queued or processing); more are "
        "answered 429. An admin may set another per tenant.",
    )
    top_priority_scope: str = Field(
        default="admin", description="The scope a caller needs to submit runs at priority 1 (the highest); "
        "`runs:write` lets every writer.",
    )
    # -- scenes
    scene_max_bytes: int = Field(
        default=SceneLimits.max_bytes, ge=1, description="Largest scene file a run may map."
    )
    scene_max_pixels: int = Field(
        default=SceneLimits.max_pixels, ge=1, description="Most pixels per band (width x height) a scene may declare."
    )
    scene_max_bands: int = Field(
        default=SceneLimits.max_bands, ge=1, le=65535, description="Most bands a scene file may hold."
    )
    scene_max_decode_ratio: float = Field(
        default=SceneLimits.max_decode_ratio, gt=1,
        description="Most bytes a scene's stored tiles may decode to, per byte they take in the file.",
    )
    scene_decode_timeout_s: float = Field(
        default=120.0, gt=0,
        description="Longest one scene inspection or block read may decode for before it is stopped "
        "(under the block step's timeout).",
    )
    scene_decode_processes: int = Field(
        default=0, ge=0, le=256, description="Decoder processes per ingest process (0: one per CPU core).",
    )
    scene_block_size: int = Field(
        default=2048, ge=256, le=8192,
        description="Scenes are read, mapped and written in blocks of this many pixels square (rounded so the "
        "model's windows tile them).",
    )
    scene_block_concurrency: int = Field(
        default=2, ge=1, le=64, description="Blocks of one scene in flight at a time (bounds the pools' memory)."
    )
    inference_max_blocks: int = Field(
        default=1, ge=1, le=64,
        description="Scene blocks one inference pool maps at once, whatever the number of scenes; with the "
        "block size, this bounds the pool's memory (each block holds its pixels and class accumulators).",
    )
    scene_blocks_per_history: int = Field(
        default=256, ge=4, le=1000,
        description="Blocks a scene's workflow maps before continuing as new (about 14 history events each).",
    )
    scene_cache_dir: Path | None = Field(
        default=None,
        description="Where ingest pins the scenes runs read (links to a local store's files, copies of an "
        "object store's; dropped once the scene's map is made) and writes maps before they are stored "
        "(default: data_dir/scene-cache).",
    )
    max_item_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1,
        description="Bytes per tile input: inline at submit, fetched URLs while fetching, after any gzip "
        "(413 or `too_large`).",
    )
    allow_loopback_urls: bool | None = Field(
        default=None, description="Let input URLs reach loopback addresses (default: on in dev mode only)."
    )
    url_allowlist: list[str] = Field(default_factory=list, description="Hosts or CIDRs input URLs may reach.")

    # -- security
    jwt_algorithm: Literal["HS256", "RS256", "ES256"] | None = Field(
        default=None, description="Accept JWT bearer tokens signed with this algorithm (unset: API keys only)."
    )
    jwt_secret: SecretStr | None = Field(default=None, description="HS256 shared secret (at least 32 bytes).")
    jwt_public_key_file: Path | None = Field(default=None, description="RS256/ES256: PEM public key.")
    jwt_jwks_file: Path | None = Field(default=None, description="RS256/ES256: JWKS file; keys are chosen by `kid`.")
    jwt_issuer: str | None = Field(default=None, description="Required `iss` of every token.")
    jwt_audience: str | None = Field(default=None, description="Required `aud` of every token.")
    jwt_leeway_s: int = Field(default=30, ge=0, le=300, description="Clock skew allowed on `exp`, `nbf`, `iat`.")
    jwt_max_age_s: int = Field(
        default=24 * 3600, ge=60,
        description="A token issued (`iat`, required) longer ago than this is refused, whatever its `exp`.",
    )
    jwt_require_jti: bool = Field(
        default=True,
        description="Refuse tokens without a `jti`, the id by which a token is revoked (`swath keys revoke-token`, "
        "`POST /v1/revoked-tokens`); false for an identity provider that issues none: its tokens then "
        "cannot be revoked and live at most jwt_max_age_s.",
    )
    jwt_tenant_claim: str = Field(default="tenant", description="Claim naming the caller's tenant.")
    jwt_scopes_claim: str = Field(default="scope", description="Claim with the scopes (space-separated or a list).")
    rate_limit_enabled: bool = Field(
        default=True, description="Apply the rate limits below and the failed-authentication limit."
    )
    rate_limit_per_key: str = Field(
        default="50/second;3000/minute", description="Per API key or token subject, `limits` notation."
    )
    rate_limit_per_tenant: str = Field(default="200/second;12000/minute", description="Per tenant, `limits` notation.")
    rate_limit_storage_uri: str = Field(
        default="memory://", description="`limits` storage: `memory://` (one process) or `redis://host:6379`."
    )
    max_request_bytes: int = Field(default=32 * 1024 * 1024, ge=1024, description="Largest request body (413).")
    upload_max_bytes: int = Field(
        default=8 * 1024**3, ge=1,
        description="Largest file `PUT /v1/blobs/{name}` accepts (413); the body is streamed, never held.",
    )
    upload_quota_bytes: int = Field(
        default=100 * 1024**3, ge=0,
        description="Bytes one tenant's uploads may hold together (413 `quota-exceeded` past it).",
    )
    upload_quota_objects: int = Field(
        default=10_000, ge=0, description="Uploads (distinct names) one tenant may hold (413 `quota-exceeded` past it).",
    )
    upload_read_timeout_s: float = Field(
        default=30.0, gt=0,
        description="Longest an upload's body may send nothing; then it is cut off (408) and nothing is stored.",
    )
    streams_per_tenant: int = Field(
        default=200, ge=1, description="Run event streams and `Prefer: wait` requests one tenant may hold open "
        "on one API process (an event stream past it is 429 with Retry-After; a wait past it answers at once).",
    )
    upload_concurrency_per_tenant: int = Field(
        default=4, ge=1,
        description="Uploads one tenant may have in progress on one API process (429 with Retry-After beyond).",
    )

    # -- URL guard and ingest decoding limits
    url_resolve_timeout_s: float = Field(
        default=2.0, gt=0, description="Longest one DNS lookup of an input or webhook URL may take (then refused)."
    )
    ingest_memory_limit_bytes: int | None = Field(
        default=16 * 1024**3,
        ge=0,
        description="Address-space cap (RLIMIT_AS) of an ingest pool process, the last line against a decoder "
        "that allocates without bound; 0 or unset: no cap. Not applied when pools run inside another process.",
    )

    # -- the API edge: work done before authentication, probes and scrapes
    auth_failure_limit: str = Field(
        default="20/minute",
        description="Failed authentications allowed per credential presented (an API key's id, a digest of any "
        "other token) and client address, `limits` notation; past it that client gets 429 for that credential "
        "without it being looked at (off with rate_limit_enabled=false).",
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma list of addresses or CIDRs of the proxies in front of the API (an Ingress controller, "
        "a load balancer): only a request from one of them has its client address taken from `X-Forwarded-For` "
        "(uvicorn's forwarded_allow_ips). Unset: no header is believed; every client is its TCP peer.",
    )
    readyz_cache_s: float = Field(
        default=2.0, ge=0, description="`/readyz` reuses one probe of PostgreSQL and Temporal for this long."
    )
    metrics_refresh_s: float = Field(
        default=5.0, gt=0, description="How often the API reads its database-derived metrics; scrapes read the cache."
    )
    url_check_concurrency: int = Field(
        default=16, ge=1, description="URLs of one submitted run checked (resolved) at the same time, at most."
    )
    jwt_platform_admin_claim: str | None = Field(
        default=None,
        description="A JWT is a platform admin (keys of every tenant) only when this claim is `true`; "
        "unset: never (the `admin` scope of a token stays within its tenant).",
    )

    # -- webhooks
    webhook_retry_schedule: list[float] = Field(
        default=[0, 5, 300, 1800, 7200, 18000, 36000, 36000],
        description="Seconds before each delivery attempt (JSON list): now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.",
    )
    webhook_retry_jitter: float = Field(default=0.1, ge=0, lt=1, description="Each wait varies by up to this fraction.")
    webhook_timeout_s: float = Field(default=15, gt=0, description="A 2xx within this long is a delivery.")
    webhook_disable_after_s: float = Field(
        default=5 * 24 * 3600, gt=0, description="An endpoint failing continuously for this long is disabled."
    )
    webhook_secret_grace_s: float = Field(
        default=24 * 3600, ge=0, description="After a rotation the old secret keeps signing this long."
    )
    webhook_max_inline_items: int = Field(
        default=50, ge=0, description="Longer result/input lists are sent as a count and a link."
    )
    webhook_allow_loopback: bool | None = Field(
        default=None, description="Let webhooks reach loopback addresses (default: on in dev mode only)."
    )
    webhook_metrics_port: int | None = Field(
        default=None, description="Serve the notify pool's delivery metrics for Prometheus on this port (unset: off)."
    )

    # -- webhook limits: fan-out per tenant and delivery rate on the notify pool
    webhook_max_endpoints_per_tenant: int = Field(
        default=20, ge=1, description="Webhook endpoints one tenant may register (409 beyond)."
    )
    webhook_max_deliveries_per_tenant_per_minute: int = Field(
        default=600, ge=1,
        description="Delivery attempts per tenant and minute across the notify pool; more wait for the next minute.",
    )

    # -- failures
    run_deadline_default_s: int = Field(default=1800, ge=1, description="A run's deadline unless it asks for another.")
    run_deadline_max_s: int = Field(default=6 * 3600, ge=1, description="The longest deadline a run may ask for.")
    breaker_min_attempts: int = Field(
        default=10, ge=1, description="Inference attempts in the window before the breaker may open."
    )
    breaker_failure_ratio: float = Field(
        default=0.5, gt=0, lt=1, description="The breaker opens when more than this share of the window failed."
    )
    breaker_window_size: int = Field(default=50, ge=1, description="How many recent attempts the window holds.")
    breaker_window_s: float = Field(default=300, gt=0, description="Attempts older than this leave the window.")
    breaker_cooldown_s: float = Field(default=30, gt=0, description="How long an open breaker waits to half-open.")
    # -- blob lifecycle
    lifecycle_interval_s: float = Field(
        default=3600, ge=0, description="How often the blob purge runs (a Temporal Schedule); 0: no schedule."
    )
    lifecycle_retention_days: float = Field(
        default=30, gt=0, description="A run's inputs and outputs are deleted this long after it ended."
    )
    lifecycle_tenant_retention_days: dict[str, float] = Field(
        default_factory=dict, description="Retention per tenant in days (JSON object), instead of the default."
    )
    lifecycle_now: datetime | None = Field(
        default=None, description="The clock blob purges compare against (dev mode only; tests move time with it)."
    )
    fault_injection_file: Path | None = Field(
        default=None, description="JSON file of injected inference faults (dev mode only; see swath.models.faults)."
    )
    # -- traces and logs
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL for traces (e.g. http://otel-collector:4318); unset: the standard "
        "OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, and with neither set tracing is off.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="`text` for a terminal, `json` (one object a line) for containers."
    )

    @field_validator("inference_gpus", mode="before")
    @classmethod
    def _split_device_ids(cls, value: object) -> object:
        return tuple(part.strip() for part in value.split(",")) if isinstance(value, str) else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # `*` would believe any peer's header: anyone could choose their own failure budget.
        for proxy in value:
            try:
                ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {proxy!r} is not an IP address or CIDR") from None
        return value

    @cached_property
    def dsn(self) -> str:
        """The PostgreSQL DSN every process connects to."""
        return self.database_url or f"postgresql://postgres@127.0.0.1:{self.pg_port}/swath"

    @cached_property
    def blob_root(self) -> Path:
        """Root directory of the local blob store."""
        return (self.blob_dir or self.data_dir / "blobs").resolve()

    @property
    def blob_s3_config(self) -> dict[str, str]:
        """The S3 options that are set, as obstore names them (empty: the AWS chain decides)."""
        options = {
            "endpoint": self.blob_endpoint,
            "region": self.blob_region,
            "access_key_id": self.blob_access_key_id,
            "secret_access_key": self.blob_secret_access_key and self.blob_secret_access_key.get_secret_value(),
        }
        return {name: value for name, value in options.items() if value is not None}

    @model_validator(mode="after")
    def _blob_settings_agree(self) -> Settings:
        if self.blob_url is not None and not self.blob_url.startswith(BLOB_URL_SCHEMES):
            raise ValueError(f"blob_url must start with one of {', '.join(BLOB_URL_SCHEMES)}")
        if (self.blob_access_key_id is None) != (self.blob_secret_access_key is None):
            raise ValueError("blob_access_key_id and blob_secret_access_key are set together or not at all")
        if self.blob_s3_config and not (self.blob_url or "").startswith("s3://"):
            raise ValueError("blob_endpoint, blob_region and blob keys apply to an s3:// blob_url only")
        if self.lifecycle_now is not None and self.mode is not Mode.DEV:
            raise ValueError("lifecycle_now moves the purge's clock: dev mode only")
        return self

    @property
    def scene_limits(self) -> SceneLimits:
        """What a scene may cost to open and read."""
        return SceneLimits(
            max_bytes=self.scene_max_bytes, max_pixels=self.scene_max_pixels, max_bands=self.scene_max_bands,
            max_decode_ratio=self.scene_max_decode_ratio,
        )

    @property
    def scene_cache_root(self) -> Path:
        """Scenes pinned for the runs that read them, for GDAL to read."""
        return (self.scene_cache_dir or self.data_dir / "scene-cache").resolve()

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
    def webhook_loopback_allowed(self) -> bool:
        """Whether webhooks may be sent to loopback addresses."""
        if self.webhook_allow_loopback is not None:
            return self.webhook_allow_loopback
        return self.mode is Mode.DEV

    @property
    def dev_api_key_file(self) -> Path:
        """Where `swath up` keeps the dev admin key (mode 600)."""
        return self.data_dir / "dev-api-key"

    def in_dev_mode_unless_set(self) -> Settings:
        """These settings, in dev mode unless `SWATH_MODE` (or `.env`) chose a mode: for `swath up`."""
        return self if "mode" in self.model_fields_set else self.model_copy(update={"mode": Mode.DEV})

    def workflow_ui_url(self, workflow_id: str) -> str:
        """Link to one workflow's history in the Temporal Web UI."""
        return f"{self.ui_base_url}/namespaces/{self.temporal_namespace}/workflows/{workflow_id}"
