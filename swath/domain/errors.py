"""Every exception Swath defines, and the codes runs and items fail with.

The tree (a caller that wants any Swath error catches `SwathError`; the builtin bases on the right
are kept because callers catch those too):

* SwathError
  * ItemProblem                       - one input cannot be analysed; an item-level error, the run goes on
    * SceneError                      - a scene (GeoTIFF/COG) cannot be read as asked; `code` says why
      * NotARasterError               - the file is not a GeoTIFF that GDAL can open
      * TruncatedRasterError          - the file opens but its pixel data is cut short
      * SceneTooLargeError            - the file is larger than a limit, or would decode to too much
      * SceneDecodeTimeoutError       - decoding the file took longer than its time limit; it was stopped
      * SceneChangedError             - the blob no longer holds the bytes the run inspected
    * RemoteReadError                 - a byte range of a remote band file could not be fetched after its retries
      * MissingBandsError             - the bands the model needs are not all in the file
  * ModelNotFoundError (LookupError)  - no such model, version or alias in the registry
  * WeightsChecksumError (ValueError) - a weights file differs from its manifest's sha256
  * ModelRejectedError (ValueError)   - a pushed model version fails validation; `str()` is the reason
    * UnsafeArtefactError             - the artefact could execute code or read outside itself
  * GpuOutOfMemoryError (MemoryError) - one item's forward pass runs out of GPU memory even alone
  * UrlRefusedError (ValueError)      - a URL's scheme or destination is not allowed
  * BlobError
    * BlobNotFoundError (LookupError) - no object under a `blob://` reference
    * InvalidBlobRefError (ValueError) - not a well-formed `blob://` reference
    * BlobRangeError (ValueError)     - a ranged read (or a requested HTTP range) outside the blob
    * BlobChangedError                - a read pinned to a blob's version (ETag) found it replaced
    * StagedBatchError (ValueError)   - a staged batch of tiles is not the array ingest writes
  * CredentialsError                  - the caller's credential is not acceptable; `str()` is safe to show
    * AuthenticationFailed            - no acceptable credential on a request
    * TokenRejected                   - a JWT failed verification
  * WebhookEndpointError              - a webhook endpoint cannot be registered as asked
    * EndpointLimitError              - the tenant has as many endpoints as it may
    * DuplicateEndpointError          - the tenant has an endpoint for this destination already
  * StartupError (RuntimeError)       - a process refuses to start or cannot
    * InsecureSettingsError           - the settings would make the service unsafe
    * FaultInjectionRefusedError      - fault injection configured outside dev mode
    * PortInUseError                  - a port Swath wants to listen on is taken
    * PrometheusMissingError          - `swath up --observe` without a Prometheus server installed
    * ChildExitedError                - a supervised child exited before it was ready
    * TemporalSetupError              - the namespace is missing or lacks Swath's search attributes
    * TimeoutSettingsError            - timeouts that must agree do not (e.g. webhook HTTP vs attempt)
    * BlobStoreSettingsError          - `SWATH_BLOB_URL` names a store that cannot be opened as configured
    * PoolProcessesError              - the inference processes and GPUs configured disagree
    * UndrainedVersionsError          - runs of a workflow type this build no longer hosts are open
  * CrateError                        - a run's RO-Crate does not say what the Workflow Run Crate profile requires
  * DownloadError                     - a downloaded output cannot be kept (bad sha256, unsafe name)

Failures that cross Temporal travel as `ApplicationError`s whose `type` is an `ErrorType`, and
item errors as `ItemErrorCode`s; both are below. The HTTP package answers every refusal with an
`api.problems.Problem` (raised in routes, never outside `api`), which is not part of this tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import ClassVar
from uuid import UUID


class ErrorType(StrEnum):
    """Run-level failure codes; also used as Temporal `ApplicationError.type`."""

    INVALID_INPUT = "invalid_input"
    MODEL_NOT_FOUND = "model_not_found"
    WEIGHTS_CHECKSUM_MISMATCH = "weights_checksum_mismatch"
    NO_VALID_ITEMS = "no_valid_items"
    INFERENCE_FAILED = "inference_failed"
    GPU_OUT_OF_MEMORY = "gpu_out_of_memory"
    #: The primary model's breaker is open: the chunk goes to the fallback instead.
    CIRCUIT_OPEN = "circuit_open"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    INTERNAL = "internal_error"


#: Errors that no retry can fix: the workflow fails fast on them.
NON_RETRYABLE = (
    ErrorType.INVALID_INPUT,
    ErrorType.MODEL_NOT_FOUND,
    ErrorType.WEIGHTS_CHECKSUM_MISMATCH,
    ErrorType.NO_VALID_ITEMS,
)

#: Failures caused by the request itself: redriving it cannot help, so they are not dead-lettered.
CALLER_ERRORS = frozenset({ErrorType.INVALID_INPUT, ErrorType.MODEL_NOT_FOUND, ErrorType.NO_VALID_ITEMS})


class ItemErrorCode(StrEnum):
    """Why one input of a run could not be analysed; the rest of the run goes on."""

    UNDECODABLE = "undecodable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    WRONG_BAND_COUNT = "wrong_band_count"
    WRONG_SHAPE = "wrong_shape"
    TOO_LARGE = "too_large"
    FETCH_FAILED = "fetch_failed"
    URL_REFUSED = "url_refused"
    NOT_FOUND = "not_found"
    NOT_A_RASTER = "not_a_raster"
    TRUNCATED_RASTER = "truncated_raster"
    SCENE_TOO_LARGE = "scene_too_large"
    MISSING_BANDS = "missing_bands"
    #: Decoding the scene took longer than its time limit (`SWATH_SCENE_DECODE_TIMEOUT_S`).
    DECODE_TIMEOUT = "decode_timeout"
    #: The scene's blob was replaced after the run inspected it, and its pinned copy is gone.
    SCENE_CHANGED = "scene_changed"
    #: A STAC item that cannot be read, or whose assets cannot give the model's bands.
    INVALID_STAC_ITEM = "invalid_stac_item"
    #: A band's pixels are too coarse (or too fine) to be resampled onto the scene's grid.
    UNUSABLE_RESOLUTION = "unusable_resolution"
    #: The area of interest is not a usable geometry, or lies outside the scene.
    INVALID_AOI = "invalid_aoi"
    #: The model's forward pass raised on this input alone (the batcher isolated it).
    INFERENCE_FAILED = "inference_failed"


class SwathError(Exception):
    """The base of every exception Swath defines."""


class ItemProblem(SwathError):
    """Raised while ingesting one item; becomes an item-level error, never a run failure."""

    def __init__(self, code: ItemErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SceneError(ItemProblem):
    """A scene cannot be read as asked; each subclass fixes its `code`."""

    CODE: ClassVar[ItemErrorCode]

    def __init__(self, message: str) -> None:
        super().__init__(self.CODE, message)


class NotARasterError(SceneError):
    """The file is not a GeoTIFF (or COG) that GDAL can open, or it has no bands."""

    CODE = ItemErrorCode.NOT_A_RASTER


class TruncatedRasterError(SceneError):
    """The file opens, but reading its pixels fails: the data is cut short or corrupt."""

    CODE = ItemErrorCode.TRUNCATED_RASTER


class SceneTooLargeError(SceneError):
    """The file is over a limit (bytes, pixels, bands, tiles, decoded bytes); nothing of it was decoded."""

    CODE = ItemErrorCode.SCENE_TOO_LARGE


class SceneDecodeTimeoutError(SceneError):
    """Decoding the scene took longer than its time limit; the decode was stopped."""

    CODE = ItemErrorCode.DECODE_TIMEOUT


class SceneChangedError(SceneError):
    """The scene's blob no longer holds the bytes the run inspected (it was replaced), and no pinned
    copy of those bytes is left to read."""

    CODE = ItemErrorCode.SCENE_CHANGED


class MissingBandsError(SceneError):
    """The scene lacks bands the model needs; `missing` names every one of them."""

    CODE = ItemErrorCode.MISSING_BANDS

    def __init__(self, missing: Sequence[str], available: Sequence[str]) -> None:
        shown = ", ".join(available) if available else "none named"
        super().__init__(f"scene lacks bands {', '.join(missing)} (it has: {shown})")
        self.missing = tuple(missing)
        self.available = tuple(available)

    def __reduce__(self):
        # Raised in a decoder process and re-raised in the pool's: rebuilt from what it was given.
        return type(self), (self.missing, self.available)


class RemoteReadError(ItemProblem):
    """A byte range of a remote band file could not be fetched after its retries (the block step
    retries as a whole)."""

    def __init__(self, message: str) -> None:
        super().__init__(ItemErrorCode.FETCH_FAILED, message)


class CrateError(SwathError):
    """A run's RO-Crate does not say what the Workflow Run Crate profile requires."""


