"""Error codes: the `type` of Temporal ApplicationErrors, run-level and item-level codes."""

from enum import StrEnum


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


class ItemProblem(Exception):
    """Raised while ingesting one item; becomes an item-level error, never a run failure."""

    def __init__(self, code: ItemErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ModelNotFoundError(LookupError):
    """The requested model, version or alias is not in the registry."""
