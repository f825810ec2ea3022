"""PostgreSQL: the asyncpg pool, numbered SQL migrations and small keyword-only query functions."""

from swath.db.pool import connect, migrate

__all__ = ["connect", "migrate"]
