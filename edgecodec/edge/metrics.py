"""The daemon's counters (Prometheus), with the process metrics, and its small /healthz + /metrics HTTP server."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..common.process_metrics import add_process_metrics
from ..common.protocol import HEALTH, METRICS


class DaemonMetrics:
    """One registry per daemon (tests run several in one process)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.captured = Counter("edgecodec_frames_captured", "frames read from the source", registry=r)
        self.dropped = Counter("edgecodec_frames_dropped", "frames dropped: encode queue full, or no room in the spool",
                               registry=r)
        self.encoded = Counter("edgecodec_frames_encoded", "frames encoded, by kind (key, delta)", ["kind"],
                               registry=r)
        self.spooled = Counter("edgecodec_frames_spooled", "frames written durably to the spool", registry=r)
        self.uploaded = Counter("edgecodec_frames_uploaded", "frames acknowledged by the server", registry=r)
        self.evicted = Counter("edgecodec_frames_evicted", "spooled frames evicted because the spool was full",
                               registry=r)
        self.rejected = Counter("edgecodec_frames_rejected", "frames the server refused for good (4xx)", registry=r)
        self.corrupt = Counter("edgecodec_frames_corrupt", "spooled files that failed validation", registry=r)
        self.upload_errors = Counter("edgecodec_upload_errors", "failed upload attempts (retried)", registry=r)
        self.encoded_bytes = Counter("edgecodec_encoded_bytes", "bytes of encoded frames, by kind (key, delta); "
                                     "the bitrate is 8 * rate() of it", ["kind"], registry=r)
        self.skipped = Histogram("edgecodec_delta_skipped_ratio", "share of a delta frame's positions taken "
                                 "from the reference", registry=r, buckets=(.25, .5, .75, .9, .95, .99, 1))
        self.spool_bytes = Gauge("edgecodec_spool_bytes", "bytes waiting in the spool", registry=r)
        self.spool_frames = Gauge("edgecodec_spool_frames", "frames waiting in the spool", registry=r)
        self.encode_seconds = Histogram("edgecodec_encode_seconds", "time to encode one frame", registry=r,
                                        buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.upload_seconds = Histogram("edgecodec_upload_seconds", "time of one successful upload", registry=r,
                                        buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
        self.upload_lag = Gauge("edgecodec_upload_lag_seconds", "capture-to-acknowledgement time of the last "
                                "uploaded frame", registry=r)
        self.build_info = add_process_metrics(r)

    def count_encoded(self, kind: str, size: int, skipped: float) -> None:
        """One encoded frame of ``kind`` ('key' or 'delta'), its bytes and (delta) skipped share."""
        self.encoded.labels(kind).inc()
        self.encoded_bytes.labels(kind).inc(size)
        if kind == "delta":
            self.skipped.observe(skipped)

    def snapshot(self) -> dict[str, int]:
        """Counter totals by short name, and per frame kind as ``encoded_key`` etc. (for logs and tests)."""
        names = ("captured", "dropped", "encoded", "spooled", "uploaded", "evicted", "rejected", "corrupt",
                 "upload_errors", "encoded_bytes")
        totals = {n: 0 for n in names}
        for name in names:
            for sample in getattr(self, name).collect()[0].samples:
                if sample.name.endswith("_total"):
                    kind = sample.labels.get("kind")
                    totals[name] += int(sample.value)
                    if kind is not None:
                        totals[f"{name}_{kind}"] = totals.get(f"{name}_{kind}", 0) + int(sample.value)
        return totals


def serve_http(listen: str, metrics: DaemonMetrics, health: Callable[[], dict]) -> ThreadingHTTPServer:
    """Start /healthz (JSON, 503 when unhealthy) and /metrics on ``HOST:PORT`` in a daemon thread."""
    host, port = listen.rsplit(":", 1)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == METRICS:
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path == HEALTH:
                state = health()
                self._send(200 if state["ok"] else 503, json.dumps(state).encode(), "application/json")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
