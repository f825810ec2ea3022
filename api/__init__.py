"""The Swath HTTP API: `create_app()` builds the FastAPI application (`python -m api` serves it)."""

from api.app import create_app

__all__ = ["create_app"]
