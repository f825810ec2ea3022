"""`Clients`: everything routes need, made once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from temporalio.client import Client

from swath.blobstore import BlobStore
from swath.models.store import StoredRegistry
from swath.outbound.urlguard import UrlGuard
from swath.settings import Settings


@dataclass(frozen=True)
class Clients:
    """Ready clients and settings for one API process."""

    settings: Settings
    db: asyncpg.Pool
    temporal: Client
    blobs: BlobStore
    registry: StoredRegistry
    guard: UrlGuard
