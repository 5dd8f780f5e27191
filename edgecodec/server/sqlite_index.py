"""The embedded index: SQLite in WAL mode with synchronous=FULL (a commit is on disk when it returns).

All calls run on one dedicated thread, so the event loop never blocks on disk and the single
connection is never shared between threads.
"""
from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path

from .records import WINDOW, FrameRecord, camera_stats

SCHEMA = """
CREATE TABLE IF NOT EXISTS frames (
    device_id TEXT NOT NULL, seq INTEGER NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    path TEXT NOT NULL, capture_us INTEGER NOT NULL, received_us INTEGER NOT NULL, model_id TEXT NOT NULL,
    quality REAL NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, decode_error TEXT,
    PRIMARY KEY (device_id, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS frames_by_time ON frames (device_id, capture_us);
CREATE TABLE IF NOT EXISTS devices (device_id TEXT PRIMARY KEY, frames INTEGER NOT NULL) WITHOUT ROWID;
"""
COLUMNS = ", ".join(f.name for f in fields(FrameRecord))
INDEX_FILE = "index.sqlite"
ADDED_COLUMNS = {"kind": "TEXT NOT NULL DEFAULT 'key'", "ref_seq": "INTEGER"}  # since delta frames (old files too)


def open_db(path: Path) -> sqlite3.Connection:
    """Open (creating) the index database with durable settings."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(SCHEMA)
    present = {row[1] for row in db.execute("PRAGMA table_info(frames)")}
    for name, declaration in ADDED_COLUMNS.items():
        if name not in present:
            db.execute(f"ALTER TABLE frames ADD COLUMN {name} {declaration}")
    return db


class SqliteIndex:
    """Async index over ``data_dir/index.sqlite``."""

    def __init__(self, data_dir: Path):
        self.db = open_db(Path(data_dir) / INDEX_FILE)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

    async def _call(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _get(self, device_id: str, seq: int) -> FrameRecord | None:
        row = self.db.execute(f"SELECT {COLUMNS} FROM frames WHERE device_id=? AND seq=?", (device_id, seq)).fetchone()
        return FrameRecord(*row) if row else None

    def _insert(self, rec: FrameRecord) -> FrameRecord | None:
        values = tuple(getattr(rec, f.name) for f in fields(FrameRecord))
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(f"INSERT INTO frames ({COLUMNS}) VALUES ({', '.join('?' * len(values))})", values)
            self.db.execute("INSERT INTO devices VALUES (?, 1) ON CONFLICT(device_id) DO UPDATE SET frames=frames+1",
                            (rec.device_id,))
            self.db.execute("COMMIT")
            return None
        except sqlite3.IntegrityError:
            self.db.execute("ROLLBACK")
            return self._get(rec.device_id, rec.seq)
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    async def insert(self, rec: FrameRecord) -> FrameRecord | None:
        """Insert durably; None when inserted, else the record that already holds (device, seq)."""
        return await self._call(self._insert, rec)

    async def get(self, device_id: str, seq: int) -> FrameRecord | None:
        return await self._call(self._get, device_id, seq)

    def _latest(self, device_id: str) -> FrameRecord | None:
        row = self.db.execute(f"SELECT {COLUMNS} FROM frames WHERE device_id=? ORDER BY seq DESC LIMIT 1",
                              (device_id,)).fetchone()
        return FrameRecord(*row) if row else None

    async def latest(self, device_id: str) -> FrameRecord | None:
        """The device's frame with the highest sequence number, or None."""
        return await self._call(self._latest, device_id)

    def _frames(self, device_id: str, since_us: int, until_us: int, limit: int, after: int) -> list[FrameRecord]:
        rows = self.db.execute(f"SELECT {COLUMNS} FROM frames WHERE device_id=? AND seq>? AND capture_us>=? "
                               "AND capture_us<? ORDER BY seq LIMIT ?",
                               (device_id, after, since_us, until_us, limit)).fetchall()
        return [FrameRecord(*r) for r in rows]

    async def frames(self, device_id: str, since_us: int, until_us: int, limit: int,
                     after: int = -1) -> list[FrameRecord]:
        """The first ``limit`` frames captured in [since, until) whose seq is above ``after``, in sequence order."""
        return await self._call(self._frames, device_id, since_us, until_us, limit, after)

    def _get_many(self, device_id: str, seqs: list[int]) -> dict[int, FrameRecord]:
        found: dict[int, FrameRecord] = {}
        for i in range(0, len(seqs), 500):
            chunk = seqs[i:i + 500]
            rows = self.db.execute(f"SELECT {COLUMNS} FROM frames WHERE device_id=? AND seq IN "
                                   f"({', '.join('?' * len(chunk))})", (device_id, *chunk))
            found.update((rec.seq, rec) for rec in (FrameRecord(*r) for r in rows))
        return found

    async def get_many(self, device_id: str, seqs: list[int]) -> dict[int, FrameRecord]:
        """The device's stored frames among ``seqs``, by seq."""
        return await self._call(self._get_many, device_id, sorted(set(seqs)))

    def _paths(self, device_id: str, first: int, last: int) -> dict[int, str]:
        rows = self.db.execute("SELECT seq, path FROM frames WHERE device_id=? AND seq BETWEEN ? AND ?",
                               (device_id, first, last)).fetchall()
        return dict(rows)

    async def paths(self, device_id: str, first: int, last: int) -> dict[int, str]:
        """{seq: path} of the device's frames with ``first <= seq <= last``."""
        return await self._call(self._paths, device_id, first, last)

    def _devices(self) -> list[dict]:
        out = []
        for device_id, count in self.db.execute("SELECT device_id, frames FROM devices ORDER BY device_id").fetchall():
            rows = self.db.execute(f"SELECT {COLUMNS} FROM frames WHERE device_id=? ORDER BY seq DESC LIMIT ?",
                                   (device_id, WINDOW)).fetchall()
            out.append(camera_stats(device_id, count, [FrameRecord(*r) for r in rows]))
        return out

    async def devices(self) -> list[dict]:
        """Every camera with its frame count, newest frame, fps, bitrate and lag."""
        return await self._call(self._devices)

    def _set_error(self, device_id: str, seq: int, error: str) -> None:
        self.db.execute("UPDATE frames SET decode_error=? WHERE device_id=? AND seq=?", (error[:500], device_id, seq))

    async def set_decode_error(self, device_id: str, seq: int, error: str) -> None:
        await self._call(self._set_error, device_id, seq, error)

    async def close(self) -> None:
        await self._call(self.db.close)
        self._thread.shutdown()
