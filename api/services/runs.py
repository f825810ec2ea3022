"""Creating, reading, listing and cancelling runs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4, uuid5

from temporalio.client import WorkflowHandle
from temporalio.common import Priority, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.clients import Clients
from api.problems import Problem, ProblemType
from api.schemas import InputItem, RunCreate, RunPage
from api.services import webhooks
from api.services import failures
from swath.observe import metering
from swath.blobstore import SCHEME, key_of
from swath.domain.contracts import AnalysisRunInput, InputRef
from swath.db import items as item_queries
from swath.db import outputs as output_queries
from swath.db import scenes as scene_queries
from swath.db import runs as run_queries
from swath.domain.principal import Principal
from swath.models.registry import ModelManifest
from swath.domain.errors import InvalidBlobRefError, ModelNotFoundError, UrlRefusedError
from swath.temporal import search_attributes as sa
from swath.temporal.catalog import ANALYSIS_RUN
from swath.domain.workflow_ids import run_workflow_id
from swath.domain.redact import redact_url
from swath.imagery import output_names
from swath.domain.run_view import RunOut, to_run_out
from swath.db import tenants as tenant_queries
from swath.domain.priority import DEFAULT_PRIORITY, HIGHEST_PRIORITY
from swath.temporal.priority import run_priority
from swath.settings import Settings
from swath.domain.status import InputKind, ModelTask, RunStatus
from swath.observe.tracing import annotate, current_trace_id

log = logging.getLogger(__name__)

#: Namespace of the deterministic run ids derived from (tenant, Idempotency-Key).
_IDEMPOTENT_RUNS = UUID("6f0b7c1e-2d4a-4c55-9a57-5f1f3e0d8a21")
#: When a tenant at its run caps is told to try again: about when a few of its runs will have moved on.
QUOTA_RETRY_AFTER_S = 10


def tenant_prefix(tenant: str) -> str:
    """Blob keys a tenant may reference start with this."""
    return f"tenants/{tenant}/"


@dataclass(frozen=True)
class CheckedInput:
    """An input that passed every check; `data` is inline bytes still to be written."""

    id: str
    media_type: str | None
    uri: str | None = None
    data: bytes | None = None
    kind: str = "tile"
    #: `uri` locates a STAC item; `data`, when set, is an inline item's JSON.
    stac_item: bool = False
    bands: dict[str, str] = field(default_factory=dict)
    assets: dict[str, str] = field(default_factory=dict)
    aoi: dict[str, Any] | None = None
    aoi_crs: str = ""
    resolution: float | None = None

    def urls(self) -> list[tuple[str, str]]:
        """(what, URL) of each remote location this input names, for the SSRF guard."""
        found = [("", self.uri)] if self.uri is not None and not self.uri.startswith(SCHEME) else []
        return found + [(f" band {b}", u) for b, u in self.bands.items() if not u.startswith(SCHEME)]


async def create_run(clients: Clients, principal: Principal, body: RunCreate, idempotency_key: str | None) -> RunOut:
    """Validate, store the run, start its workflow; replays of an idempotency key return the same run.

    Every input is checked before anything is written; inline inputs are then written under a key of
    this request's own, and removed again unless this request created the run (or started its workflow).
    """
    settings = clients.settings
    # The request's trace is the run's: the workflow and its activities continue it.
    trace_id = current_trace_id()
    # The default priority is left out, so a request hashes as it did before runs had priorities.
    hashed = body.model_dump(mode="json", exclude={"priority"} if body.priority == DEFAULT_PRIORITY else None)
    request_hash = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()
    if idempotency_key:
        existing = await _replay(clients, principal, idempotency_key, request_hash)
        if existing:
            return existing
    # Keyed runs get a deterministic id: if we crash after Temporal accepted the workflow but before
    # the row committed, the client's retry finds that same workflow instead of starting a second.
    # The id also picks the version of a weighted (canary) alias, so a retry resolves the same one.
    run_id = uuid5(_IDEMPOTENT_RUNS, f"{principal.tenant}\n{idempotency_key}") if idempotency_key else uuid4()
    manifest, checked = await validate_submission(clients, principal, body, run_id=str(run_id))
    deadline_s = failures.deadline_seconds(settings, body.deadline_seconds)
    await failures.ensure_breaker_closed(clients, manifest.info.ref)
    weight = await _admit(clients, principal.tenant)

    annotate(run_id=str(run_id))
    # Concurrent requests with one key share the run id, so each writes under its own folder.
    folder = f"{tenant_prefix(principal.tenant)}inputs/{run_id}/{uuid4().hex}"
    written: list[str] = []
    # The blobs stay with a run this request created, and with a workflow it started even if the row
    # then failed to commit (that workflow reads them; the client's retry finds it).
    keep = False
    try:
        refs = [await input_ref(clients, folder, item, written) for item in checked]
        submitted = {
            "model": body.model,
            "inputs": [_submitted(r) for r in refs],
            "params": body.params,
            "deadline_seconds": body.deadline_seconds,
            "priority": body.priority,
        }
        run_input = AnalysisRunInput(
            run_id=str(run_id), tenant=principal.tenant, model=manifest.info.ref, inputs=refs,
            chunk_size=settings.inference_chunk_size, params=body.params,
            fallback_model=await failures.fallback_of(clients, manifest), deadline_seconds=deadline_s,
            scene_block_size=settings.scene_block_size, scene_block_concurrency=settings.scene_block_concurrency,
            scene_blocks_per_history=settings.scene_blocks_per_history,
        )
        # The row commits only once Temporal accepted the workflow: no run is stored that will never run.
        async with clients.db.acquire() as conn, conn.transaction():
            row = await run_queries.insert_run(
                conn, run_id=run_id, tenant=principal.tenant, model_ref=body.model,
                model_resolved=manifest.info.ref, input=submitted, idempotency_key=idempotency_key,
                request_hash=request_hash, items_total=len(refs), trace_id=trace_id, priority=body.priority,
            )
            if row is not None:
                if body.webhook:
                    await webhooks.store_run_webhook(conn, run_id=run_id, webhook=body.webhook)
                priority = run_priority(priority=body.priority, tenant=principal.tenant, weight=weight)
                keep = await _start_workflow(clients, run_input, trace_id, priority)
        keep = row is not None
    finally:
        if not keep:
            await delete_blobs(clients, written)
    if row is not None:
        metering.TENANT_RUNS.labels(principal.tenant).inc()
    if row is None:  # a concurrent request with the same key won the race
        replayed = await _replay(clients, principal, idempotency_key or "", request_hash)
        assert replayed is not None
        return replayed
    return to_run_out(row, None, settings)


async def validate_submission(
    clients: Clients, principal: Principal, body: RunCreate, *, run_id: str | None = None
) -> tuple[ModelManifest, list[CheckedInput]]:
    """The checks every submission passes before anything is written (an estimate's too): the model
    (a weighted alias resolved for `run_id`), the input count and ids, each input, every URL through
    the SSRF guard, and the priority."""
    settings = clients.settings
    try:
        manifest = await clients.registry.lookup(body.model, tenant=principal.tenant, run_id=run_id)
    except ModelNotFoundError as err:
        raise Problem(ProblemType.UNKNOWN_MODEL, str(err)) from None
    annotate(tenant=principal.tenant, model=manifest.info.ref)
    if len(body.inputs) > settings.max_items_per_run:  # API bodies are refused while parsing; redrives land here
        raise Problem(
            ProblemType.TOO_MANY_ITEMS, f"{len(body.inputs)} inputs; at most {settings.max_items_per_run} per run"
        )
    ids = [item.id for item in body.inputs]
    if len(set(ids)) != len(ids):
        raise Problem(ProblemType.VALIDATION, "input ids must be unique within a run")
    default_kind = InputKind.SCENE if manifest.task == ModelTask.SEGMENTATION else InputKind.TILE
    checked = [
        _check_input(settings, principal, item, item.kind or (InputKind.SCENE if _per_band(item) else default_kind))
        for item in body.inputs
    ]
    if manifest.task == ModelTask.SEGMENTATION and any(item.kind == InputKind.TILE for item in checked):
        raise Problem(ProblemType.VALIDATION, f"{manifest.info.ref} maps scenes; it takes no `tile` inputs")
    for item in checked:
        if item.kind == InputKind.SCENE and (suffix := output_names.reserved_suffix_of(item.id)):
            raise Problem(
                ProblemType.VALIDATION,
                f"input {item.id!r}: a scene's id may not end in {suffix!r}, which names confidence maps",
            )
    await _check_urls(clients, checked, body.webhook.url if body.webhook else None)
    _check_priority(settings, principal, body.priority)
    return manifest, checked


async def _replay(clients: Clients, principal: Principal, key: str, request_hash: str) -> RunOut | None:
    async with clients.db.acquire() as conn:
        row = await run_queries.get_run_by_idempotency_key(conn, tenant=principal.tenant, idempotency_key=key)
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        raise Problem(ProblemType.IDEMPOTENCY_CONFLICT, "this Idempotency-Key was used with a different request")
    return await get_run(clients, principal, row["id"])


def _check_priority(settings: Settings, principal: Principal, priority: int) -> None:
    """The highest priority is kept for callers holding `top_priority_scope` (or `admin`)."""
    needed = settings.top_priority_scope
    if priority == HIGHEST_PRIORITY and needed not in principal.scopes and "admin" not in principal.scopes:
        raise Problem(ProblemType.FORBIDDEN, f"priority {HIGHEST_PRIORITY} needs the {needed!r} scope")


async def _admit(clients: Clients, tenant: str) -> float:
    """429 when the tenant is at one of its run caps; otherwise its fairness weight.

    The caps are counted, not locked: requests racing past the check together may overshoot a cap
    by as many as raced (a lock would serialise every submission of a tenant behind Temporal's answer).
    """
    settings = clients.settings
    async with clients.db.acquire() as conn:
        row = await tenant_queries.get_tenant(conn, tenant=tenant)
        queued, processing = await tenant_queries.unfinished_runs(conn, tenant=tenant)
    max_queued = settings.tenant_max_queued_runs if row is None or row["max_queued_runs"] is None else row["max_queued_runs"]
    max_active = settings.tenant_max_active_runs if row is None or row["max_active_runs"] is None else row["max_active_runs"]
    retry = {"Retry-After": str(QUOTA_RETRY_AFTER_S)}
    if queued >= max_queued:
        raise Problem(ProblemType.RUN_QUOTA, f"tenant {tenant} has {queued} runs queued; its cap is {max_queued}",
                      headers=retry)
    if queued + processing >= max_active:
        raise Problem(ProblemType.RUN_QUOTA,
                      f"tenant {tenant} has {queued + processing} runs unfinished; its cap is {max_active}",
                      headers=retry)
    return tenant_queries.DEFAULT_WEIGHT if row is None else float(row["fairness_weight"])


async def _start_workflow(
    clients: Clients, run_input: AnalysisRunInput, trace_id: str | None, priority: Priority
) -> bool:
    """Start the run's workflow at its priority; `False` when an earlier attempt had already started it.

    The Temporal UI's workflow list shows the summary, ending with the run's trace id (when
    tracing is on) to look the trace up by.
    """
    try:
        await ANALYSIS_RUN.start(
            clients.temporal,
            run_input,
            id=run_workflow_id(run_input.run_id),
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(sa.TENANT, run_input.tenant),
                SearchAttributePair(sa.MODEL, run_input.model),
            ]),
            static_summary=_summary(run_input, trace_id),
            priority=priority,
        )
    except WorkflowAlreadyStartedError:
        return False
    except RPCError as err:  # Temporal unreachable: the transaction rolls back, the client may retry
        raise Problem(ProblemType.UNAVAILABLE, "cannot reach Temporal; retry later", headers={"Retry-After": "5"}) from err
    return True


def _summary(run_input: AnalysisRunInput, trace_id: str | None) -> str:
    """`crop-classifier@1.0.0 · 50 tiles · tenant acme · trace <32 hex>`: the run's line in the Temporal UI."""
    summary = f"{run_input.model} · {_inputs_summary(run_input)} · tenant {run_input.tenant}"
    return f"{summary} · trace {trace_id}" if trace_id else summary


def _inputs_summary(run_input: AnalysisRunInput) -> str:
    """`50 tiles`, `1 scene`, `3 tiles, 1 scene`: what the Temporal UI shows of a run's inputs."""
    scenes = sum(1 for i in run_input.inputs if i.kind == InputKind.SCENE)
    tiles = len(run_input.inputs) - scenes
    parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((tiles, "tile"), (scenes, "scene")) if n]
    return ", ".join(parts)


def _per_band(item: InputItem) -> bool:
    return item.bands is not None or item.stac_item is not None


def _submitted(ref: InputRef) -> dict[str, Any]:
    """An input as the run's record keeps it (what the API shows as the submitted request)."""
    shown: dict[str, Any] = {"id": ref.id, "uri": ref.uri, "media_type": ref.media_type, "kind": ref.kind}
    if ref.stac_item:
        shown["stac_item"] = True
    for name in ("bands", "band_assets", "aoi", "aoi_crs", "resolution"):
        if value := getattr(ref, name):
            shown[name] = value
    return shown


def _check_blob(principal: Principal, item_id: str, uri: str) -> None:
    try:
        allowed = key_of(uri).startswith(tenant_prefix(principal.tenant))
    except InvalidBlobRefError as err:
        raise Problem(ProblemType.VALIDATION, f"input {item_id!r}: {err}") from None
    if not allowed:
        raise Problem(ProblemType.VALIDATION, f"input {item_id!r}: blob {uri} is not in this tenant's store")


def _check_band_input(settings: Settings, principal: Principal, item: InputItem) -> CheckedInput:
    """A `bands` or `stac_item` input: its blobs in the tenant's store, an inline item within the size cap."""
    extra = dict(
        assets=dict(item.assets or {}), aoi=item.aoi, aoi_crs=item.crs or "", resolution=item.resolution,
    )
    if item.bands is not None:
        for uri in item.bands.values():
            if uri.startswith(SCHEME):
                _check_blob(principal, item.id, uri)
            elif not uri.lower().startswith(("http://", "https://")):
                raise Problem(ProblemType.VALIDATION, f"input {item.id!r}: a band is a `blob://` or `https://` file")
        return CheckedInput(id=item.id, media_type=None, kind=InputKind.SCENE, bands=dict(item.bands), **extra)
    if isinstance(item.stac_item, dict):
        data = json.dumps(item.stac_item).encode()
        if len(data) > settings.max_item_bytes:
            raise Problem(
                ProblemType.PAYLOAD_TOO_LARGE,
                f"input {item.id!r}: the STAC item is {len(data)} bytes; the limit is {settings.max_item_bytes}",
            )
        return CheckedInput(id=item.id, media_type="application/geo+json", data=data, kind=InputKind.SCENE, stac_item=True,
                             **extra)
    uri = item.stac_item or ""
    if uri.startswith(SCHEME):
        _check_blob(principal, item.id, uri)
    return CheckedInput(id=item.id, media_type="application/geo+json", uri=uri, kind=InputKind.SCENE, stac_item=True, **extra)


def _check_input(settings: Settings, principal: Principal, item: InputItem, kind: str) -> CheckedInput:
    """Decode and size inline data, check blob refs; URLs are checked together afterwards. Writes nothing."""
    if _per_band(item):
        return _check_band_input(settings, principal, item)
    if kind == InputKind.SCENE and item.data is not None:
        raise Problem(
            ProblemType.VALIDATION,
            f"input {item.id!r}: a scene is sent by `uri` (upload it with PUT /v1/blobs/{{name}}), not inline",
        )
    if item.data is not None:
        try:
            data = base64.b64decode(item.data, validate=True)
        except (binascii.Error, ValueError):
            raise Problem(ProblemType.VALIDATION, f"input {item.id!r}: `data` is not valid base64") from None
        if len(data) > settings.max_item_bytes:
            raise Problem(
                ProblemType.PAYLOAD_TOO_LARGE,
                f"input {item.id!r} is {len(data)} bytes; the limit is {settings.max_item_bytes}",
            )
        return CheckedInput(id=item.id, media_type=item.media_type, data=data)
    uri = item.uri
    if uri.startswith(SCHEME):
        try:
            allowed = key_of(uri).startswith(tenant_prefix(principal.tenant))
        except InvalidBlobRefError as err:
            raise Problem(ProblemType.VALIDATION, f"input {item.id!r}: {err}") from None
        if not allowed:
            raise Problem(ProblemType.VALIDATION, f"input {item.id!r}: blob {uri} is not in this tenant's store")
    return CheckedInput(id=item.id, media_type=item.media_type, uri=uri, kind=kind)


async def _check_urls(clients: Clients, checked: list[CheckedInput], webhook_url: str | None) -> None:
    """The SSRF guard on every URL input and the webhook, concurrently but at most
    `url_check_concurrency` at a time; the first refusal in submission order is the answer."""
    limit = asyncio.Semaphore(clients.settings.url_check_concurrency)

    async def input_url(item: CheckedInput, what: str, url: str) -> None:
        try:
            await clients.guard.check(url)
        except UrlRefusedError as err:
            raise Problem(ProblemType.URL_REFUSED, f"input {item.id!r}{what}: {err}") from None

    async def bounded(check: Awaitable[None]) -> None:
        async with limit:
            await check

    checks = [input_url(item, what, url) for item in checked for what, url in item.urls()]
    if webhook_url is not None:
        checks.append(webhooks.check_url(clients, webhook_url))
    outcomes = await asyncio.gather(*(bounded(c) for c in checks), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def input_ref(clients: Clients, folder: str, item: CheckedInput, written: list[str]) -> InputRef:
    """A checked input as the workflow gets it: inline data written to the blob store, and so is a
    URL that carries a secret, the payload keeping only its redacted form (writes noted in `written`)."""
    extra = dict(
        stac_item=item.stac_item, bands=item.bands, band_assets=item.assets, aoi=item.aoi, aoi_crs=item.aoi_crs,
        resolution=item.resolution,
    )
    if item.bands:
        return InputRef(id=item.id, uri="", kind=item.kind, **extra)
    if item.data is None:
        shown = redact_url(item.uri)
        if shown == item.uri:
            return InputRef(id=item.id, uri=item.uri, media_type=item.media_type, kind=item.kind, **extra)
        sealed = await clients.blobs.put(f"{folder}/{item.id}.url", item.uri.encode())
        written.append(sealed)
        return InputRef(id=item.id, uri=shown, media_type=item.media_type, url_ref=sealed, kind=item.kind, **extra)
    ref = await clients.blobs.put(f"{folder}/{item.id}" + (".json" if item.stac_item else ""), item.data)
    written.append(ref)
    return InputRef(id=item.id, uri=ref, media_type=item.media_type, kind=item.kind, **extra)


async def delete_blobs(clients: Clients, refs: list[str]) -> None:
    for ref in refs:
        try:
            await clients.blobs.delete(ref)
        except Exception:  # cleanup must not hide the error that caused it; the orphan is logged
            log.exception("could not delete %s written by a refused request", ref)


async def get_run(clients: Clients, principal: Principal, run_id: UUID) -> RunOut:
    """One run of the caller's tenant (404 for anyone else's)."""
    async with clients.db.acquire() as conn:
        row = await run_queries.get_run(conn, tenant=principal.tenant, run_id=run_id)
        if row is None:
            raise Problem(ProblemType.NOT_FOUND, f"no run {run_id}")
        complete = row["status"] == RunStatus.COMPLETE
        items = await item_queries.list_items(conn, run_id=run_id) if complete else None
        maps = await scene_queries.list_maps(conn, run_id=run_id) if complete else None
        outputs = await output_queries.list_outputs(conn, run_id=run_id)
    return to_run_out(row, items, clients.settings, outputs, maps)


async def list_runs(
    clients: Clients, principal: Principal, *, status: RunStatus | None, limit: int, cursor: str | None
) -> RunPage:
    """Newest first; `next_cursor` continues after the last run of this page."""
    after = _decode_cursor(cursor) if cursor else None
    async with clients.db.acquire() as conn:
        rows = await run_queries.list_runs(conn, tenant=principal.tenant, status=status, limit=limit + 1, after=after)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = _encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return RunPage(items=[to_run_out(r, None, clients.settings) for r in page], next_cursor=next_cursor)


async def cancel_run(clients: Clients, principal: Principal, run_id: UUID) -> RunOut:
    """Ask the workflow to cancel; a finished run answers 409."""
    run = await get_run(clients, principal, run_id)
    if RunStatus(run.status).terminal:
        raise Problem(ProblemType.RUN_ALREADY_FINISHED, f"run {run_id} is already {run.status}")
    handle: WorkflowHandle = clients.temporal.get_workflow_handle(run_workflow_id(run_id))
    await handle.cancel()
    return run


def _encode_cursor(created_at: datetime, run_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{run_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        created, run_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), UUID(run_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise Problem(ProblemType.VALIDATION, "invalid cursor") from None
