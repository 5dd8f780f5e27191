"""Headless Chromium driven over the DevTools protocol (aiohttp's WebSocket client): open a page, run
JavaScript in it, wait for a condition, see the requests it made."""
from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import aiohttp

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1"]


class Browser:
    """``async with Browser(binary, profile) as b: await b.open(url); await b.wait_for("js expression")``."""

    def __init__(self, binary: str, profile: Path):
        self.binary, self.profile = binary, profile
        self.requests: list[str] = []  # URLs the page requested (Network.requestWillBeSent)
        self._next_id = 0

    async def __aenter__(self) -> "Browser":
        self.proc = subprocess.Popen([self.binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = await self._port()
        self.session = aiohttp.ClientSession()
        async with self.session.get(f"http://127.0.0.1:{port}/json/list") as r:
            page = next(t for t in await r.json() if t["type"] == "page")
        self.ws = await self.session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        await self.send("Network.enable")
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()
        await self.session.close()
        self.proc.terminate()
        self.proc.wait(20)

    async def _port(self, timeout: float = 60.0) -> int:
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "chromium exited"
            if active.exists() and active.read_text().strip():
                return int(active.read_text().split()[0])
            await asyncio.sleep(0.1)
        raise AssertionError("chromium did not open its DevTools port")

    async def send(self, method: str, **params) -> dict:
        self._next_id += 1
        await self.ws.send_json({"id": self._next_id, "method": method, "params": params})
        while True:
            msg = json.loads((await self.ws.receive(timeout=60)).data)
            if msg.get("method") == "Network.requestWillBeSent":
                self.requests.append(msg["params"]["request"]["url"])
            if msg.get("id") == self._next_id:
                assert "error" not in msg, msg["error"]
                return msg["result"]

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def js(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 60.0, poll: float = 0.05):
        """Evaluate ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(poll)
        raise AssertionError(f"timed out waiting for {expression}")
