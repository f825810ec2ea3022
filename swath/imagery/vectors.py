"""A class map as polygons: traced block by block, stitched across block seams, written as GeoParquet.

Each block of a map is traced on its own (`rasterio.features.shapes`, 4-connected, in whole pixel
coordinates of the map, so a seam's vertices agree exactly on both sides). A polygon that does not
touch the block's inner edges is final at once and is written straight away; one that does waits,
and once every block is in, each class's waiting polygons are merged (`shapely.union_all`), so a
field drawn across a block edge comes out as one polygon. Memory holds one block's pixels and the
polygons along seams, never the map.

Polygons smaller than a minimum mapping unit (in pixels) are left out and holes that small are
filled, so speckle goes to the polygon around it as a sieve would; the rest are simplified
within half a pixel (topology kept: no polygon collapses or crosses itself), then placed on the
map's grid. Areas are in m^2: pixels times the pixel's area on a projected grid, on the CRS's
ellipsoid on a geographic one.

GeoParquet (1.1, WKB, the CRS as PROJJSON in the `geo` metadata) is written in row groups as
polygons come, so a map with millions of polygons never sits in memory; below `GEOJSON_MAX_FEATURES`
the same polygons are also written as GeoJSON (RFC 7946: WGS84 longitude, latitude), from the
polygons still in memory rather than by reading the file back.

Polygons travel in batches as shapely arrays, never one Python object at a time: a block's traced
rings are built in one `shapely.from_ragged_array` call, and the area filter, hole filling,
simplification, placement, areas, WKB and GeoJSON text are each one vectorised call per batch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from pyproj import CRS, Geod, Transformer
from rasterio import features
from shapely import GeometryType

from swath.imagery.grid import Window
from swath.imagery.mapping import NO_CLASS

#: Polygons of fewer pixels are left out of the vectors (a map's speckle, not a field).
DEFAULT_MIN_PIXELS = 4
#: Simplification tolerance, in pixels: vertices move at most this far.
SIMPLIFY_PX = 0.5
#: Below this many polygons a map's vectors are written as GeoJSON too.
GEOJSON_MAX_FEATURES = 50_000
#: Polygons per Parquet row group.
_ROW_GROUP = 10_000
GEOPARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
GEOJSON_MEDIA_TYPE = "application/geo+json"


@dataclass
class VectorSummary:
    """What was written: polygons and their area (m^2) per class code, and whether GeoJSON was."""

    polygons: list[int]
    area_m2: list[float]
    geojson: bool = False
    #: Polygons left out for being under the minimum mapping unit, and their pixels.
    dropped: int = 0
    dropped_pixels: int = 0
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Polygons:
    """A batch of polygons (a shapely array) with their class codes: `codes[i]` is `geometries[i]`'s."""

    codes: np.ndarray
    geometries: np.ndarray

    @classmethod
    def empty(cls) -> "Polygons":
        return cls(np.empty(0, np.uint8), np.empty(0, object))

    def __len__(self) -> int:
        return len(self.codes)

    def where(self, mask: np.ndarray) -> "Polygons":
        return Polygons(self.codes[mask], self.geometries[mask])


class SeamTracer:
    """Traces a map's blocks into polygons (pixel coordinates) and stitches those across seams."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self._waiting: list[Polygons] = []

    def add(self, window: Window, classes: np.ndarray) -> Polygons:
        """The block's polygons that are final; those touching an inner edge of the block wait."""
        valid = classes != NO_CLASS
        if not valid.any():
            return Polygons.empty()
        traced = _trace(classes, valid, window.col, window.row)
        minx, miny, maxx, maxy = shapely.bounds(traced.geometries).T
        waits = np.zeros(len(traced), bool)
        if window.col > 0:
            waits |= minx == window.col
        if window.col + window.width < self.width:
            waits |= maxx == window.col + window.width
        if window.row > 0:
            waits |= miny == window.row
        if window.row + window.height < self.height:
            waits |= maxy == window.row + window.height
        if waits.any():
            self._waiting.append(traced.where(waits))
        return traced.where(~waits)

    def finish(self) -> Polygons:
        """The polygons that waited, each class's merged wherever they share an edge."""
        if not self._waiting:
            return Polygons.empty()
        codes = np.concatenate([p.codes for p in self._waiting])
        geometries = np.concatenate([p.geometries for p in self._waiting])
        self._waiting = []
        merged_codes, merged = [], []
        for code in np.unique(codes):
            parts = shapely.get_parts(shapely.union_all(geometries[codes == code]))
            parts = parts[(shapely.get_type_id(parts) == GeometryType.POLYGON) & ~shapely.is_empty(parts)]
            merged_codes.append(np.full(len(parts), code, np.uint8))
            merged.append(parts)
        return Polygons(np.concatenate(merged_codes), np.concatenate(merged))


