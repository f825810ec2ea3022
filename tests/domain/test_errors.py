"""One exception tree: every exception Swath defines lives in `swath.domain.errors`, under `SwathError`,
and keeps the builtin base its callers catch."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import swath.domain.errors as errors
from swath.domain.errors import SwathError

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("swath", "workflows", "activities", "workers", "api")
#: Exceptions that stay next to their only raiser, each for a reason:
OUTSIDE_THE_TREE = {
    # the HTTP answer itself: routes raise it to reply with a problem document; swath never imports api
    "api.problems.Problem",
    # signals private to one module, never seen outside it
    "api.limits.BodyTooLarge",
    "api.run_body._Malformed",
    "api.run_body._NotAnObject",
    "api.strict_json._NotJsonNumber",
}
#: Builtin bases that callers rely on (`except ValueError`, `except LookupError`, …).
BUILTIN_BASES = {
    "ModelNotFoundError": LookupError,
    "BlobNotFoundError": LookupError,
    "InvalidBlobRefError": ValueError,
    "UrlRefusedError": ValueError,
    "WeightsChecksumError": ValueError,
    "GpuOutOfMemoryError": MemoryError,
    "InsecureSettingsError": RuntimeError,
    "FaultInjectionRefusedError": RuntimeError,
    "PortInUseError": RuntimeError,
    "ChildExitedError": RuntimeError,
}


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        for info in pkgutil.walk_packages([str(REPO / package)], prefix=f"{package}."):
            if info.name.rsplit(".", 1)[-1] != "__main__":  # running one is what importing it does
                names.append(info.name)
    return names


def _exceptions_defined_in(module_name: str) -> list[type[BaseException]]:
    module = importlib.import_module(module_name)
    return [
        cls for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == module_name
    ]


def test_every_exception_is_defined_in_the_errors_module() -> None:
    found = {f"{cls.__module__}.{cls.__qualname__}" for name in _modules() for cls in _exceptions_defined_in(name)}
    assert "swath.domain.errors.SwathError" in found and "api.problems.Problem" in found  # the walk reached both ends
    # The client installs without the server, so its errors are a tree of their own, in one module too.
    home = ("swath.domain.errors.", "swath.client.errors.")
    elsewhere = sorted(found - OUTSIDE_THE_TREE - {n for n in found if n.startswith(home)})
    assert not elsewhere, elsewhere


def test_the_tree_has_one_root_and_keeps_the_builtin_bases() -> None:
    tree = _exceptions_defined_in("swath.domain.errors")
    assert all(issubclass(cls, SwathError) for cls in tree)
    for name, base in BUILTIN_BASES.items():
        assert issubclass(getattr(errors, name), base), name


def test_the_module_docstring_draws_every_exception() -> None:
    drawn = errors.__doc__ or ""
    missing = [cls.__name__ for cls in _exceptions_defined_in("swath.domain.errors") if f"* {cls.__name__}" not in drawn]
    assert not missing, missing
