"""A run's maps described in STAC: one Item per map, one Collection per run.

An Item is the map's footprint (WGS84) and grid (projection), its assets with their checksums and
sizes (file) — the class map with its classes, names and colours (classification, raster), the
confidence map, the vectors, the preview — what made it (processing) and the model that did, with
the machine-learning-model extension's fields (name, architecture, tasks, input bands and window,
output classes) and the model's weights as the `mlm:model` asset carrying their sha256. Its links
point at the input(s) it was derived from and at the run's Collection. Hrefs between a run's
outputs are relative, so the items work where they are served (`/v1/runs/{id}/outputs/…`) and in
a downloaded copy alike.

The documents are plain JSON written against pinned schema versions (`SCHEMAS`), and those
schemas ship with Swath (`stac_schemas/`, with their licences), so they are validated offline:
`offline_schema_map()` maps every schema URL to its local copy for `stac-validator`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyproj import CRS
from rasterio.warp import transform_geom

from swath.imagery.mapping import NO_CLASS
from swath.domain.status import ModelTask

STAC_VERSION = "1.0.0"
#: The extension schemas the documents are written against.
SCHEMAS = {
    "projection": "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "classification": "https://stac-extensions.github.io/classification/v1.1.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "processing": "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "mlm": "https://stac-extensions.github.io/mlm/v1.4.0/schema.json",
}
#: Where the schemas' copies live: `<host>/<path>` of each schema URL.
SCHEMA_DIR = Path(__file__).with_name("stac_schemas")
MEDIA_TYPE = "application/json"
ITEM_SUFFIX = ".stac.json"
COLLECTION_NAME = "collection.json"
#: Points per edge of a footprint: a projected grid's straight edges may curve in WGS84.
_EDGE_POINTS = 20
#: Model weights formats, as MLM's `mlm:artifact_type` names them.
_ARTIFACT_TYPES = {".safetensors": "safetensors", ".pt2": "torch.export.save", ".onnx": "onnx"}


@dataclass(frozen=True)
class StoredFile:
    """One written output: its name among the run's outputs, media type, size and sha256."""

    name: str
    media_type: str
    size: int
    sha256: str
    roles: tuple[str, ...] = ("data",)
    title: str = ""


@dataclass(frozen=True)
class InputLink:
    """An input a map was derived from: where it came from, and (when read) its size and sha256."""

    href: str
    media_type: str = ""
    sha256: str = ""
    size: int | None = None
    title: str = ""


@dataclass(frozen=True)
class ModelCard:
    """What the STAC documents say of a model version."""

    name: str
    version: str
    sha256: str
    architecture: str
    weights: str
    task: str
    bands: tuple[str, ...]
    window: tuple[int, int]
    labels: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...] = ()
    scale: float = 1.0


@dataclass(frozen=True)
class MapGrid:
    """A map's grid: size, CRS (`EPSG:<code>` or WKT) and affine a, b, c, d, e, f."""

    width: int
    height: int
    crs: str
    transform: tuple[float, ...]


@dataclass(frozen=True)
class ItemFiles:
    """A map's outputs, by role."""

    map: StoredFile
    confidence: StoredFile | None = None
    vectors: tuple[StoredFile, ...] = ()
    preview: StoredFile | None = None
    extra: tuple[StoredFile, ...] = field(default_factory=tuple)


def multihash_sha256(hex_digest: str) -> str:
    """The file extension's checksum form of a sha256: a multihash (0x12, 32 bytes) in hex."""
    return f"1220{hex_digest}"


def item_name(scene_id: str) -> str:
    """The output name of scene `scene_id`'s STAC Item."""
    return f"{scene_id}{ITEM_SUFFIX}"


def classes_of(labels: Sequence[str], colors: Sequence[tuple[int, int, int]]) -> list[dict]:
    """`classification:classes` of a map whose code i is `labels[i]`."""
    out = []
    for code, label in enumerate(labels):
        entry = {"value": code, "name": label, "description": label}
        if code < len(colors):
            entry["color_hint"] = "".join(f"{c:02X}" for c in colors[code])
        out.append(entry)
    return out


def footprint(grid: MapGrid) -> dict:
    """The grid's outline as a WGS84 GeoJSON polygon, its edges densified so it bends as it should."""
    a, b, c, d, e, f = grid.transform[:6]
    corners = [(0, 0), (grid.width, 0), (grid.width, grid.height), (0, grid.height), (0, 0)]
    pixels = [
        (x0 + (x1 - x0) * t / _EDGE_POINTS, y0 + (y1 - y0) * t / _EDGE_POINTS)
        for (x0, y0), (x1, y1) in zip(corners, corners[1:]) for t in range(_EDGE_POINTS)
    ] + [corners[0]]
    ring = [(a * x + b * y + c, d * x + e * y + f) for x, y in pixels]
    native = {"type": "Polygon", "coordinates": [ring]}
    return transform_geom(grid.crs, "EPSG:4326", native, antimeridian_cutting=True, precision=7)


