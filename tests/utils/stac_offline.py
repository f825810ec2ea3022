"""STAC validation with `stac-validator`, offline: every schema from Swath's vendored copies.

The validator's two ways to the network (`urlopen` for schemas, `requests.get` for documents) are
replaced by ones that refuse, so a schema missing from the copies fails the test instead of being
fetched.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():  # the package's new name (stac_valid) ships the same module
    warnings.simplefilter("ignore", DeprecationWarning)
    import stac_validator.utilities
    from stac_validator.validate import StacValidate

from swath.imagery import stac


def _refuse(*args, **kwargs):
    raise AssertionError(f"stac-validator tried the network: {args[:1]}")


def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut `stac-validator` off the network for the rest of the test."""
    monkeypatch.setattr(stac_validator.utilities, "urlopen", _refuse)
    monkeypatch.setattr(stac_validator.utilities.requests, "get", _refuse)


def validate(path: Path) -> tuple[bool, list]:
    """Whether the STAC document at `path` is valid against its core and extension schemas; the report."""
    validator = StacValidate(str(path), schema_map=stac.offline_schema_map(), verbose=True)
    valid = validator.run()
    return valid, validator.message
