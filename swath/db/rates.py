"""The pool's measured pace: model windows per second over recently completed runs (an estimate's clock)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from swath.domain.status import RunStatus


@dataclass(frozen=True)
class WindowRate:
    """Windows mapped per second of run time, over `runs` completed runs."""

    windows: int
    seconds: float
    runs: int

    @property
    def per_second(self) -> float:
        return self.windows / self.seconds if self.seconds > 0 else 0.0


async def recent_window_rate(
    conn: asyncpg.Connection, *, model: str | None, limit: int, within_days: int
) -> WindowRate:
    """Windows done over seconds from start to finish of the `limit` latest completed runs that
    mapped scenes, finished within `within_days`: of `model` (`name@version`), or of any model (None)."""
    row = await conn.fetchrow(
        """
        SELECT count(*) AS runs, coalesce(sum(windows_done), 0) AS windows,
               coalesce(sum(extract(epoch FROM finished_at - started_at)), 0)::float8 AS seconds
        FROM (
            SELECT windows_done, started_at, finished_at FROM runs
            WHERE status = $1 AND windows_done > 0 AND started_at IS NOT NULL AND finished_at > started_at
              AND finished_at > now() - make_interval(days => $4) AND ($2::text IS NULL OR model_resolved = $2)
            ORDER BY finished_at DESC LIMIT $3
        ) AS recent
        """,
        RunStatus.COMPLETE.value, model, limit, within_days,
    )
    return WindowRate(windows=int(row["windows"]), seconds=float(row["seconds"]), runs=int(row["runs"]))
