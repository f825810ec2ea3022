"""Benchmarks (not tests): each prints Swath's figure beside a baseline measured in the same run.

`python -m bench` runs them all; `python -m bench orchestration` or `inference` runs one.
"""
