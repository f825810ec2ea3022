"""What the model-version validation workflow and its activity exchange (frozen; new fields get defaults)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ValidateModelRequest:
    """Validate one pushed version, which the registry holds as `validating`."""

    model: str
    version: str


@dataclass(frozen=True)
class ValidateModelResult:
    """The version's status after validation (`ready` or `rejected`) and, if rejected, why."""

    model: str
    version: str
    status: str
    reason: str | None = None
