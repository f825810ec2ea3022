"""Routes, one module per resource; each stays thin and calls into `api.services`."""
