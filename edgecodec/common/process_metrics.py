"""What the daemon's and the server's /metrics show besides their own counters: the process (CPU,
memory, file descriptors, start time: ``process_*``), the Python build (``python_info``) and
``edgecodec_build_info{version, model_id} 1``, the edgecodec version and the model the process codes with."""
from __future__ import annotations

from importlib import metadata

from prometheus_client import CollectorRegistry, Gauge, PlatformCollector, ProcessCollector


def package_version() -> str:
    """The installed edgecodec's version ('unknown' in a source tree that was never installed)."""
    try:
        return metadata.version("edgecodec")
    except metadata.PackageNotFoundError:
        return "unknown"


class BuildInfo:
    """``edgecodec_build_info``: one series, 1, whose labels name the version and the model id (hex, '' until
    a model is loaded, or when the process codes nothing)."""

    def __init__(self, registry: CollectorRegistry):
        self._gauge = Gauge("edgecodec_build_info", "edgecodec version and the model id this process codes with",
                            ["version", "model_id"], registry=registry)
        self.model("")

    def model(self, model_id: str) -> None:
        """Name the loaded model (replaces the previous series)."""
        self._gauge.clear()
        self._gauge.labels(package_version(), model_id).set(1)


def add_process_metrics(registry: CollectorRegistry) -> BuildInfo:
    """Register the process and platform collectors and the build info in ``registry``."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return BuildInfo(registry)