def _trace(classes: np.ndarray, valid: np.ndarray, col: int, row: int) -> Polygons:
    """One block's 4-connected regions as polygons in the map's pixel coordinates.

    `features.shapes` hands each polygon over as nested lists of tuples; they are flattened into
    one coordinate array with ring and polygon offsets and built in one call, not one by one."""
    codes: list[float] = []
    rings_per_polygon: list[int] = []
    rings: list[list[tuple[float, float]]] = []
    for geometry, value in features.shapes(classes, mask=valid, connectivity=4):
        polygon_rings = geometry["coordinates"]
        codes.append(value)
        rings_per_polygon.append(len(polygon_rings))
        rings.extend(polygon_rings)
    ring_lengths = np.fromiter(map(len, rings), np.int64, len(rings))
    xy = np.fromiter(chain.from_iterable(chain.from_iterable(rings)), np.float64, 2 * int(ring_lengths.sum()))
    xy = xy.reshape(-1, 2)
    xy += (col, row)  # whole pixels: exact, so a seam's vertices agree on both sides
    geometries = shapely.from_ragged_array(
        GeometryType.POLYGON, xy, (_offsets(ring_lengths), _offsets(rings_per_polygon))
    )
    return Polygons(np.asarray(codes, np.uint8), geometries)


def _offsets(counts) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


class VectorWriter:
    """Streams a map's polygons into GeoParquet on the map's grid, with class, label and area.

    Polygons come in batches and are handled as arrays (shapely's vectorised functions), never
    one Python object at a time. While there are at most `GEOJSON_MAX_FEATURES`, the placed
    polygons are also kept, so `write_geojson` needs no second read of the file."""

    def __init__(
        self, dest: str | os.PathLike, *, crs: str, transform: Sequence[float], labels: Sequence[str],
        min_pixels: int = DEFAULT_MIN_PIXELS,
    ) -> None:
        self.labels = list(labels)
        self.min_pixels = min_pixels
        self.crs = CRS.from_user_input(crs)
        a, b, c, d, e, f = transform[:6]
        self._affine = (a, b, c, d, e, f)
        self._pixel_m2 = None
        if not self.crs.is_geographic:
            metres = self.crs.axis_info[0].unit_conversion_factor
            self._pixel_m2 = abs(a * e - b * d) * metres * metres
        self._geod = None if self._pixel_m2 else Geod(
            a=self.crs.ellipsoid.semi_major_metre, b=self.crs.ellipsoid.semi_minor_metre
        )
        self.summary = VectorSummary([0] * len(self.labels), [0.0] * len(self.labels))
        self._label_array = pa.array(self.labels, pa.string())
        self._pending: list[_Rows] = []
        self._kept: list[_Rows] | None = []  # for GeoJSON, until there are too many
        self._writer = pq.ParquetWriter(str(dest), _schema(self.crs), compression="zstd")

    def add(self, polygons: Polygons) -> None:
        """A batch of traced polygons (pixel coordinates): filtered, simplified, placed and buffered."""
        if not len(polygons):
            return
        pixels = shapely.area(polygons.geometries)
        small = pixels < self.min_pixels
        if small.any():
            self.summary.dropped += int(small.sum())
            self.summary.dropped_pixels += int(np.round(pixels[small]).sum())
            polygons = polygons.where(~small)
            if not len(polygons):
                return
        filled = _fill_small_holes(polygons.geometries, self.min_pixels)
        simple = shapely.simplify(filled, SIMPLIFY_PX, preserve_topology=True)
        placed = shapely.transform(simple, self._place)
        if self._pixel_m2 is not None:
            area = shapely.area(simple) * self._pixel_m2
        else:
            area = np.array([abs(self._geod.geometry_area_perimeter(_lon_lat(p, self.crs))[0]) for p in placed])
        counts = np.bincount(polygons.codes, minlength=len(self.labels))
        areas = np.bincount(polygons.codes, weights=area, minlength=len(self.labels))
        for code in np.flatnonzero(counts):
            self.summary.polygons[code] += int(counts[code])
            self.summary.area_m2[code] += float(areas[code])
        rows = _Rows(polygons.codes, area, placed)
        self._pending.append(rows)
        if self._kept is not None:
            self._kept.append(rows)
            if sum(self.summary.polygons) > GEOJSON_MAX_FEATURES:
                self._kept = None
        if sum(len(r) for r in self._pending) >= _ROW_GROUP:
            self._flush()

    def _place(self, xy: np.ndarray) -> np.ndarray:
        """Pixel coordinates onto the map's grid, term by term as `shapely.affinity` does."""
        a, b, c, d, e, f = self._affine
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack((a * x + b * y + c, d * x + e * y + f))

    def _flush(self) -> None:
        if not self._pending:
            return
        rows = _Rows.concat(self._pending)
        self._pending = []
        for start in range(0, len(rows), _ROW_GROUP):
            part = rows.slice(start, start + _ROW_GROUP)
            self._writer.write_table(pa.Table.from_arrays(
                [
                    pa.array(part.codes, pa.uint8()),
                    self._label_array.take(pa.array(part.codes)),
                    pa.array(part.area_m2, pa.float64()),
                    pa.array(shapely.to_wkb(part.geometries), pa.binary()),
                ],
                schema=self._writer.schema,
            ))

    def write_geojson(self, dest: str | os.PathLike) -> bool:
        """The polygons written so far as GeoJSON at `dest`, if there are few enough; whether it was."""
        if self._kept is None:
            return False
        rows = _Rows.concat(self._kept) if self._kept else _Rows.empty()
        _write_feature_collection(dest, self.crs, self.labels, rows)
        return True

    def close(self) -> VectorSummary:
        """Write what is buffered and the file's footer; the totals."""
        self._flush()
        self._writer.close()
        return self.summary