class ModelNotFoundError(SwathError, LookupError):
    """The requested model, version or alias is not in the registry."""


class WeightsChecksumError(SwathError, ValueError):
    """The weights file's sha256 differs from the one recorded in its manifest."""


class ModelRejectedError(SwathError, ValueError):
    """A pushed model version fails validation; the message is the reason its owner reads."""


class UnsafeArtefactError(ModelRejectedError):
    """An artefact that could execute code when loaded (pickles beyond plain tensors, compiled
    code, custom operators, graph guards) or read files outside itself (ONNX external data)."""


class GpuOutOfMemoryError(SwathError, MemoryError):
    """A forward pass ran out of GPU memory with its batch halved down to this one item.

    The inference pool halves a batch that runs out of memory and retries the halves, so only an
    item too large on its own gets this; its run fails with `gpu_out_of_memory` (retryable: the
    memory may be free on the next attempt, or on another pool's GPU).
    """


def inference_error_type(err: BaseException) -> ErrorType:
    """The run-level code of an item whose forward pass failed with `err`."""
    return ErrorType.GPU_OUT_OF_MEMORY if isinstance(err, GpuOutOfMemoryError) else ErrorType.INFERENCE_FAILED


class UrlRefusedError(SwathError, ValueError):
    """The URL's scheme or destination is not allowed.

    `str()` is fixed wording that never contains resolved addresses or resolver/connect errors;
    `detail` has those, for server logs only.
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message


class BlobError(SwathError):
    """A blob reference cannot be served."""


class BlobNotFoundError(BlobError, LookupError):
    """No object under that reference."""


class InvalidBlobRefError(BlobError, ValueError):
    """The reference is not a well-formed `blob://` key."""


class BlobRangeError(BlobError, ValueError):
    """A ranged read starts at or past the blob's end, or asks for no bytes."""


