"""Connecting to Temporal: the embedded dev server or an existing cluster (TLS, mTLS, API key)."""

from __future__ import annotations

from temporalio.client import Client, TLSConfig

from swath.settings import Settings


async def connect_temporal(settings: Settings) -> Client:
    """A client for the configured address and namespace."""
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
        namespace=settings.temporal_namespace,
        tls=tls,
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
    )
