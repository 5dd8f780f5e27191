"""A TCP proxy on loopback that cuts a random share of its connections after a random number of bytes.

A cut request is forwarded up to the cut (the server sees a truncated body); a cut response
is lost from the chunk that crosses the budget (the client misses an acknowledgement).
"""
from __future__ import annotations

import random
import socket
import threading


class FlakyProxy:
    """Forwards 127.0.0.1:port -> 127.0.0.1:upstream; ``drop_rate`` of connections are cut mid-stream."""

    def __init__(self, upstream: int, drop_rate: float, seed: int, max_request_cut: int = 20000,
                 max_response_cut: int = 2000):
        self.upstream, self.drop_rate = upstream, drop_rate
        self.limits = {"up": max_request_cut, "down": max_response_cut}
        self.rng = random.Random(seed)
        self.cuts = {"up": 0, "down": 0}
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:  # closed
                return
            cut = None
            if self.rng.random() < self.drop_rate:
                direction = self.rng.choice(("up", "down"))
                cut = (direction, self.rng.randint(0, self.limits[direction]))
            threading.Thread(target=self._serve, args=(client, cut), daemon=True).start()

    def _serve(self, client: socket.socket, cut: tuple[str, int] | None) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream), timeout=30)
        except OSError:
            client.close()
            return
        pair = (client, upstream)
        for direction, src, dst in (("up", client, upstream), ("down", upstream, client)):
            budget = cut[1] if cut and cut[0] == direction else None
            threading.Thread(target=self._pump, args=(direction, src, dst, budget, pair), daemon=True).start()

    def _pump(self, direction: str, src: socket.socket, dst: socket.socket, budget: int | None, pair) -> None:
        sent = 0
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                if budget is not None and sent + len(chunk) > budget:
                    if direction == "up":  # a truncated request; a response is lost whole (a lost ack)
                        dst.sendall(chunk[: budget - sent])
                    self.cuts[direction] += 1
                    break
                dst.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
