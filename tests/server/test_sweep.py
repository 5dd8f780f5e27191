"""What a server killed during uploads leaves in its data directory (a partial temporary file, a
complete bitstream never indexed, a race's losing copy) is indexed or removed at the next start."""
from __future__ import annotations

import hashlib
import re

from edgecodec.server.storage import FrameStore
from harness import Server, http, stored_frames, tokens
from nats_harness import frame


def swept(url: str) -> dict[str, float]:
    text = http("GET", url + "/metrics")[1].decode()
    return {m[1]: float(m[2]) for m in re.finditer(r'edgecodec_server_swept_files_total\{action="(\w+)"\} (\S+)', text)}


def leave_leftovers(data, ckpt: str) -> bytes:
    """The files a SIGKILL during uploads and decodes can leave; returns the complete, valid one."""
    store = FrameStore(data)
    complete = frame(ckpt, 7)
    store.write("cam1", 7, hashlib.sha256(complete).hexdigest(), complete)  # the index commit never happened
    truncated = frame(ckpt, 8)[:-5]
    path = store.ecb_file(store.relative_path("cam1", 8, hashlib.sha256(truncated).hexdigest()))
    path.write_bytes(truncated)
    loser = frame(ckpt, 9)  # another upload of seq 0, which the index gave to the first
    store.write("cam1", 0, hashlib.sha256(loser).hexdigest(), loser)
    (path.parent / ".tmp-5.0123456789abcdef.ecb.4242.a1b2c3d4e5f6").write_bytes(complete[:10])
    (data / "png" / "cam1" / "0").mkdir(parents=True)
    (data / "png" / "cam1" / "0" / ".tmp-1.0123456789abcdef.png.4242.a1b2c3d4e5f6").write_bytes(b"\x89PNG")
    return complete


def test_leftovers_of_a_killed_server_are_indexed_or_removed_at_start(tmp_path, tiny_ckpt):
    data = tmp_path / "data"
    device, viewer = tokens(data)
    server = Server(data, tiny_ckpt, None, "--decode-workers", "0").start()
    try:
        first = [frame(tiny_ckpt, seq) for seq in range(3)]
        for seq, body in enumerate(first):
            assert http("POST", f"{server.url}/api/v1/devices/cam1/frames/{seq}", device, body)[0] == 201
        server.kill9()
        complete = leave_leftovers(data, tiny_ckpt)
        server.start()
        assert [f["seq"] for f in stored_frames(server.url, viewer)] == [0, 1, 2, 7]
        ecb = f"{server.url}/api/v1/devices/cam1/frames/{{}}.ecb"
        assert http("GET", ecb.format(7), viewer) == (200, complete)
        assert http("GET", ecb.format(0), viewer) == (200, first[0])
        assert swept(server.url) == {"indexed": 1.0, "removed": 4.0}
        assert list(data.rglob(".tmp-*")) == []
        assert len(list((data / "frames").rglob("*.ecb"))) == 4
        server.stop()
        server.start()  # after a clean stop there is nothing to sweep
        assert swept(server.url) == {}
    finally:
        server.stop()
