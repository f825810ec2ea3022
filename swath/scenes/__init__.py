"""Scenes: multi-band georeferenced rasters as run inputs, and the land-cover maps made from them."""