def _bbox(geometry: dict) -> list[float]:
    xs, ys = [], []

    def walk(coords):
        if coords and isinstance(coords[0], (int, float)):
            xs.append(coords[0])
            ys.append(coords[1])
        else:
            for part in coords:
                walk(part)

    walk(geometry["coordinates"])
    return [min(xs), min(ys), max(xs), max(ys)]


def _projection(grid: MapGrid) -> dict:
    crs = CRS.from_user_input(grid.crs)
    a, b, c, d, e, f = grid.transform[:6]
    xs = [c, c + a * grid.width, c + b * grid.height, c + a * grid.width + b * grid.height]
    ys = [f, f + d * grid.width, f + e * grid.height, f + d * grid.width + e * grid.height]
    authority = crs.to_authority()
    fields = {"proj:code": f"{authority[0]}:{authority[1]}"} if authority else {"proj:code": None,
                                                                               "proj:wkt2": crs.to_wkt()}
    return fields | {
        "proj:shape": [grid.height, grid.width],
        "proj:transform": [a, b, c, d, e, f],
        "proj:bbox": [min(xs), min(ys), max(xs), max(ys)],
    }


def _asset(stored: StoredFile, **extra) -> dict:
    asset = {"href": stored.name, "type": stored.media_type, "roles": list(stored.roles)}
    if stored.title:
        asset["title"] = stored.title
    return asset | extra | {"file:checksum": multihash_sha256(stored.sha256), "file:size": stored.size}


def _resolution(grid: MapGrid) -> float:
    a, b, _, d, e, _ = grid.transform[:6]
    return abs(a * e - b * d) ** 0.5


def _mlm(model: ModelCard) -> dict:
    height, width = model.window
    segmentation = model.task == ModelTask.SEGMENTATION
    task = "semantic-segmentation" if segmentation else "classification"
    out_shape = [-1, len(model.labels), height, width] if segmentation else [-1, len(model.labels)]
    out_dims = ["batch", "channel", "height", "width"] if segmentation else ["batch", "class"]
    return {
        "mlm:name": model.name,
        "mlm:architecture": model.architecture,
        "mlm:tasks": [task],
        "mlm:framework": "pytorch",
        "mlm:input": [{
            "name": "bands",
            "bands": list(model.bands),
            "input": {
                "shape": [-1, len(model.bands), height, width],
                "dim_order": ["batch", "bands", "height", "width"],
                "data_type": "float32",
            },
            "value_scaling": [{"type": "scale", "value": model.scale}] if model.scale != 1.0 else None,
        }],
        "mlm:output": [{
            "name": "classes",
            "tasks": [task],
            "result": {"shape": out_shape, "dim_order": out_dims, "data_type": "float32"},
            "classification:classes": classes_of(model.labels, model.colors),
        }],
        "version": model.version,
    }


def model_asset(model: ModelCard) -> dict:
    """The model's weights as an `mlm:model` asset: which version, its sha256 and its input bands."""
    suffix = Path(model.weights).suffix
    return {
        "href": model_urn(model),
        "title": f"{model.name}@{model.version}",
        "type": "application/octet-stream",
        "roles": ["mlm:model"],
        "mlm:artifact_type": _ARTIFACT_TYPES.get(suffix, suffix.lstrip(".") or "weights"),
        "file:checksum": multihash_sha256(model.sha256),
        "raster:bands": [{"name": band} for band in model.bands],
    }


def model_urn(model: ModelCard) -> str:
    """The model version's name in Swath's registry, as a URI."""
    return f"urn:swath:model:{model.name}:{model.version}"


