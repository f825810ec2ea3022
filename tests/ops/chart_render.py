"""Rendering the Helm chart offline with Helm's own engine (the Go SDK, through helm-python-sdk).

No cluster and no `helm` binary: `Chart.render` is what `helm template` does, values schema included.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "swath"
CI_VALUES = sorted(path.name for path in (CHART / "ci").glob("*-values.yaml"))
RELEASE = "swath"
NAMESPACE = "swath"


@dataclass(frozen=True)
class Rendered:
    """One rendered object and the template it came from."""

    template: str
    obj: dict

    @property
    def kind(self) -> str:
        return self.obj["kind"]

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]


class Release:
    """Every object one set of values renders to, with lookups the tests need."""

    def __init__(self, manifests: dict[str, str]) -> None:
        self.notes = next((text for path, text in manifests.items() if path.endswith("NOTES.txt")), "")
        self.objects = [
            Rendered(path, obj)
            for path, text in sorted(manifests.items())
            if path.endswith(".yaml")
            for obj in yaml.safe_load_all(text)
            if obj
        ]

    def of_kind(self, kind: str) -> list[dict]:
        return [r.obj for r in self.objects if r.kind == kind]

    def get(self, kind: str, name: str) -> dict:
        matches = [obj for obj in self.of_kind(kind) if obj["metadata"]["name"] == name]
        assert len(matches) == 1, f"{kind}/{name}: {len(matches)} rendered"
        return matches[0]


def load_values(name: str) -> dict:
    return yaml.safe_load((CHART / "ci" / name).read_text())
