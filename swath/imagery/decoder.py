"""`RasterDecoder`: scene decoding in child processes that a cancel or a deadline stops.

GDAL decodes in C, and a thread running a decode cannot be interrupted: a scene crafted to be slow
to decode would keep its thread after the activity was cancelled, and a few such scenes would hold
every thread of the executor that blob reads and writes also need. So every inspection and block
read of a scene runs in one of a few child processes (forked from a `forkserver` that has imported
GDAL once). The caller waits for the answer on the event loop, holding no thread; when the caller is
cancelled (a run's cancel, its deadline, the activity's timeout) or the call takes longer than
`timeout_s`, the child is killed and replaced by a fresh one on the next call.

The children inherit the pool process's limits (its address-space cap included) and GDAL's
configuration (`swath.imagery.gdal_config`). Answers come back over a pipe between the pool and its
own children; a block travels as the `.npz` bytes ingest stages, so it is copied once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from swath.domain.errors import SceneDecodeTimeoutError, SceneError
from swath.imagery import band_stack, raster
from swath.imagery.blocks import encode_arrays
from swath.imagery.grid import Window

#: Forked from a server that imported GDAL once: cheap to replace, and safe from the pool's threads.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["swath.imagery.decoder"])
#: The longest one inspection or block read may take by default.
DECODE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class BlockRead:
    """One block read by a child: its staged `.npz` bytes, or None when no pixel of it is valid."""

    data: bytes | None


def _read_block_staged(
    path: str, block: tuple[int, int, int, int], indexes: Sequence[int], halo: int, nodata: float | None
) -> BlockRead:
    pixels = raster.read_block(path, Window(*block), indexes=indexes, halo=halo, nodata=nodata)
    if not pixels.valid.any():
        return BlockRead(None)
    return BlockRead(encode_arrays(pixels=pixels.pixels, valid=pixels.valid))


def _read_bands_staged(
    sources: Sequence[band_stack.BandSource], grid: band_stack.GridSpec, block: tuple[int, int, int, int],
    halo: int, resampling: str, aoi: dict | None,
) -> BlockRead:
    pixels = band_stack.read_bands_block(sources, grid, Window(*block), halo=halo, resampling=resampling, aoi=aoi)
    if not pixels.valid.any():
        return BlockRead(None)
    return BlockRead(encode_arrays(pixels=pixels.pixels, valid=pixels.valid))


#: What a child runs, by name: nothing but these is ever called there.
_CALLS: dict[str, Callable[..., Any]] = {
    "inspect": raster.inspect_scene, "read_block": _read_block_staged, "read_bands": _read_bands_staged,
}


def _serve(conn: Connection) -> None:
    """A child's loop: one call at a time until the pipe closes (the pool exited or killed it)."""
    while True:
        try:
            name, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer = ("ok", _CALLS[name](*args, **kwargs))
        except SceneError as err:
            answer = ("scene_error", err)
        except FileNotFoundError as err:
            answer = ("not_found", str(err))
        except Exception as err:  # noqa: BLE001 - reported to the caller, which raises it as its own
            answer = ("error", f"{type(err).__name__}: {err}")
        conn.send(answer)


class _Child:
    """One child process and the parent's end of its pipe."""

    def __init__(self) -> None:
        self.conn, child_end = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_serve, args=(child_end,), name="swath-raster-decoder", daemon=True)
        self.process.start()
        child_end.close()

    async def call(self, name: str, args: tuple, kwargs: dict) -> tuple:
        """Send one call and wait for the child's whole answer."""
        self.conn.send((name, args, kwargs))
        await readable(self.conn)
        # The child is writing its answer now: reading it takes as long as the copy, not the decode.
        return await asyncio.to_thread(self.conn.recv)

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


async def readable(conn: Connection) -> None:
    """Wait on the event loop, holding no thread, until `conn` (a pipe from a child process) has an
    answer, or is closed."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = conn.fileno()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _result(answer: tuple) -> Any:
    """A child's answer as the value it returned, or the exception it raised."""
    match answer:
        case ("ok", result):
            return result
        case ("scene_error", error):
            raise error
        case ("not_found", message):
            raise FileNotFoundError(message)
        case (_, message):
            raise RuntimeError(f"decoding failed in the decoder process: {message}")


class RasterDecoder:
    """Inspects scenes and reads their blocks in at most `processes` child processes at a time."""

    def __init__(
        self, limits: raster.SceneLimits = raster.SceneLimits(), *, processes: int = 0,
        timeout_s: float = DECODE_TIMEOUT_S,
    ) -> None:
        """`processes` 0: one per CPU core. `timeout_s` bounds each inspection and each block read."""
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s}")
        self.limits = limits
        self.timeout_s = timeout_s
        self.processes = processes or os.cpu_count() or 1
        self._idle: list[_Child] = []
        self._slots: asyncio.Semaphore | None = None

    async def inspect(self, path: os.PathLike | str, *, bands: Sequence[str] | None) -> raster.SceneInfo:
        """`raster.inspect_scene` under this decoder's limits, reading only `bands` (None: every band)."""
        return await self._call("inspect", str(path), self.limits, bands=list(bands) if bands is not None else None)

    async def read_block(
        self, path: os.PathLike | str, block: Window, *, indexes: Sequence[int], halo: int, nodata: float | None
    ) -> BlockRead:
        """`raster.read_block`, staged as `.npz` bytes by the child (None when no pixel is valid)."""
        where = (block.row, block.col, block.height, block.width)
        return await self._call("read_block", str(path), where, list(indexes), halo, nodata)

    async def read_bands(
        self, sources: Sequence[band_stack.BandSource], grid: band_stack.GridSpec, block: Window, *, halo: int,
        resampling: str, aoi: dict | None,
    ) -> BlockRead:
        """`band_stack.read_bands_block` (one file per band onto `grid`), staged as `.npz` bytes by the child."""
        where = (block.row, block.col, block.height, block.width)
        return await self._call("read_bands", list(sources), grid, where, halo, resampling, aoi)

    async def warm(self) -> None:
        """Start the children now (the forkserver with them), idle until the first call: a pool's
        first scene then pays no process start and no raster-library import (about 2 s on 2 cores)."""
        while len(self._idle) < self.processes:
            self._idle.append(await asyncio.to_thread(_Child))

    async def aclose(self) -> None:
        """Stop the idle children (a call in flight stops its own when it ends)."""
        while self._idle:
            self._idle.pop().kill()

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.processes)
        async with self._slots:
            child = self._idle.pop() if self._idle else await asyncio.to_thread(_Child)
            try:
                async with asyncio.timeout(self.timeout_s):
                    answer = await child.call(name, args, kwargs)
            except TimeoutError:
                child.kill()
                raise SceneDecodeTimeoutError(
                    f"decoding the scene took longer than {self.timeout_s:g} s; it was stopped"
                ) from None
            except BaseException:
                # Cancelled (the decode is stopped with its child), or the child died mid-answer.
                child.kill()
                raise
            self._idle.append(child)
            return _result(answer)