def map_item(
    *, scene_id: str, run_id: str, grid: MapGrid, files: ItemFiles, model: ModelCard,
    inputs: Sequence[InputLink] = (), software: Mapping[str, str] = (), created: dt.datetime | None = None,
) -> dict:
    """The STAC Item of one map of run `run_id`, its hrefs relative to the run's outputs."""
    created = created or dt.datetime.now(dt.timezone.utc)
    stamp = created.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    geometry = footprint(grid)
    classes = classes_of(model.labels, model.colors)
    resolution = _resolution(grid)
    assets = {
        "map": _asset(
            files.map, **{"classification:classes": classes},
            **{"raster:bands": [{"nodata": NO_CLASS, "data_type": "uint8", "spatial_resolution": resolution}]},
        ),
    }
    if files.confidence is not None:
        assets["confidence"] = _asset(
            files.confidence,
            **{"raster:bands": [{"nodata": NO_CLASS, "data_type": "uint8", "unit": "percent",
                                 "spatial_resolution": resolution}]},
        )
    for stored in files.vectors:
        key = "vectors" if stored.media_type.endswith("parquet") else "vectors_geojson"
        assets[key] = _asset(stored)
    if files.preview is not None:
        assets["preview"] = _asset(files.preview)
    for stored in files.extra:
        assets[Path(stored.name).stem] = _asset(stored)
    assets["model"] = model_asset(model)
    links = [
        {"rel": "collection", "href": COLLECTION_NAME, "type": MEDIA_TYPE, "title": f"run {run_id}"},
        {"rel": "parent", "href": COLLECTION_NAME, "type": MEDIA_TYPE},
        {"rel": "root", "href": COLLECTION_NAME, "type": MEDIA_TYPE},
    ]
    for source in inputs:
        link = {"rel": "derived_from", "href": source.href}
        if source.media_type:
            link["type"] = source.media_type
        if source.title:
            link["title"] = source.title
        if source.sha256:
            link["file:checksum"] = multihash_sha256(source.sha256)
        if source.size is not None:
            link["file:size"] = source.size
        links.append(link)
    properties = {
        "datetime": stamp,
        "created": stamp,
        "title": f"{scene_id}: {model.name}@{model.version}",
        **_projection(grid),
        "classification:classes": classes,
        "processing:level": "L4",
        "processing:facility": "Swath",
        "processing:datetime": stamp,
        "processing:lineage": (
            f"Run {run_id} mapped {scene_id} window by window with {model.name}@{model.version} "
            f"(sha256 {model.sha256})."
        ),
        "processing:software": dict(software) or {"swath": "unknown"},
        **_mlm(model),
    }
    properties["mlm:input"][0] = {k: v for k, v in properties["mlm:input"][0].items() if v is not None}
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": list(SCHEMAS.values()),
        "id": scene_id,
        "collection": collection_id(run_id),
        "geometry": geometry,
        "bbox": _bbox(geometry),
        "properties": properties,
        "links": links,
        "assets": assets,
    }


def collection_id(run_id: str) -> str:
    """The id of run `run_id`'s Collection."""
    return f"run-{run_id}"


def run_collection(
    *, run_id: str, items: Sequence[dict], created: dt.datetime | None = None, extra_links: Sequence[dict] = (),
) -> dict:
    """The STAC Collection of a run: every map's Item linked, its extent the union of theirs."""
    created = created or dt.datetime.now(dt.timezone.utc)
    classes = next((item["properties"].get("classification:classes") for item in items), None)
    models = sorted({f"{item['properties'].get('mlm:name')}@{item['properties'].get('version')}" for item in items})
    boxes = [item["bbox"] for item in items] or [[-180.0, -90.0, 180.0, 90.0]]
    bbox = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
    times = sorted(item["properties"]["datetime"] for item in items) or [
        created.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    ]
    links = [
        {"rel": "self", "href": COLLECTION_NAME, "type": MEDIA_TYPE},
        {"rel": "root", "href": COLLECTION_NAME, "type": MEDIA_TYPE},
    ]
    links += [
        {"rel": "item", "href": item_name(item["id"]), "type": "application/geo+json", "title": item["id"]}
        for item in items
    ]
    collection = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [SCHEMAS["classification"]] if classes else [],
        "id": collection_id(run_id),
        "title": f"Swath run {run_id}",
        "description": f"The maps of Swath run {run_id}" + (f", made by {', '.join(models)}." if models else "."),
        "license": "other",
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[times[0], times[-1]]]}},
        "links": links + list(extra_links),
    }
    if classes:
        collection["summaries"] = {"classification:classes": classes}
    return collection


def offline_schema_map() -> dict[str, str]:
    """Every schema URL the documents use (and those schemas' own references), to its local copy."""
    mapping = {}
    for path in SCHEMA_DIR.rglob("*.json"):
        relative = path.relative_to(SCHEMA_DIR).as_posix()
        mapping[f"https://{relative}"] = str(path)
    mapping["https://proj.org/schemas/v0.7/projjson.schema.json"] = str(_projjson_schema())
    return mapping


def _projjson_schema() -> Path:
    """PROJ's PROJJSON schema (v0.7), as pyproj's wheel ships it."""
    import pyproj.datadir

    return Path(pyproj.datadir.get_data_dir()) / "projjson.schema.json"
