"""The viewer page (viewer.html): the cameras with their latest frame, fps, bitrate and lag, and a player
for one camera (its stored frames as JPEG snapshots, paced by their capture times, and a bitrate chart).

The page holds no data; it reads the API with a viewer token kept in sessionStorage (per tab, gone when
the tab closes). The token comes from the login form, or from the URL fragment ``#token=...`` (fragments
never reach the server or its logs), which the page removes from the address bar at once.
"""
from __future__ import annotations

import json
from importlib import resources

from ..common.protocol import DEVICES, FRAME_JPG, FRAMES


def viewer_page() -> str:
    """viewer.html with the API's routes filled in."""
    routes = {"devices": DEVICES, "frames": FRAMES, "frame_jpg": FRAME_JPG}
    return resources.files(__package__).joinpath("viewer.html").read_text("utf-8").replace(
        "{{ROUTES}}", json.dumps(routes))


PAGE = viewer_page()
