"""Contracts: one frozen dataclass in and one out for every workflow and activity.

New fields must come with defaults so running workflows keep deserialising their history.
Payloads carry references (`blob://…`, `https://…`), never tile bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from swath.domain.chunks import DEFAULT_CHUNK_SIZE


@dataclass(frozen=True)
class InputRef:
    """One input of a run, by reference."""

    id: str
    #: `blob://<key>` for data in the blob store, or an `http(s)://` URL (redacted when `url_ref` is set).
    uri: str
    media_type: str | None = None
    #: Where the full URL is kept when it carries a secret (userinfo or a query): a blob in the
    #: tenant's space, so histories, logs and errors only ever hold the redacted `uri`.
    url_ref: str | None = None
    #: `tile` (one model input, one label) or `scene` (a raster of any size, mapped window by window).
    kind: str = "tile"
    #: A scene as one file per band: band name → `blob://…` or `http(s)://…` (`uri` is then "").
    bands: dict[str, str] = field(default_factory=dict)
    #: `uri` (with `url_ref`) locates a STAC Item describing the scene: its URL, or `blob://…` of the
    #: item JSON sent inline.
    stac_item: bool = False
    #: Band name → asset key, overriding how a STAC item's assets are matched to the model's bands.
    band_assets: dict[str, str] = field(default_factory=dict)
    #: Only this GeoJSON geometry is read and mapped (in `aoi_crs`, WGS84 when "").
    aoi: dict[str, Any] | None = None
    aoi_crs: str = ""
    #: The pixel size of the grid per-band inputs are resampled onto (default: the finest band's).
    resolution: float | None = None


@dataclass(frozen=True)
class ModelInfo:
    """The exact model version that served a prediction."""

    name: str
    version: str
    sha256: str

    @property
    def ref(self) -> str:
        """`name@version`."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class ItemError:
    """An item that could not be analysed, and why."""

    id: str
    code: str
    message: str


@dataclass(frozen=True)
class StagedItem:
    """An input decoded, validated and stored as a float32 tensor in the blob store."""

    id: str
    #: The blob of the item's chunk (`swath.imagery.staged`), or, without `batch_index`, of the item alone
    #: (as ingest staged tiles before batches; such references may still be in running histories).
    tensor_ref: str
    #: The item's place in the submission, so results list in the order they were sent.
    position: int = 0
    #: The item's row in the batch blob `tensor_ref`.
    batch_index: int | None = None


