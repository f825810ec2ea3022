"""The Python client of the Swath API: `Swath` (blocking) and `AsyncSwath` (asyncio).

It imports only httpx and the standard library (no torch, FastAPI, Temporal, rasterio or
pydantic), so `pip install swath` without the `server` extra is enough to use it:

    from swath.client import Swath

    with Swath() as swath:                     # $SWATH_API_URL / $SWATH_API_KEY, or a profile
        run = swath.runs.create("crop-classifier", ["tile.npy"], wait=True)
        for item in run.result.items:
            print(item.id, item.label, item.confidence)

Errors are one tree rooted at `SwathError` (`swath.client.errors`); answers are dataclasses
(`swath.client.types`); 429 and 503 are retried honouring `Retry-After` (`swath.client.retries`).
"""

from swath.client.aio import AsyncSwath
from swath.client.errors import (
    APIConnectionError, APIError, AuthenticationError, BadRequestError, ConflictError, DownloadError, GoneError,
    InternalServerError, NotFoundError, PayloadTooLargeError, PermissionDeniedError, RateLimitError,
    RunFailedError, RunNotFinishedError, ServiceUnavailableError, SwathError, WaitTimeoutError,
)
from swath.client.retries import RetryPolicy
from swath.client.sync import Swath
from swath.client.types import BulkRedrive, Blob, DeadLetter, Run, RunEvent, RunPage

__all__ = [
    "APIConnectionError", "APIError", "AsyncSwath", "AuthenticationError", "BadRequestError", "Blob", "BulkRedrive",
    "ConflictError", "DeadLetter", "DownloadError", "GoneError", "InternalServerError", "NotFoundError",
    "PayloadTooLargeError", "PermissionDeniedError", "RateLimitError", "RetryPolicy", "Run", "RunEvent",
    "RunFailedError", "RunNotFinishedError", "RunPage", "ServiceUnavailableError", "Swath", "SwathError",
    "WaitTimeoutError",
]
