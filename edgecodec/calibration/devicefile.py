"""The calibrated settings as the daemon's ``device.toml`` (only fields ``DaemonConfig`` defines).

The file holds what calibration decides (``quality``, ``fps``, ``model`` when the encoder was
adapted or given), what its rate table assumed (``key_interval_s``, ``scene_change``, ``chain``, ``intra``)
and the ``source`` it measured; the site adds ``server``, ``device_id``,
``token_file`` and ``spool`` (or passes them as flags) before ``edgecodec daemon --config``.
"""
from __future__ import annotations

from typing import Any

from ..common.config import toml_value
from ..edge.config import DaemonConfig

HEADER = ("# Written by `edgecodec calibrate` on {when}.\n"
          "# Add server, device_id, token_file and spool (or pass them as flags), then:\n"
          "#   edgecodec daemon --config device.toml\n")


def device_toml(settings: dict[str, Any], when: str) -> str:
    """TOML text of ``settings``; every key must be a daemon configuration field."""
    unknown = sorted(set(settings) - set(DaemonConfig.model_fields))
    if unknown:
        raise ValueError(f"not daemon settings: {', '.join(unknown)}")
    lines = [f"{key} = {toml_value(value)}" for key, value in settings.items() if value is not None]
    return HEADER.format(when=when) + "\n".join(lines) + "\n"
