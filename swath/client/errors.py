"""Every error the client raises, in one tree (after `httpx/_exceptions.py`):

    SwathError
    ├── APIConnectionError        the API could not be reached (after the retries)
    ├── APIError                  the API answered with an error: status, problem details
    │   ├── BadRequestError       400, 422 (validation-error, unknown-model, url-refused)
    │   ├── AuthenticationError   401
    │   ├── PermissionDeniedError 403
    │   ├── NotFoundError         404
    │   ├── ConflictError         409 (idempotency-key-reused, run-already-finished)
    │   ├── GoneError             410 (outputs-gone)
    │   ├── PayloadTooLargeError  413
    │   ├── RateLimitError        429 (after the retries)
    │   └── ServiceUnavailableError / InternalServerError   503 / other 5xx
    ├── RunFailedError            a waited-for run ended `failed` or `canceled`
    ├── RunNotFinishedError       outputs asked of a run that has not ended
    ├── WaitTimeoutError          a run did not end within the wait
    └── DownloadError             a downloaded file did not match its sha256, or its name is unsafe
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swath.client.types import Run


class SwathError(Exception):
    """The root of every error the client raises."""


class APIConnectionError(SwathError):
    """The API could not be reached, or the connection broke, after every retry."""


class APIError(SwathError):
    """The API answered with an error; `problem` is its RFC 9457 document (`type`, `title`, `detail`, …)."""

    def __init__(self, status: int, problem: dict[str, Any], *, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.problem = problem
        self.headers = headers or {}
        self.type: str = problem.get("type", "about:blank")
        self.title: str = problem.get("title", "")
        self.detail: str = problem.get("detail", "")
        super().__init__(f"HTTP {status} {self.type.rsplit('/', 1)[-1]}: {self.detail or self.title}")

    @property
    def code(self) -> str:
        """The problem type's last segment, e.g. `unknown-model`."""
        return self.type.rsplit("/", 1)[-1]


class BadRequestError(APIError):
    """400 or 422: the request was malformed or refused as invalid."""


class AuthenticationError(APIError):
    """401: no key, or an unknown or revoked one."""


class PermissionDeniedError(APIError):
    """403: the key lacks the scope."""


class NotFoundError(APIError):
    """404: no such run, dead letter or output (or not the caller's)."""


class ConflictError(APIError):
    """409: an idempotency key reused with another body, a run already finished, …"""


class GoneError(APIError):
    """410: the run's outputs were deleted when its retention ended."""


class PayloadTooLargeError(APIError):
    """413: too many items, too large an item or upload, or over quota."""


class RateLimitError(APIError):
    """429, still, after every retry honouring `Retry-After`."""


class InternalServerError(APIError):
    """A 5xx other than 503."""


class ServiceUnavailableError(APIError):
    """503 (an open circuit breaker, Temporal unreachable, draining), still, after every retry."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError, 422: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError,
    404: NotFoundError, 409: ConflictError, 410: GoneError, 413: PayloadTooLargeError, 429: RateLimitError,
    503: ServiceUnavailableError,
}


def api_error(status: int, problem: dict[str, Any], headers: dict[str, str] | None = None) -> APIError:
    """The `APIError` subclass for `status`."""
    cls = _BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIError)
    return cls(status, problem, headers=headers)


class RunFailedError(SwathError):
    """A run the caller waited for ended `failed` or `canceled`; `run` is its final state."""

    def __init__(self, run: Run) -> None:
        self.run = run
        why = f": {run.error.code}: {run.error.message}" if run.error else ""
        super().__init__(f"run {run.id} {run.status}{why}")


class RunNotFinishedError(SwathError):
    """Outputs were asked of a run that is still queued or processing."""


class WaitTimeoutError(SwathError):
    """A run did not end within the time waited; `run` is its last known state."""

    def __init__(self, run: Run, seconds: float) -> None:
        self.run = run
        super().__init__(f"run {run.id} still {run.status} after {seconds:g} s")


class DownloadError(SwathError):
    """A download did not verify (sha256), or an output's name would write outside the folder."""
