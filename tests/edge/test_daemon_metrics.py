"""The daemon's /metrics: its counters with the process and build metrics."""
from __future__ import annotations

from prometheus_client import generate_latest

from edgecodec.common.process_metrics import package_version
from edgecodec.edge.metrics import DaemonMetrics


def test_process_and_build_metrics_in_every_daemon_registry():
    first, second = DaemonMetrics(), DaemonMetrics()  # one registry each: tests run several daemons
    first.build_info.model("cd" * 16)
    text = generate_latest(first.registry).decode()
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds",
                 "python_info", "edgecodec_spool_bytes"):
        assert name in text, name
    assert f'edgecodec_build_info{{model_id="{"cd" * 16}",version="{package_version()}"}} 1.0' in text
    assert 'model_id=""' in generate_latest(second.registry).decode()
