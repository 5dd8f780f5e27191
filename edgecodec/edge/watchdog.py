"""Runs each role in its own thread and restarts a crashed one a limited number of times.

A role that raises ``Permanent`` is not restarted: the watchdog gives up at once."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("edgecodec.watchdog")


@dataclass
class Role:
    """A named role and the state of its current thread."""

    name: str
    target: Callable[[], None]
    thread: threading.Thread | None = None
    finished: bool = False
    error: str | None = None
    restarts: int = 0
    permanent: bool = False
    retry_at: float = field(default=0.0)


class GaveUp(RuntimeError):
    """A role crashed more often than the restart limit allows, or with a permanent error."""


class Permanent(Exception):
    """A role's error that no restart can fix (say, a video file OpenCV cannot read)."""


class Watchdog:
    """Starts roles; ``check()`` restarts crashed ones after a growing delay, up to ``max_restarts`` each."""

    def __init__(self, max_restarts: int, base_delay: float = 1.0):
        self.max_restarts, self.base_delay = max_restarts, base_delay
        self.roles: dict[str, Role] = {}

    def start(self, name: str, target: Callable[[], None]) -> None:
        role = self.roles[name] = Role(name, target)
        self._launch(role)

    def _launch(self, role: Role) -> None:
        role.error = None

        def body() -> None:
            try:
                role.target()
                role.finished = True
            except Permanent as e:
                role.error, role.permanent = str(e), True
                log.error("role %s failed: %s", role.name, role.error)
            except Exception as e:  # a crashed role is the watchdog's business, not the thread's
                role.error = f"{type(e).__name__}: {e}"
                role.retry_at = time.monotonic() + min(30.0, self.base_delay * 2.0 ** role.restarts)
                log.error("role %s crashed: %s", role.name, role.error)

        role.thread = threading.Thread(target=body, name=role.name, daemon=True)
        role.thread.start()

    def check(self) -> None:
        """Restart crashed roles whose delay has passed; raises GaveUp past the limit."""
        for role in self.roles.values():
            if role.error is None or role.thread.is_alive():
                continue
            if role.permanent:
                raise GaveUp(f"role {role.name} failed: {role.error}")
            if role.restarts >= self.max_restarts:
                raise GaveUp(f"role {role.name} crashed {role.restarts + 1} times, last: {role.error}")
            if time.monotonic() >= role.retry_at:
                role.restarts += 1
                log.warning("restarting role %s (restart %d of %d)", role.name, role.restarts, self.max_restarts)
                self._launch(role)

    def running(self, name: str) -> bool:
        """The role's thread is alive."""
        return self.roles[name].thread.is_alive()

    def done(self, name: str) -> bool:
        """The role returned normally."""
        return self.roles[name].finished

    def crashed(self) -> str | None:
        """'role NAME crashed: ERROR' for a role that is down now (awaiting its restart), else None."""
        for r in self.roles.values():
            if r.error is not None and not r.thread.is_alive():
                return f"role {r.name} crashed: {r.error}"
        return None

    def health(self) -> dict:
        """Per role: running, finished or crashed, and its restarts."""
        roles = {}
        for r in self.roles.values():
            state = "finished" if r.finished else "running" if r.thread.is_alive() else "crashed"
            roles[r.name] = {"state": state, "restarts": r.restarts, "error": r.error}
        return {"ok": all(v["state"] != "crashed" for v in roles.values()), "roles": roles}

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for role in self.roles.values():
            role.thread.join(max(0.0, deadline - time.monotonic()))
