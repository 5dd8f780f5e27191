"""Bearer tokens: only SHA-256 hashes on disk, constant-time comparison, revocable at once.

The store is one JSON file in the data directory, replaced atomically by the ``token``
command and re-read by the server whenever it changes (works on a shared data directory).
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..common.durable import make_dirs, write_durable
from ..common.protocol import valid_device_id

ROLES = ("device", "viewer")
TOKEN_FILE = "tokens.json"
_FIELDS: dict[str, type | tuple[type, ...]] = {"id": str, "name": str, "role": str, "sha256": str, "created": int,
                                               "revoked": (int, type(None))}


@dataclass(frozen=True)
class Principal:
    """Who a token belongs to: a device (may write only as itself) or a viewer (may read)."""

    name: str
    role: str


def check_token_name(name: str) -> str:
    """A new token's name: a valid device id or viewer name that does not start with '-' (on a command
    line it reads as an option: `token add -- -rf`); ValueError with the rule otherwise."""
    if not valid_device_id(name) or name.startswith("-"):
        raise ValueError(f"invalid name {name[:80]!r}: use 1..64 of [A-Za-z0-9._-], not starting with '.' or '-'")
    return name


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _entries(doc: object) -> list[dict]:
    """The entries of a parsed tokens file; ValueError saying what is wrong with it."""
    if not isinstance(doc, dict) or not isinstance(doc.get("tokens"), list):
        raise ValueError("no 'tokens' list")
    for i, entry in enumerate(doc["tokens"]):
        if not isinstance(entry, dict):
            raise ValueError(f"entry {i} is not an object")
        for key, kinds in _FIELDS.items():
            if key not in entry:
                raise ValueError(f"entry {i} lacks {key!r}")
            if isinstance(entry[key], bool) or not isinstance(entry[key], kinds):
                raise ValueError(f"entry {i} has an invalid {key!r}")
        if entry["role"] not in ROLES:
            raise ValueError(f"entry {i} has an unknown role {entry['role']!r}")
    return doc["tokens"]


class TokenStore:
    """Tokens of ``data_dir/tokens.json``."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / TOKEN_FILE
        self._stamp: tuple | None = None
        self._entries: list[dict] = []

    def _load(self) -> list[dict]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._entries = None, []
            return self._entries
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                self._entries = _entries(json.loads(self.path.read_bytes()))
            except ValueError as e:
                raise ValueError(f"{self.path}: not a token file ({e})") from None
            self._stamp = stamp
        return self._entries

    def _require_file(self) -> None:
        """FileNotFoundError unless the data directory and its tokens file exist."""
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"no data directory {self.path.parent}")
        if not self.path.is_file():
            raise FileNotFoundError(f"no tokens file {self.path} (no token was added yet)")

    def check(self) -> None:
        """ValueError naming the file if it is malformed (a missing file holds no tokens yet)."""
        self._load()

    def authenticate(self, token: str) -> Principal | None:
        """The active token's owner, or None. Compares against every entry in constant time."""
        digest = _hash(token)
        found = None
        for entry in self._load():
            if hmac.compare_digest(entry["sha256"], digest) and entry["revoked"] is None:
                found = Principal(entry["name"], entry["role"])
        return found

    @contextmanager
    def _editing(self, create: bool) -> Iterator[list[dict]]:
        """The entries under an exclusive lock, written back unless the block raises; ``create``: make the file."""
        if not create:
            self._require_file()
        self._load()  # a malformed file is refused before anything is created
        make_dirs(self.path.parent)
        with open(self.path.with_name(TOKEN_FILE + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._stamp = None
            entries = [dict(e) for e in self._load()]
            yield entries
            write_durable(self.path, json.dumps({"version": 1, "tokens": entries}, indent=1).encode())

    def add(self, name: str, role: str = "device") -> str:
        """Create a token for ``name``; returns it (the only time it exists in clear)."""
        check_token_name(name)
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (choose {' or '.join(ROLES)})")
        token = "ecb_" + secrets.token_urlsafe(32)
        with self._editing(create=True) as entries:
            entries.append({"id": secrets.token_hex(4), "name": name, "role": role, "sha256": _hash(token),
                            "created": int(time.time()), "revoked": None})
        return token

    def revoke(self, name: str) -> int:
        """Revoke every active token of ``name``; returns how many."""
        count = 0
        with self._editing(create=False) as entries:
            for entry in entries:
                if entry["name"] == name and entry["revoked"] is None:
                    entry["revoked"] = int(time.time())
                    count += 1
            if not count:
                raise ValueError(f"no active token for {name!r}")
        return count

    def list(self) -> list[dict]:
        """All tokens without their hashes; the data directory and its tokens file must exist."""
        self._require_file()
        return [{k: v for k, v in e.items() if k != "sha256"} for e in self._load()]
