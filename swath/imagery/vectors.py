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
the same polygons are also written as GeoJSON (RFC 7946: WGS84 longitude, latitude).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from pyproj import CRS, Geod
from rasterio import features
from rasterio.transform import Affine
from shapely.geometry import Polygon, shape

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


class SeamTracer:
    """Traces a map's blocks into polygons (pixel coordinates) and stitches those across seams."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self._waiting: dict[int, list[Polygon]] = {}

    def add(self, window: Window, classes: np.ndarray) -> Iterator[tuple[int, Polygon]]:
        """The block's polygons that are final; those touching an inner edge of the block wait."""
        valid = classes != NO_CLASS
        if not valid.any():
            return
        shift = Affine.translation(window.col, window.row)
        inner = (
            window.col if window.col > 0 else None,
            window.col + window.width if window.col + window.width < self.width else None,
            window.row if window.row > 0 else None,
            window.row + window.height if window.row + window.height < self.height else None,
        )
        for geometry, value in features.shapes(classes, mask=valid, connectivity=4, transform=shift):
            polygon = shape(geometry)
            code = int(value)
            if _touches(polygon.bounds, inner):
                self._waiting.setdefault(code, []).append(polygon)
            else:
                yield code, polygon

    def finish(self) -> Iterator[tuple[int, Polygon]]:
        """The polygons that waited, each class's merged wherever they share an edge."""
        for code in sorted(self._waiting):
            merged = shapely.union_all(self._waiting.pop(code))
            for part in shapely.get_parts(merged):
                if isinstance(part, Polygon) and not part.is_empty:
                    yield code, part


def _touches(bounds: tuple[float, float, float, float], inner: tuple[int | None, ...]) -> bool:
    minx, miny, maxx, maxy = bounds
    left, right, top, bottom = inner
    return (minx == left) or (maxx == right) or (miny == top) or (maxy == bottom)


class VectorWriter:
    """Streams a map's polygons into GeoParquet on the map's grid, with class, label and area."""

    def __init__(
        self, dest: str | os.PathLike, *, crs: str, transform: Sequence[float], labels: Sequence[str],
        min_pixels: int = DEFAULT_MIN_PIXELS,
    ) -> None:
        self.labels = list(labels)
        self.min_pixels = min_pixels
        self.crs = CRS.from_user_input(crs)
        a, b, c, d, e, f = transform[:6]
        self._affine = [a, b, d, e, c, f]  # shapely's order
        self._pixel_m2 = None
        if not self.crs.is_geographic:
            metres = self.crs.axis_info[0].unit_conversion_factor
            self._pixel_m2 = abs(a * e - b * d) * metres * metres
        self._geod = None if self._pixel_m2 else Geod(
            a=self.crs.ellipsoid.semi_major_metre, b=self.crs.ellipsoid.semi_minor_metre
        )
        self.summary = VectorSummary([0] * len(self.labels), [0.0] * len(self.labels))
        self._rows: dict[str, list] = {"class": [], "label": [], "area_m2": [], "geometry": []}
        self._writer = pq.ParquetWriter(str(dest), _schema(self.crs), compression="zstd")

    def add(self, code: int, polygon: Polygon) -> None:
        """One traced polygon (pixel coordinates): filtered, simplified, placed and buffered."""
        pixels = polygon.area
        if pixels < self.min_pixels:
            self.summary.dropped += 1
            self.summary.dropped_pixels += round(pixels)
            return
        polygon = _fill_small_holes(polygon, self.min_pixels)
        simple = polygon.simplify(SIMPLIFY_PX, preserve_topology=True)
        placed = shapely.affinity.affine_transform(simple, self._affine)
        if self._pixel_m2 is not None:
            area = simple.area * self._pixel_m2
        else:
            area = abs(self._geod.geometry_area_perimeter(_lon_lat(placed, self.crs))[0])
        self.summary.polygons[code] += 1
        self.summary.area_m2[code] += area
        rows = self._rows
        rows["class"].append(code)
        rows["label"].append(self.labels[code])
        rows["area_m2"].append(area)
        rows["geometry"].append(shapely.to_wkb(placed))
        if len(rows["class"]) >= _ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._rows["class"]:
            self._writer.write_table(pa.Table.from_pydict(self._rows, schema=self._writer.schema))
            self._rows = {name: [] for name in self._rows}

    def close(self) -> VectorSummary:
        """Write what is buffered and the file's footer; the totals."""
        self._flush()
        self._writer.close()
        return self.summary


def _fill_small_holes(polygon: Polygon, min_pixels: float) -> Polygon:
    """`polygon` with its holes under `min_pixels` filled: the speckle left out is its surroundings'."""
    holes = [ring for ring in polygon.interiors if Polygon(ring).area >= min_pixels]
    if len(holes) == len(polygon.interiors):
        return polygon
    return Polygon(polygon.exterior, holes)


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
) -> VectorSummary:
    """Trace `blocks` ((window, uint8 codes) each) into GeoParquet at `dest`; what was written."""
    vectors = VectorSink(dest, width=width, height=height, crs=crs, transform=transform, labels=labels,
                         min_pixels=min_pixels)
    for window, classes in blocks:
        vectors.add(window, classes)
    return vectors.close()


class VectorSink:
    """`SeamTracer` into `VectorWriter`: fed one block at a time, closed once the map is done."""

    def __init__(
        self, dest: str | os.PathLike, *, width: int, height: int, crs: str, transform: Sequence[float],
        labels: Sequence[str], min_pixels: int = DEFAULT_MIN_PIXELS,
    ) -> None:
        self.tracer = SeamTracer(width, height)
        self.writer = VectorWriter(dest, crs=crs, transform=transform, labels=labels, min_pixels=min_pixels)

    def add(self, window: Window, classes: np.ndarray) -> None:
        """Trace one block of the map."""
        for code, polygon in self.tracer.add(window, classes):
            self.writer.add(code, polygon)

    def close(self) -> VectorSummary:
        """Stitch what waited at the seams, and finish the file."""
        for code, polygon in self.tracer.finish():
            self.writer.add(code, polygon)
        return self.writer.close()


def write_geojson(parquet: str | os.PathLike, dest: str | os.PathLike) -> None:
    """The GeoParquet's polygons as an RFC 7946 GeoJSON FeatureCollection (WGS84) at `dest`."""
    import geopandas  # only here: reading a whole (small) vector file back

    frame = geopandas.read_parquet(parquet).to_crs("EPSG:4326")
    with open(dest, "w") as f:
        f.write(frame.to_json(drop_id=True))
