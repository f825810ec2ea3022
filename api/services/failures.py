"""Failure guards applied when a run is submitted: its deadline, its fallback, the inference breaker."""

from __future__ import annotations

import logging

from api.clients import Clients
from api.problems import Problem, ProblemType
from swath.domain.errors import ModelNotFoundError
from swath.domain.status import BreakerState
from swath.models.breaker import BreakerPolicy, get_status, list_statuses
from swath.models.registry import ModelManifest
from swath.settings import Settings

log = logging.getLogger(__name__)


def deadline_seconds(settings: Settings, requested: int | None) -> float:
    """The run's deadline: the requested one (at most `run_deadline_max_s`) or the default."""
    if requested is None:
        return float(settings.run_deadline_default_s)
    if requested > settings.run_deadline_max_s:
        raise Problem(
            ProblemType.VALIDATION,
            f"deadline_seconds: {requested} is longer than the maximum of {settings.run_deadline_max_s}",
        )
    return float(requested)


async def fallback_of(clients: Clients, manifest: ModelManifest) -> str | None:
    """The exact `name@version` of the model's declared fallback, resolved now like the model itself."""
    if not manifest.fallback:
        return None
    try:
        return (await clients.registry.lookup(manifest.fallback)).info.ref
    except ModelNotFoundError:
        log.error("%s declares fallback %r, which is not registered; running without one", manifest.info.ref,
                  manifest.fallback)
        return None


async def ensure_breaker_closed(clients: Clients, model: str) -> None:
    """503 with `Retry-After` while the model's inference breaker is open."""
    async with clients.db.acquire() as conn:
        status = await get_status(conn, model=model, policy=BreakerPolicy.from_settings(clients.settings))
    if status.state is BreakerState.OPEN:
        raise Problem(
            ProblemType.CIRCUIT_OPEN,
            f"inference of {model} is failing too often; new runs are refused for now",
            headers={"Retry-After": str(status.retry_after_s)},
            model=model, retry_after_s=status.retry_after_s,
        )


async def breaker_detail(clients: Clients) -> dict[str, str]:
    """Each model's breaker state, for `/readyz`."""
    async with clients.db.acquire(timeout=2) as conn:
        statuses = await list_statuses(conn, policy=BreakerPolicy.from_settings(clients.settings))
    return {s.model: s.state.value for s in statuses}
