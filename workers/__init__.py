"""Worker pools: each declared once in `workers.pools`, all started by `python -m workers --pool NAME`."""
