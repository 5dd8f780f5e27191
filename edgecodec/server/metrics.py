"""The server's Prometheus counters, the newest frame's arrival per device, and the process metrics."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..common.process_metrics import add_process_metrics


class ServerMetrics:
    """One registry per server instance."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.stored = Counter("edgecodec_server_frames_stored", "frames stored (201)", registry=r)
        self.duplicates = Counter("edgecodec_server_frames_duplicate", "repeated uploads of a stored frame (200)",
                                  registry=r)
        self.rejected = Counter("edgecodec_server_requests_rejected", "refused requests", ["reason"], registry=r)
        self.decoded = Counter("edgecodec_server_frames_decoded", "frames decoded to PNG", registry=r)
        self.decode_failed = Counter("edgecodec_server_decode_failures", "frames that failed to decode", registry=r)
        self.reference_missing = Counter("edgecodec_server_reference_missing", "decodes of delta frames missing a "
                                         "frame of their chain back to their key frame (answered 424, not recorded "
                                         "as failures)", registry=r)
        self.decode_skipped = Counter("edgecodec_server_decode_skipped", "arrivals not decoded (queue full)",
                                      registry=r)
        self.decode_cancelled = Counter("edgecodec_server_decode_cancelled", "PNG requests' decodes dropped before "
                                        "they started: every requester had left", registry=r)
        self.decode_waiting = Gauge("edgecodec_server_decode_requests_waiting", "PNG requests' frames waiting for "
                                    "a decoder", registry=r)
        self.workers_recycled = Counter("edgecodec_server_decode_workers_recycled", "decode worker processes "
                                        "replaced after decode_worker_jobs decodes or above decode_worker_max_mb",
                                        registry=r)
        self.swept = Counter("edgecodec_server_swept_files", "leftovers of an unclean stop found at start: frames "
                             "indexed, partial or invalid files removed", ["action"], registry=r)
        self.ingest_seconds = Histogram("edgecodec_server_ingest_seconds", "time to validate and store a frame",
                                        registry=r, buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1))
        self.last_frame = Gauge("edgecodec_server_device_last_frame_timestamp_seconds", "arrival time of the "
                                "newest frame this server stored, by device (Unix seconds)", ["device"], registry=r)
        self.build_info = add_process_metrics(r)

    def frame_arrived(self, device_id: str, received_us: int) -> None:
        """A frame of ``device_id`` stored at ``received_us`` (Unix microseconds)."""
        self.last_frame.labels(device_id).set(received_us / 1e6)
