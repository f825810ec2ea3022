"""Imagery: reading tiles and scenes, staging them between steps, writing maps.

- `tiles`: decoding and validating one input tile (NumPy only: the ingest pool never imports torch);
- `tiff_reader` and `bounded_decompress`: a TIFF's pixels with every allocation bounded by its
  declared geometry; `memory_limit`: the address-space cap that backs those bounds up;
- `staged`: staged tiles, one blob per chunk;
- `grid`: cutting a scene into blocks (`Window`, `block_count`, `block_at`, `blocks`);
- `gdal_config`: GDAL's configuration for every process that touches rasters (no sidecars,
  external overviews or network), set once at import;
- `raster`: checking a scene up front within its limits (`swath.domain.scene_limits`) and reading its bands one haloed block at
  a time (`inspect_scene`, `band_indexes`, `read_block`);
- `decoder`: inspections and block reads in child processes that a cancel or a deadline stops
  (`RasterDecoder`);
- `output_names`: what a scene's maps are named, and the input ids those names reserve;
- `mapping`: sliding the model's window over a block and blending its logits into the block's
  class and confidence map (`BlockMapper`, `BlockMap`);
- `cog`: writing maps block by block as Cloud Optimized GeoTIFFs (`write_map`, `write_confidence`,
  `is_valid_cog`);
- `areas`: per-class pixel counts and areas in m^2, on the CRS's ellipsoid for geographic grids
  (`row_pixel_areas_m2`, `class_counts`, `class_stats`);
- `blocks`: how a block's pixels and its map are staged between steps (one `.npz` blob per block);
- `preview`: a map's PNG preview in its classes' colours, and a scene's true colour beside its map;
- `vectors`: a map's polygons, traced per block and stitched across seams, as GeoParquet and GeoJSON;
- `stac`: a map's STAC Item and a run's Collection, and the shipped schemas (`stac_schemas/`) to
  validate them offline; `provenance`: what an Item says of the model, the inputs and the software;
- `crate`: a run's RO-Crate (Workflow Run Crate); `run_outputs`: a run's Collection and crate from
  its maps' Items.

Nothing here imports torch, Temporal or the database; import the module you need (this package
imports none of them, and `swath.imagery.grid`, which workflows may use to count blocks, imports
neither GDAL nor numpy).
"""
