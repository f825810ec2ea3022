"""Fault injection: make inference fail, hang or run out of GPU memory, to rehearse failures.

Off by default. `SWATH_FAULT_INJECTION_FILE` names a JSON file that maps a model (`name@version`,
or `name` for every version) to a fault:

    {"crop-classifier@1.0.0": "fail", "crop-classifier@0.9.0": "oom"}

- `fail`: the attempt raises a retryable `inference_failed` error;
- `oom`: the attempt raises a retryable `gpu_out_of_memory` error (what a real CUDA OOM becomes);
- `hang`: the attempt never finishes but keeps heartbeating, like a stuck forward pass; only a
  cancel or the run's deadline ends it;
- `{"poison": ["item-id", …]}`: those items are poisoned inputs: each is handed to the model as an
  array it cannot take, so its forward pass raises (every attempt) while the model serves the rest.

The file is read again whenever it changes, so faults can be set and cleared on a running stack
(an absent file means no faults). Only the inference pool reads it, and only in dev mode: with
`SWATH_MODE=production` the pool refuses to start while the setting is present.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

from swath.domain.contracts import ModelInfo
from swath.domain.errors import FaultInjectionRefusedError
from swath.settings import Mode, Settings


class Fault(StrEnum):
    """What an injected fault does to an inference attempt."""

    FAIL = "fail"
    HANG = "hang"
    OOM = "oom"


class FaultInjector:
    """Reads the fault file and says which fault, if any, applies to a model."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._faults: dict[str, Fault] = {}
        self._poisons: dict[str, frozenset[str]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> FaultInjector | None:
        """The injector the settings ask for; raises outside dev mode, `None` when off."""
        if settings.fault_injection_file is None:
            return None
        if settings.mode is not Mode.DEV:
            raise FaultInjectionRefusedError(
                f"SWATH_FAULT_INJECTION_FILE is set but SWATH_MODE is {settings.mode.value!r}: "
                "fault injection is refused outside dev mode; unset it"
            )
        return cls(settings.fault_injection_file)

    def fault_for(self, model: ModelInfo) -> Fault | None:
        """The fault injected for this exact version, else for every version of the model."""
        self._load()
        return self._faults.get(model.ref) or self._faults.get(model.name)

    def poisoned_items(self, model: ModelInfo) -> frozenset[str]:
        """Ids of the items poisoned for this exact version, else for every version of the model."""
        self._load()
        return self._poisons.get(model.ref) or self._poisons.get(model.name) or frozenset()

    def _load(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._faults, self._poisons = None, {}, {}
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            text = self.path.read_text().strip()
            entries = json.loads(text) if text else {}
            self._faults = {model: Fault(kind) for model, kind in entries.items() if not isinstance(kind, dict)}
            self._poisons = {
                model: frozenset(kind.get("poison", ())) for model, kind in entries.items() if isinstance(kind, dict)
            }
            self._stamp = stamp