class BlobChangedError(BlobError):
    """The blob no longer is the version (ETag) a read was asked to match: it was replaced."""


class StagedBatchError(BlobError, ValueError):
    """A staged batch blob is not a float32 `(tiles, bands, height, width)` array of the model's
    shape: it was corrupted or written by something else. No retry mends it."""


class CredentialsError(SwathError):
    """The caller's credential is not acceptable; `str()` is safe to show the caller."""


class AuthenticationFailed(CredentialsError):
    """The request has no acceptable credential; `str()` is safe to show the caller."""


class TokenRejected(CredentialsError):
    """The token is not acceptable; `str()` is safe to show the caller."""


class WebhookEndpointError(SwathError):
    """A webhook endpoint cannot be registered or changed as asked."""


class EndpointLimitError(WebhookEndpointError):
    """The tenant has as many endpoints as it may."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} webhook endpoints per tenant")
        self.limit = limit


class DuplicateEndpointError(WebhookEndpointError):
    """The tenant already has an endpoint for this destination."""

    def __init__(self, endpoint_id: UUID | None) -> None:
        super().__init__(f"an endpoint for this URL exists already: {endpoint_id}")
        self.endpoint_id = endpoint_id


class StartupError(SwathError, RuntimeError):
    """A process refuses to start, or cannot; the message says what to change."""


class InsecureSettingsError(StartupError):
    """The settings would make the service unsafe; the message lists what to fix."""


class FaultInjectionRefusedError(StartupError):
    """Fault injection was configured outside dev mode."""


class PortInUseError(StartupError):
    """A port Swath wants to listen on is taken by another process."""


class PrometheusMissingError(StartupError):
    """`swath up --observe` was asked for, but no Prometheus server is installed."""


class ChildExitedError(StartupError):
    """A child process exited before it became ready."""


class DownloadError(SwathError):
    """A downloaded output cannot be kept: its bytes do not match its sha256, or its name would
    leave the folder it is saved in."""


class TemporalSetupError(StartupError):
    """The Temporal namespace is missing, or lacks Swath's search attributes."""


class TimeoutSettingsError(StartupError):
    """Timeouts that must agree do not; the message names the setting and the bound."""


class BlobStoreSettingsError(StartupError):
    """The object store `SWATH_BLOB_URL` names cannot be opened: a missing account, an unreadable
    credentials file, a malformed URL. Raised when a process opens its store, before any work."""


class UndrainedVersionsError(StartupError):
    """Runs of a workflow type this build no longer hosts are still open (`swath.temporal.versions`):
    `swath up` and the chart's pre-upgrade hook refuse to start the build until they end."""


class PoolProcessesError(StartupError):
    """`SWATH_INFERENCE_PROCESSES` and `SWATH_INFERENCE_GPUS` disagree, or a GPU id is empty: `swath up`
    refuses before starting anything, naming both settings."""