@dataclass(frozen=True)
class StagedChunk:
    """A chunk of tiles staged as one batch blob: row `k` of `tensor_ref` is tile `ids[k]`.

    What ingest hands the workflow and the workflow hands inference, so the blob reference is
    written once per chunk, not once per tile.
    """

    tensor_ref: str
    ids: list[str]
    #: Each tile's place in the submission, so results list in the order they were sent.
    positions: list[int]

    def __len__(self) -> int:
        return len(self.ids)

    def items(self) -> list[StagedItem]:
        """The chunk's tiles one by one."""
        return [
            StagedItem(id, self.tensor_ref, position, batch_index=row)
            for row, (id, position) in enumerate(zip(self.ids, self.positions, strict=True))
        ]


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one item."""

    id: str
    label: str
    confidence: float


@dataclass(frozen=True)
class RunError:
    """Why a run failed."""

    code: str
    message: str


@dataclass(frozen=True)
class AnalysisRunInput:
    """Start argument of `AnalysisRunV4`."""

    run_id: str
    tenant: str
    #: Resolved `name@version`; aliases are resolved at submit time so a retry sees the same model.
    model: str
    inputs: list[InputRef]
    chunk_size: int = DEFAULT_CHUNK_SIZE
    params: dict[str, Any] = field(default_factory=dict)
    #: Resolved `name@version` of the model's declared fallback, if it has one.
    fallback_model: str | None = None
    #: The run fails with `deadline_exceeded` if it has not finished this long after it started.
    deadline_seconds: float = 1800.0
    #: Scenes are read, mapped and written in square blocks of this many pixels…
    scene_block_size: int = 2048
    #: …with at most this many blocks of one scene in flight at a time, and this many per history.
    scene_block_concurrency: int = 2
    scene_blocks_per_history: int = 256


@dataclass(frozen=True)
class RunOutcome:
    """Result of `AnalysisRunV4`."""

    run_id: str
    status: str
    items_ok: int = 0
    items_failed: int = 0
    error: RunError | None = None


@dataclass(frozen=True)
class IngestRequest:
    """Stage every input of a run for the model."""

    run_id: str
    model: str
    inputs: list[InputRef]
    #: Also record the run as processing and store its item errors (one round trip for all three).
    record: bool = False
    #: The block size scenes are planned with (rounded down to a multiple of the model's window).
    scene_block_size: int = 2048
    #: Staged tiles are stored one blob per this many, the chunks the workflow sends to inference.
    chunk_size: int = DEFAULT_CHUNK_SIZE
    #: Return the staged tiles as `IngestResult.chunks` (one reference per chunk), not one by one
    #: as `IngestResult.staged` (what workflows of type `AnalysisRun` and older expect).
    chunked: bool = False
    #: The run's tenant, for the step's span (empty from workflows older than `AnalysisRunV3`).
    tenant: str = ""


@dataclass(frozen=True)
class IngestResult:
    """What ingest staged, and which items it had to reject."""

    #: The staged tiles one by one, unless the request asked for `chunked`.
    staged: list[StagedItem]
    errors: list[ItemError] = field(default_factory=list)
    #: Scene inputs, opened and checked; their blocks are staged by the scene's own workflow.
    scenes: list[StagedScene] = field(default_factory=list)
    #: The staged tiles chunk by chunk, in submission order, when the request asked for `chunked`.
    chunks: list[StagedChunk] = field(default_factory=list)

    @property
    def tiles_staged(self) -> int:
        return len(self.staged) + sum(len(chunk) for chunk in self.chunks)


@dataclass(frozen=True)
class InferenceRequest:
    """One chunk of staged tiles for one model."""

    run_id: str
    model: str
    #: The chunk's tiles as ingest staged them: one batch blob, whose rows are the chunk's tiles.
    chunk: StagedChunk
    chunk_index: int = 0
    chunk_count: int = 1
    #: A fallback is waiting: refuse fast with `circuit_open` while this model's breaker is open.
    refuse_if_breaker_open: bool = False
    #: Store the predictions and the progress they make here, and return none of them.
    store_results: bool = False
    #: The model is the primary's declared fallback (recorded with each stored prediction).
    fallback_used: bool = False
    #: The run's tenant, for the step's span.
    tenant: str = ""


@dataclass(frozen=True)
class InferenceResult:
    """Predictions for one chunk, and the exact model that made them."""

    predictions: list[Prediction]
    model: ModelInfo
    #: Predictions stored by the activity itself (`store_results`).
    stored: int = 0
    #: Items whose forward pass failed on their own, stored by the activity as `inference_failed`
    #: item errors (only with `store_results`; without it such an item fails the chunk).
    failed: int = 0


@dataclass(frozen=True)
class FinishRunRequest:
    """Move a run to its terminal status, dead-letter it and record its events, in one step (idempotent)."""

    run_id: str
    status: str
    error: RunError | None = None
    model: ModelInfo | None = None
    tenant: str = ""
    #: Lifecycle events to record (and deliver as webhooks), e.g. `run.failed`, `run.dead_lettered`.
    events: list[str] = field(default_factory=list)
    #: Store the run for redrive first.
    dead_letter: DeadLetterRequest | None = None
    #: Items that failed after ingest (a scene whose map could not be made), stored with the status.
    item_errors: list[ItemError] = field(default_factory=list)
    #: Their places in the submission.
    item_positions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FinishRunResult:
    """What finishing found: whether this call ended the run, and the webhook deliveries it started."""

    finished: bool
    deliveries_started: int = 0


@dataclass(frozen=True)
class DeadLetterRequest:
    """Store a run that exhausted its retries, with everything needed to redrive it (idempotent)."""

    run_id: str
    tenant: str
    #: The workflow input, replayed as a new run on redrive.
    request: AnalysisRunInput
    #: The step that failed: `ingest`, `inference`, …
    failed_step: str
    error: RunError
    #: Activity attempts the failing step made, fallback included.
    attempts: int = 1


@dataclass(frozen=True)
class PurgeBlobsRequest:
    """One pass of the blob lifecycle: at most `limit` runs of each kind of purge."""

    limit: int = 500


@dataclass(frozen=True)
class PurgeBlobsResult:
    """What one pass purged: runs whose staged tensors went, runs past retention, blobs deleted
    (uploads past retention among them: `uploads_deleted`), and temp files of writes that never
    finished (`temp_files_deleted`)."""

    staged_runs: int = 0
    expired_runs: int = 0
    blobs_deleted: int = 0
    uploads_deleted: int = 0
    temp_files_deleted: int = 0


# -- scenes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneBand:
    """One band of a scene that arrives as one file per band (a STAC asset, or a `bands` input)."""

    name: str
    #: `blob://…`, or the asset's `http(s)://` URL.
    uri: str
    width: int
    height: int
    #: `EPSG:<code>` or WKT of the band file.
    crs: str
    #: Affine a, b, c, d, e, f of the band file's own pixel grid.
    transform: list[float]
    nodata: float | None = None
    #: A pixel reaches the model as `value * gain + bias`, in the units of the model's manifest
    #: (STAC `raster:bands` scale and offset, and a product's own offset, folded in once).
    gain: float = 1.0
    bias: float = 0.0
    #: The band's index in its file (1-based).
    index: int = 1
    #: `pin`: a local copy of the whole file; `range`: a remote file (HTTP) or the run's pinned copy
    #: of an object store's blob, read block by block by range.
    access: str = "pin"
    #: What was inspected: the sha256 of a pinned copy, or `<size>/<etag>` of a remote file.
    version: str = ""


@dataclass(frozen=True)
class StagedScene:
    """A raster input, opened and checked at ingest: where it lies and the grid it is mapped on."""

    id: str
    position: int
    #: `blob://…` of the scene file (an `https://` input is copied into the blob store first).
    ref: str
    width: int
    height: int
    #: `EPSG:<code>` or WKT.
    crs: str
    #: Affine a, b, c, d, e, f of the scene's pixel grid.
    transform: list[float]
    #: 1-based band indexes of the model's bands, in the model's order.
    band_indexes: list[int]
    nodata: float | None = None
    #: The scene is read, mapped and written in blocks of this many pixels square (a multiple of
    #: the model's window), each read with `halo` extra pixels around it so windows overlap.
    block_size: int = 2048
    halo: int = 0
    blocks: int = 1
    #: Model windows the scene covers, for progress.
    windows: int = 0
    #: sha256 of the bytes inspected: every block is read from exactly these bytes ("" from older
    #: workflows, whose scenes are read from whatever the blob holds).
    sha256: str = ""
    #: A scene as one file per band: each band resampled onto this scene's grid, block by block
    #: (`ref` is then the STAC item's location or ""; `band_indexes` count the bands in order).
    bands: list[SceneBand] = field(default_factory=list)
    #: The resampling that brings the bands onto the grid (a `rasterio.enums.Resampling` name).
    resampling: str = "bilinear"
    #: Pixels outside this GeoJSON geometry (in the scene's CRS) are nodata and count in no area.
    aoi: dict[str, Any] | None = None
    #: "": the scene file is pinned whole (a local store's file); `range`: the run's pinned copy of
    #: an object store's blob, read block by block by range (`sha256` is then its `<size>/<etag>`).
    access: str = ""


@dataclass(frozen=True)
class SceneMapInput:
    """Start argument of `SceneMap`: one scene of a run, from block `first_block` on.

    A scene with more blocks than one history should hold continues as new with the totals so far.
    """

    run_id: str
    tenant: str
    model: str
    scene: StagedScene
    concurrency: int = 2
    first_block: int = 0
    #: Per-class pixel counts and areas of the blocks before `first_block`.
    pixels: list[int] = field(default_factory=list)
    area_m2: list[float] = field(default_factory=list)
    #: Write a confidence raster next to the class map.
    confidence: bool = False
    #: Blocks one history runs before the workflow continues as new.
    blocks_per_history: int = 256


@dataclass(frozen=True)
class SceneBlockRequest:
    """Read one block of a scene (with its halo) and stage its pixels as one blob."""

    run_id: str
    scene: StagedScene
    block: int
    #: The run's tenant, for the step's span (empty from workflows older than `AnalysisRunV3`).
    tenant: str = ""


@dataclass(frozen=True)
class StagedBlock:
    """One block's pixels in the blob store, or `None` when the block holds no valid pixel."""

    block: int
    ref: str | None = None


@dataclass(frozen=True)
class MapBlockRequest:
    """Map one staged block with a model and store its classes (and confidence) as one blob."""

    run_id: str
    model: str
    scene: StagedScene
    block: int
    #: The staged pixels; `None` for a block with no valid pixel (counted, not mapped).
    pixels_ref: str | None = None
    #: The run's tenant, for the step's span (empty from workflows older than `AnalysisRunV3`).
    tenant: str = ""


@dataclass(frozen=True)
class BlockResult:
    """One mapped block: per-class pixels and areas, and the exact model."""

    block: int
    model: ModelInfo
    #: `None` when the block held no valid pixel.
    map_ref: str | None = None
    pixels: list[int] = field(default_factory=list)
    area_m2: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class AssembleMapRequest:
    """Write the scene's map (a COG) from its mapped blocks, store it as an output, record it."""

    run_id: str
    tenant: str
    model: str
    scene: StagedScene
    pixels: list[int]
    area_m2: list[float]
    model_info: ModelInfo | None = None
    confidence: bool = False


@dataclass(frozen=True)
class SceneMapResult:
    """A scene's map as recorded: its output name and class table stay in PostgreSQL."""

    input_id: str
    name: str
    model: ModelInfo | None = None
