"""The blob store: inputs, staged tensors and outputs, addressed by `blob://<key>` references.

Offers the `BlobStore` interface, its two implementations (`LocalBlobStore`, a directory, and
`ObjectBlobStore`, an S3-compatible, GCS or Azure bucket), `open_blob_store` (the one chosen by
settings), and the reference helpers every payload goes through.
"""

from swath.blobstore.factory import open_blob_store
from swath.blobstore.local import LocalBlobStore
from swath.blobstore.object_store import ObjectBlobStore
from swath.blobstore.refs import SCHEME, checked_key, key_of, ref_of
from swath.blobstore.store import STREAM_CHUNK_BYTES, BlobInfo, BlobStore

__all__ = [
    "SCHEME",
    "STREAM_CHUNK_BYTES",
    "BlobInfo",
    "BlobStore",
    "LocalBlobStore",
    "ObjectBlobStore",
    "checked_key",
    "key_of",
    "open_blob_store",
    "ref_of",
]
