"""After an unclean stop (SIGKILL, a power cut) the data directory may hold what interrupted work
left: a partial temporary file, or a complete bitstream whose index commit never happened.

At start, unless the previous run left its clean-stop mark, the embedded server walks ``frames/``
and ``png/``: temporary files are removed; a bitstream the index does not name is indexed when it
is complete and valid (the hash in its name, the pixel limit, the CRC), else removed. Its
capture time was never stored, so the file's modification time stands in for both capture and
arrival time (as for an upload without the capture header). Scaled mode does not sweep: other
nodes may be writing into the shared directory.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from pathlib import Path

from ..codec import bitstream
from ..common.durable import TEMP_PREFIX, clean_temp_files, fsync_dir, remove_durable, write_durable
from ..common.protocol import valid_device_id
from .metrics import ServerMetrics
from .records import FrameRecord
from .sqlite_index import SqliteIndex
from .storage import SHARD, FrameStore

log = logging.getLogger("edgecodec.server")
CLEAN_MARK = "clean-stop"
_ECB_NAME = re.compile(r"(\d{1,19})\.([0-9a-f]{16})\.ecb")


def stopped_cleanly(data: Path) -> bool:
    """Whether the previous run left its clean-stop mark; the mark is removed (durably) either way."""
    return remove_durable(Path(data) / CLEAN_MARK)


def mark_clean_stop(data: Path) -> None:
    """The server stopped after closing everything: the next start need not sweep."""
    write_durable(Path(data) / CLEAN_MARK, b"")


def _shards(frames: Path) -> list[tuple[str, Path]]:
    """(device id, shard folder) of every shard under ``frames/``."""
    return [(device.name, shard) for device in sorted(frames.iterdir()) if device.is_dir()
            and valid_device_id(device.name) for shard in sorted(device.iterdir()) if shard.name.isdigit()]


def _recover(store: FrameStore, device_id: str, seq: int, path: Path, max_pixels: int) -> FrameRecord | None:
    """The record of a complete, valid bitstream at its proper path; None otherwise."""
    try:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        rel = store.relative_path(device_id, seq, sha)
        header = bitstream.unpack(data, max_pixels).header
        mtime_us = path.stat().st_mtime_ns // 1000
    except (OSError, ValueError, bitstream.BitstreamError):
        return None
    if store.ecb_file(rel) != path:  # the name's hash is not the content's, or the wrong shard
        return None
    return FrameRecord.of(header, device_id, seq, sha, len(data), rel, mtime_us, mtime_us)


async def _sweep_shard(store: FrameStore, index: SqliteIndex, device_id: str, shard: Path, max_pixels: int,
                       counts: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    counts["removed"] += await loop.run_in_executor(None, clean_temp_files, shard)
    first = int(shard.name) * SHARD
    indexed = await index.paths(device_id, first, first + SHARD - 1)
    for path in await loop.run_in_executor(None, lambda: sorted(shard.glob("*.ecb"))):
        match = _ECB_NAME.fullmatch(path.name)
        if match is None:
            continue
        seq, rec = int(match[1]), None
        if seq in indexed:
            if indexed[seq] == path.relative_to(store.root).as_posix():
                continue
        else:  # (when another upload of this seq is indexed, this one is a leftover)
            rec = await loop.run_in_executor(None, _recover, store, device_id, seq, path, max_pixels)
        if rec is not None and await index.insert(rec) is None:
            counts["indexed"] += 1
            log.warning("frame %s/%d was stored but not indexed (unclean stop): indexed now", device_id, rec.seq)
        else:
            await loop.run_in_executor(None, remove_durable, path)
            counts["removed"] += 1


def _clean_png_temp(png: Path) -> int:
    removed = 0
    for path in png.rglob(f"{TEMP_PREFIX}*"):
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)
        removed += 1
    return removed


async def sweep(store: FrameStore, index: SqliteIndex, metrics: ServerMetrics, max_pixels: int) -> dict[str, int]:
    """Walk the data directory after an unclean stop (see the module); returns and counts what was done."""
    loop = asyncio.get_running_loop()
    counts = {"indexed": 0, "removed": await loop.run_in_executor(None, _clean_png_temp, store.root / "png")}
    for device_id, shard in await loop.run_in_executor(None, _shards, store.root / "frames"):
        await _sweep_shard(store, index, device_id, shard, max_pixels, counts)
    for action, count in counts.items():
        metrics.swept.labels(action).inc(count)
    if counts["indexed"] or counts["removed"]:
        log.warning("data directory %s swept after an unclean stop: %d frame(s) indexed, %d leftover file(s) "
                    "removed", store.root, counts["indexed"], counts["removed"])
    return counts
