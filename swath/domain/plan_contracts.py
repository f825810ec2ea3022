"""Contracts of a run's estimate: what planning a run's inputs on the ingest pool returns.

`POST /v1/runs?dry_run=true` starts `PlanRun`, which opens every scene input exactly as a run's
ingest would and answers with each one's grid, blocks, windows and the bytes its blocks would
read; nothing is staged and nothing is mapped. New fields get defaults, like every contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swath.domain.contracts import InputRef, ItemError


@dataclass(frozen=True)
class PlanRequest:
    """Start argument of `PlanRun` and of its one activity: the inputs of a run not yet submitted."""

    #: `plan-<hex>`: the workflow id, and the folder the ingest pool opens the inputs under.
    plan_id: str
    model: str
    #: The run's scene inputs, as ingest would get them.
    inputs: list[InputRef]
    scene_block_size: int = 2048
    tenant: str = ""


@dataclass(frozen=True)
class BandRead:
    """What one band file of a scene costs a run: how it is read and the bytes of it read."""

    name: str
    #: `pin` (a blob read where it lies), `range` (a remote file read by range) or `whole` (copied whole).
    access: str
    bytes_to_read: int
    #: The file's size (0 when not known).
    size: int = 0


@dataclass(frozen=True)
class InputPlan:
    """One scene input as a run would map it."""

    id: str
    width: int
    height: int
    crs: str
    #: Affine a, b, c, d, e, f of the grid the map is written on.
    transform: list[float]
    #: Pixel width and height in the CRS's units.
    resolution: list[float]
    block_size: int
    blocks: int
    windows: int
    #: Bytes the run reads of the input's files: a pinned or copied file whole, and of a file read
    #: by range its structure plus the tiles or strips its blocks touch.
    bytes_to_read: int
    #: The input's file size, or the sum over its band files (0 when not known).
    bytes_total: int = 0
    bands: list[BandRead] = field(default_factory=list)


@dataclass(frozen=True)
class RunPlan:
    """Every scene input planned, and the ones that would fail as item errors."""

    inputs: list[InputPlan] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)
