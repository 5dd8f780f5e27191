"""Wires the daemon: capture -> queue -> encode -> spool -> upload, one watchdog, one stop event.

Roles are threads, not processes: OpenCV capture, PyTorch/TensorRT inference and socket I/O
all release the GIL, frames move between roles without copies or shared-memory plumbing, and a
Jetson's memory holds one CUDA context and one model instead of one per process.
"""
from __future__ import annotations

import json
import logging
import signal
import threading
import time

from .config import DaemonConfig
from .metrics import DaemonMetrics, serve_http
from .roles import Capture, Encoder, FrameQueue
from .sequence import SequenceAllocator
from .sources import gstreamer_available, is_jetson, open_capture, plan_source
from .spool import Spool, SpooledFrame
from .uploader import Backoff, IngestClient, Uploader
from .watchdog import GaveUp, Watchdog

log = logging.getLogger("edgecodec.daemon")


class InferenceStream:
    """The configured model's stream encoder (loaded once), run without autograd."""

    def __init__(self, cfg: DaemonConfig):
        import torch

        from ..codec.stream import StreamEncoder, StreamPolicy
        from ..runtime import ENGINE_BACKENDS, load_codec

        torch.set_num_threads(cfg.threads)
        engines = plugin = None
        if cfg.backend in ENGINE_BACKENDS and cfg.device is not None:  # the configuration requires the table
            engines, plugin = str(cfg.device.engines), cfg.device.plugin
        codec = load_codec(cfg.model, cfg.backend, engines, plugin)
        self.model_id = codec.model_id.hex()
        log.info("model %s (%s), backend %s, %s", codec.model.config.name, self.model_id, cfg.backend,
                 "every frame a key frame" if cfg.intra else
                 f"delta frames (conditional model {'on' if codec.conditional else 'off'}) in chains of at most "
                 f"{cfg.chain}, a key frame at least every {cfg.key_interval_s:g} s")
        # the key interval is in capture time, kept by the encode role; the policy keeps scene changes
        policy = StreamPolicy(key_interval=0, scene_change=cfg.scene_change, intra=cfg.intra, chain=cfg.chain)
        self._stream, self._mode = StreamEncoder(codec, cfg.quality, policy), torch.inference_mode

    def encode(self, image, seq: int):
        with self._mode():
            return self._stream.encode(image, seq)

    def force_key(self) -> None:
        self._stream.force_key()

    def restart_chain(self) -> None:
        self._stream.restart_chain()


def run_daemon(cfg: DaemonConfig, stop: threading.Event | None = None) -> dict:
    """Run until the source ends (or max_frames, or SIGTERM), then drain; returns the counters."""
    plan = plan_source(cfg.source, gstreamer_available(), is_jetson())
    stop = stop or threading.Event()
    abort, capture_done = threading.Event(), threading.Event()
    metrics = DaemonMetrics()
    encoder: Encoder | None = None

    def evicted(frame: SpooledFrame) -> None:
        metrics.evicted.inc()
        if encoder is not None:
            encoder.reference_evicted(frame.seq)

    spool = Spool(cfg.spool, cfg.spool_max_bytes, on_evict=evicted, max_pixels=cfg.max_pixels)
    seqs = SequenceAllocator(cfg.spool, cfg.seq_block)
    client = IngestClient(cfg.server, cfg.device_id, cfg.token_file, cfg.upload_timeout_s, cfg.ca_file)
    drop = cfg.backpressure == "drop" or (cfg.backpressure == "auto" and plan.live)
    frames = FrameQueue(cfg.queue_size, drop, metrics)
    capture = Capture(plan, open_capture, frames, metrics, cfg.fps, cfg.max_frames, cfg.loop, stop, capture_done)
    stream = InferenceStream(cfg)
    metrics.build_info.model(stream.model_id)
    encoder = Encoder(stream, frames, spool, seqs, metrics, capture_done, abort, cfg.key_interval_s)
    uploader = Uploader(spool, client, metrics, Backoff(cfg.backoff_initial_s, cfg.backoff_max_s),
                        lambda: encoder.done.is_set() and len(spool) == 0, abort)
    watchdog = Watchdog(cfg.max_restarts)
    http = serve_http(cfg.http_listen, metrics, watchdog.health)
    log.info("device %s: %s source %r -> %s; health and metrics on port %d", cfg.device_id, plan.kind,
             cfg.source, cfg.server, http.server_address[1])
    previous = _on_signals(stop)
    for name, target in (("upload", uploader.run), ("encode", encoder.run), ("capture", capture.run)):
        watchdog.start(name, target)
    try:
        _supervise(watchdog, stop, capture_done, encoder.done, abort, cfg.drain_timeout_s)
    finally:
        stop.set()
        abort.set()
        watchdog.join(10.0)
        http.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    summary = {**metrics.snapshot(), "spool_frames": len(spool), "spool_bytes": spool.total_bytes}
    log.info("summary %s", json.dumps(summary))
    return summary


def _supervise(watchdog: Watchdog, stop: threading.Event, capture_done: threading.Event,
               encoded_all: threading.Event, abort: threading.Event, drain_timeout: float) -> None:
    """Restart crashed roles; once everything captured is spooled, upload for at most ``drain_timeout``.

    Raises GaveUp when a role gave up, or is still down at the end (the exit status is then not 0)."""
    deadline = None
    while not watchdog.done("upload"):
        try:
            watchdog.check()
        except GaveUp:
            abort.set()
            raise
        if stop.is_set() and not watchdog.running("capture"):
            capture_done.set()  # a crashed capture waiting for its restart will not set it
        if deadline is None and encoded_all.is_set():
            deadline = time.monotonic() + drain_timeout
            log.info("capture finished and encoded: uploading for at most %.0f s more", drain_timeout)
        if deadline is not None and time.monotonic() > deadline:
            log.warning("drain timeout: frames left in the spool are uploaded at the next start")
            break
        time.sleep(0.1)
    failure = watchdog.crashed()
    if failure is not None:
        raise GaveUp(f"{failure}; frames left in the spool are uploaded at the next start")


def _on_signals(stop: threading.Event) -> dict:
    """SIGTERM/SIGINT stop capturing (what is queued is encoded, the spool drains); returns the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