@dataclass(frozen=True)
class _Rows:
    """Rows of the vector file: class code, area (m^2) and placed geometry, as arrays."""

    codes: np.ndarray
    area_m2: np.ndarray
    geometries: np.ndarray

    @classmethod
    def empty(cls) -> "_Rows":
        return cls(np.empty(0, np.uint8), np.empty(0), np.empty(0, object))

    @classmethod
    def concat(cls, parts: list["_Rows"]) -> "_Rows":
        return cls(
            np.concatenate([p.codes for p in parts]), np.concatenate([p.area_m2 for p in parts]),
            np.concatenate([p.geometries for p in parts]),
        )

    def __len__(self) -> int:
        return len(self.codes)

    def slice(self, start: int, stop: int) -> "_Rows":
        return _Rows(self.codes[start:stop], self.area_m2[start:stop], self.geometries[start:stop])


def _fill_small_holes(polygons: np.ndarray, min_pixels: float) -> np.ndarray:
    """`polygons` with their holes under `min_pixels` filled: the speckle left out is its surroundings'.

    Ring areas come from the shoelace formula over the rings' coordinates all at once (whole
    pixels, so exact); only polygons that lose a hole are rebuilt."""
    holed = np.flatnonzero(shapely.get_num_interior_rings(polygons) > 0)
    if not len(holed):
        return polygons
    _, xy, (ring_offsets, polygon_offsets) = shapely.to_ragged_array(polygons[holed])
    keep = _ring_areas(xy, ring_offsets) >= min_pixels
    keep[polygon_offsets[:-1]] = True  # the exterior
    if keep.all():
        return polygons
    ring_lengths = np.diff(ring_offsets)
    rings_kept = np.add.reduceat(keep.astype(np.int64), polygon_offsets[:-1])
    rebuilt = shapely.from_ragged_array(
        GeometryType.POLYGON, xy[np.repeat(keep, ring_lengths)], (_offsets(ring_lengths[keep]), _offsets(rings_kept)),
    )
    out = polygons.copy()
    out[holed] = rebuilt
    return out


def _ring_areas(xy: np.ndarray, ring_offsets: np.ndarray) -> np.ndarray:
    """The unsigned area of each closed ring of a ragged coordinate array."""
    x, y = xy[:, 0], xy[:, 1]
    cross = np.zeros(len(xy))
    cross[:-1] = x[:-1] * y[1:] - x[1:] * y[:-1]
    cross[ring_offsets[1:-1] - 1] = 0.0  # no term between one ring's last point and the next's first
    return np.abs(np.add.reduceat(cross, ring_offsets[:-1])) / 2


