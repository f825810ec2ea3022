"""Connecting to Temporal: the embedded dev server or an existing cluster (TLS, mTLS, API key)."""

from __future__ import annotations

import asyncio
import logging
import time

from temporalio.client import Client, TLSConfig
from temporalio.runtime import Runtime

from swath.observe.tracing import temporal_interceptors
from swath.settings import Settings
from swath.temporal.converter import DATA_CONVERTER
from swath.temporal.namespace import ensure_ready


log = logging.getLogger(__name__)

#: How long a starting process waits for Temporal (e.g. while the dev server restarts).
CONNECT_TIMEOUT_S = 60.0


async def connect_temporal(
    settings: Settings, *, timeout: float = CONNECT_TIMEOUT_S, runtime: Runtime | None = None
) -> Client:
    """A client for the configured address and namespace, retrying while Temporal is unreachable.

    Refuses (`TemporalSetupError`) a namespace that is missing or lacks Swath's search attributes.
    `runtime` is the SDK runtime to connect in (a pool's, which exports the SDK's metrics); unset:
    the SDK's default.
    """
    client = await connect_unchecked(settings, timeout=timeout, runtime=runtime)
    await ensure_ready(client)
    return client


async def connect_unchecked(
    settings: Settings, *, timeout: float = CONNECT_TIMEOUT_S, runtime: Runtime | None = None
) -> Client:
    """A client like `connect_temporal`'s, for setting the namespace up: its readiness is not checked."""
    deadline = time.monotonic() + timeout
    delay = 0.25
    while True:
        try:
            return await _connect(settings, runtime)
        except RuntimeError as err:  # the SDK's bridge reports connection failures as RuntimeError
            if time.monotonic() + delay > deadline:
                raise
            log.warning("Temporal at %s is unreachable (%s); retrying in %.1fs", settings.temporal_address, err, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _connect(settings: Settings, runtime: Runtime | None) -> Client:
    tls: TLSConfig | bool = False
    if settings.temporal_tls_cert or settings.temporal_tls_ca:
        tls = TLSConfig(
            server_root_ca_cert=settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None,
            client_cert=settings.temporal_tls_cert.read_bytes() if settings.temporal_tls_cert else None,
            client_private_key=settings.temporal_tls_key.read_bytes() if settings.temporal_tls_key else None,
        )
    elif settings.temporal_tls or settings.temporal_api_key:
        tls = True
    return await Client.connect(
        settings.temporal_address,
        # Tracing, when it is on; every worker built on the client inherits the client's interceptors.
        interceptors=temporal_interceptors(),
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        tls=tls,
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
        runtime=runtime,
    )
