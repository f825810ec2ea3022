"""`open_blob_store`: the one place settings choose the blob store every process uses."""

from __future__ import annotations

from obstore.exceptions import BaseError as ObstoreError
from obstore.store import from_url

from swath.blobstore.local import LocalBlobStore
from swath.blobstore.object_store import ObjectBlobStore
from swath.blobstore.store import BlobStore
from swath.domain.errors import BlobStoreSettingsError
from swath.settings import Settings


def open_blob_store(settings: Settings) -> BlobStore:
    """The local directory store, or the object store `SWATH_BLOB_URL` names.

    S3 options left unset come from the standard AWS chain (environment, web identity, container
    or instance credentials); GCS and Azure read their own environment (`GOOGLE_SERVICE_ACCOUNT`,
    `AZURE_STORAGE_ACCOUNT_NAME`, … as obstore names them) or the pod's workload identity. A store
    that cannot be opened so is `BlobStoreSettingsError`, with obstore's reason.
    """
    if settings.blob_url is None:
        return LocalBlobStore(settings.blob_root)
    try:
        store = from_url(
            settings.blob_url,
            client_options={"allow_http": settings.blob_allow_http},
            **settings.blob_s3_config,
        )
    except ObstoreError as err:
        # The first line is the reason; the rest is obstore's debug dump of the whole error chain.
        reason = str(err).strip().splitlines()[0]
        raise BlobStoreSettingsError(f"cannot open the blob store {settings.blob_url}: {reason}") from None
    return ObjectBlobStore(store, part_size=settings.blob_part_size)