def _lon_lat(geometry, crs: CRS):
    """A geographic CRS's geometry as longitude, latitude (the Geod's order) in degrees."""
    if crs.axis_info[0].direction in ("north", "south"):
        geometry = shapely.transform(geometry, lambda xy: xy[:, ::-1])
    return geometry


def _schema(crs: CRS) -> pa.Schema:
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {"encoding": "WKB", "geometry_types": ["Polygon"], "crs": crs.to_json_dict()},
        },
    }
    fields = [
        pa.field("class", pa.uint8()), pa.field("label", pa.string()), pa.field("area_m2", pa.float64()),
        pa.field("geometry", pa.binary()),
    ]
    return pa.schema(fields, metadata={"geo": json.dumps(geo)})


def write_vectors(
    dest: str | os.PathLike, blocks: Iterator[tuple[Window, np.ndarray]], *, width: int, height: int, crs: str,
    transform: Sequence[float], labels: Sequence[str], min_pixels: int = DEFAULT_MIN_PIXELS,
    geojson: str | os.PathLike | None = None,
) -> VectorSummary:
    """Trace `blocks` ((window, uint8 codes) each) into GeoParquet at `dest` (and GeoJSON at
    `geojson`, below `GEOJSON_MAX_FEATURES`); what was written."""
    vectors = VectorSink(dest, width=width, height=height, crs=crs, transform=transform, labels=labels,
                         min_pixels=min_pixels, geojson=geojson)
    for window, classes in blocks:
        vectors.add(window, classes)
    return vectors.close()


class VectorSink:
    """`SeamTracer` into `VectorWriter`: fed one block at a time, closed once the map is done.

    With `geojson`, closing also writes the polygons there as GeoJSON when there are at most
    `GEOJSON_MAX_FEATURES` (`VectorSummary.geojson` says whether it did)."""

    def __init__(
        self, dest: str | os.PathLike, *, width: int, height: int, crs: str, transform: Sequence[float],
        labels: Sequence[str], min_pixels: int = DEFAULT_MIN_PIXELS, geojson: str | os.PathLike | None = None,
    ) -> None:
        self.tracer = SeamTracer(width, height)
        self.writer = VectorWriter(dest, crs=crs, transform=transform, labels=labels, min_pixels=min_pixels)
        self.geojson = geojson

    def add(self, window: Window, classes: np.ndarray) -> None:
        """Trace one block of the map."""
        self.writer.add(self.tracer.add(window, classes))

    def close(self) -> VectorSummary:
        """Stitch what waited at the seams, and finish the file(s)."""
        self.writer.add(self.tracer.finish())
        summary = self.writer.close()
        if self.geojson is not None:
            summary.geojson = self.writer.write_geojson(self.geojson)
        return summary


def write_geojson(parquet: str | os.PathLike, dest: str | os.PathLike) -> None:
    """The GeoParquet's polygons as an RFC 7946 GeoJSON FeatureCollection (WGS84) at `dest`."""
    table = pq.read_table(parquet)
    geo = json.loads(table.schema.metadata[b"geo"])
    crs = CRS.from_json_dict(geo["columns"]["geometry"]["crs"])
    labels = dict(zip(table["class"].to_pylist(), table["label"].to_pylist()))
    rows = _Rows(table["class"].to_numpy(), table["area_m2"].to_numpy(), shapely.from_wkb(table["geometry"].to_numpy()))
    _write_feature_collection(dest, crs, labels, rows)


def _write_feature_collection(dest: str | os.PathLike, crs: CRS, labels, rows: _Rows) -> None:
    """`rows` as a FeatureCollection in WGS84 longitude, latitude; geometries serialised by GEOS in one call."""
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon_lat = shapely.transform(rows.geometries, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])))
    label_json = {code: json.dumps(labels[code]) for code in np.unique(rows.codes).tolist()}
    with open(dest, "w") as f:
        f.write('{"type": "FeatureCollection", "features": [')
        for i, (code, area, geometry) in enumerate(
            zip(rows.codes.tolist(), rows.area_m2.tolist(), shapely.to_geojson(lon_lat).tolist())
        ):
            f.write(
                f'{", " if i else ""}{{"type": "Feature", "properties": {{"class": {code}, "label": '
                f'{label_json[code]}, "area_m2": {area!r}}}, "geometry": {geometry}}}'
            )
        f.write("]}")
