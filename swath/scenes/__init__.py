"""Scenes: the raster library that multi-band GeoTIFF/COG inputs are mapped with, window by window.

- `grid`: cutting a scene into blocks (`Window`, `block_count`, `block_at`, `blocks`);
- `raster`: checking a scene up front and reading its bands one haloed block at a time
  (`inspect_scene`, `band_indexes`, `read_block`);
- `mapping`: sliding the model's window over a block and blending its logits into the block's
  class and confidence map (`BlockMapper`, `BlockMap`);
- `cog`: writing maps block by block as Cloud Optimized GeoTIFFs (`write_map`, `write_confidence`,
  `is_valid_cog`);
- `areas`: per-class pixel counts and areas in m^2, on the CRS's ellipsoid for geographic grids
  (`row_pixel_areas_m2`, `class_counts`, `class_stats`);
- `blocks`: how a block's pixels and its map are staged between steps (one `.npz` blob per block);
- `preview`: a PNG of a scene's true colour beside its map;
- `output_names`: what a scene's map and confidence map are named, and the id suffix that reserves;
- `synthetic`: deterministic synthetic Sentinel-2-like scenes with per-pixel labels, for training
  the segmenter, the tests, the sample scene and the benchmark.

Nothing here imports torch, Temporal or the database; import the module you need (this package
imports none of them, and `swath.scenes.grid`, which workflows may use to count blocks, imports
neither GDAL nor numpy).
"""
