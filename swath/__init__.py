"""Swath: durable GPU analysis runs on Temporal.

What every role shares lives here: settings, contracts, task queues, error codes, the database
layer, the blob store, the model registry, tile decoding, the CLI and the embedded stack.
"""
