"""The body of an estimate (`POST /v1/runs?dry_run=true`): what a run would read and map, and how long."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class BandEstimate(BaseModel):
    """One band file of a scene input."""

    name: str
    access: Literal["pin", "range", "whole"] = Field(
        description="`pin`: a blob read where it lies; `range`: a remote file read by HTTP range, only the tiles "
        "the blocks touch; `whole`: a remote file copied whole (no range support, or not a TIFF)."
    )
    bytes_to_read: int
    size: int = Field(description="The file's size in bytes.")


class InputEstimate(BaseModel):
    """One input as the run would map it."""

    id: str
    kind: Literal["scene", "tile"]
    width: int | None = None
    height: int | None = None
    crs: str | None = None
    transform: list[float] | None = Field(default=None, description="Affine a, b, c, d, e, f of the map's grid.")
    resolution: list[float] | None = Field(default=None, description="Pixel width and height in the CRS's units.")
    block_size: int | None = None
    blocks: int = Field(description="Blocks read and mapped (a tile is none).")
    windows: int = Field(description="Model windows (a tile is one).")
    bytes_to_read: int = Field(description="Bytes of the input's files the run reads (0 when not known: a tile by URL).")
    bytes_total: int = Field(default=0, description="The input's files' sizes.")
    bands: list[BandEstimate] = Field(default_factory=list)


class ItemErrorOut(BaseModel):
    """An input the run would reject, and why (the code a run's item error would carry)."""

    id: str
    code: str
    message: str


class RateOut(BaseModel):
    """The pace the expected seconds come from."""

    windows_per_second: float
    source: Literal["model", "pool", "default"] = Field(
        description="`model`: this model's recent runs; `pool`: recent runs of any model; `default`: no "
        "history yet, the documented default pace."
    )
    runs: int = Field(description="Completed runs the pace was measured over.")


class RunEstimate(BaseModel):
    """What a run of this body would read and map, without starting it."""

    model: str = Field(description="The model version the run would resolve to.")
    inputs: list[InputEstimate]
    errors: list[ItemErrorOut] = Field(description="Inputs the run would reject as item errors.")
    blocks: int
    windows: int
    bytes_to_read: int
    expected_seconds: float = Field(description="Windows over the measured pace.")
    rate: RateOut
