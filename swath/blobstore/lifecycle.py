"""The blob lifecycle's policy: how long a tenant's inputs, outputs and uploads are kept, which
blobs are a run's, and the clock purges read (settable in dev mode, so tests move time instead of
waiting)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from swath.settings import Settings

#: A temp file nobody wrote to for this long belongs to a write that will never finish (its process
#: died). Far longer than any upload may send nothing (`upload_read_timeout_s`), so a live upload
#: is never taken for a crashed one.
STALE_TEMP_AFTER = timedelta(hours=6)
#: The folder under which each tenant's blobs lie (`tenants/<tenant>/…`).
TENANTS_PREFIX = "tenants"


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each tenant's run blobs live after the run ended; `now` fixes the clock."""

    default: timedelta = timedelta(days=30)
    per_tenant: dict[str, timedelta] = field(default_factory=dict)
    now: datetime | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        """The policy the settings describe."""
        return cls(
            default=timedelta(days=settings.lifecycle_retention_days),
            per_tenant={t: timedelta(days=d) for t, d in settings.lifecycle_tenant_retention_days.items()},
            now=settings.lifecycle_now,
        )

    def clock(self) -> datetime:
        """The time purges compare against."""
        return self.now or datetime.now(UTC)

    def cutoff_of(self, tenant: str, now: datetime) -> datetime:
        """What of `tenant` was written (or ended) before this is past retention."""
        return now - self.per_tenant.get(tenant, self.default)

    def cutoffs(self, now: datetime) -> tuple[dict[str, datetime], datetime]:
        """Per-tenant and default cutoffs: runs that ended before theirs are past retention."""
        return {t: now - keep for t, keep in self.per_tenant.items()}, now - self.default


def staged_prefix(run_id: object) -> str:
    """Where ingest stages a run's tensors."""
    return f"staged/{run_id}"


def uploads_prefix(tenant: str) -> str:
    """Where a tenant's uploads (`PUT /v1/blobs/{name}`) live; they belong to no run, so they are
    kept for the tenant's retention after they were last written."""
    return f"{TENANTS_PREFIX}/{tenant}/uploads"


def retained_prefixes(tenant: str, run_id: object) -> list[str]:
    """A run's blobs that live until its tenant's retention ends: inputs, outputs (and staged)."""
    return [f"tenants/{tenant}/inputs/{run_id}", f"tenants/{tenant}/outputs/{run_id}", staged_prefix(run_id)]
