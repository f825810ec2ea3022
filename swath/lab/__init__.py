"""The lab: synthetic data, training, the bundled samples and the demo; never imported by a pool.

- `synthetic`: synthetic Sentinel-2-like land-cover tiles;
- `synthetic_scenes`: deterministic synthetic scenes with a land-cover label for every pixel;
- `train_crop_classifier`, `train_landcover_segmenter`: training that writes a registry version
  (`python -m swath.lab.train_crop_classifier`, `python -m swath.lab.train_landcover_segmenter`);
- `samples`: fifty labelled sample tiles bundled with Swath;
- `demo`: the sample runs `swath up --demo` submits.

Only the `swath` command, the tests and the benchmarks import it; this package imports none of
its modules.
"""
