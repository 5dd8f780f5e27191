"""``encode VIDEO -o X.ecs``, ``info X.ecs``, ``decode X.ecs -o FOLDER``: real files, and refusals."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecodec.checkpoint import from_checkpoint
from edgecodec.codec import bitstream
from edgecodec.codec.facade import Codec
from edgecodec.codec.stream import StreamDecoder

from test_bad_input import assert_clean_error

pytestmark = pytest.mark.usefixtures("one_thread")
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "kodim15.png"


def scene_frames(n: int) -> list[np.ndarray]:
    """A static scene (96x128 crop) with a square moving across it and a little noise."""
    base = cv2.imread(str(SAMPLE))[200:296, 300:428]
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        f = base.astype(np.int16)
        f[30:50, 10 + 8 * i:30 + 8 * i] = (40, 200, 40)
        frames.append(np.clip(f + rng.normal(0, 1.5, f.shape), 0, 255).astype(np.uint8))
    return frames


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("frames")
    for i, f in enumerate(scene_frames(6)):
        cv2.imwrite(str(out / f"img_{i:03d}.png"), f)
    return out


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "scene.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (128, 96))
    for f in scene_frames(10):
        writer.write(f)
    writer.release()
    return path


def test_folder_to_stream_info_and_decode(cli, tmp_path, folder, tiny_ckpt):
    ecs = tmp_path / "s.ecs"
    res = cli("encode", folder, "-o", ecs, "--model", tiny_ckpt, "--quality", 40, "--scene-change", 1)
    assert res.rc == 0 and res.err == "", res.err
    info = cli("info", ecs)
    frames = json.loads(info.out)["frame_info"]
    assert [f["kind"] for f in frames] == ["key"] + ["delta"] * 5
    assert [f["seq"] for f in frames] == list(range(6)) and [f["ref_seq"] for f in frames[1:]] == [0, 1, 2, 3, 4]
    assert json.loads(info.out)["bytes"] == ecs.stat().st_size
    out = tmp_path / "decoded"
    assert cli("decode", ecs, "-o", out, "--model", tiny_ckpt).rc == 0
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{i:06d}.png" for i in range(6)]
    codec = Codec(from_checkpoint(tiny_ckpt))
    decoder = StreamDecoder(codec)
    for i, data in enumerate(bitstream.unpack_stream(ecs.read_bytes())):
        written = cv2.imread(str(out / f"frame_{i:06d}.png"))[:, :, ::-1]
        assert np.array_equal(written, decoder.decode(data))


def test_chain_option_sets_what_delta_frames_reference(cli, tmp_path, folder, tiny_ckpt):
    ecs = tmp_path / "c.ecs"
    assert cli("encode", folder, "-o", ecs, "--model", tiny_ckpt, "--scene-change", 1, "--chain", 2).rc == 0
    frames = json.loads(cli("info", ecs).out)["frame_info"]
    assert [f.get("ref_seq") for f in frames[1:]] == [0, 1, 0, 3, 0]
    for bad in (0, 17):
        res = cli("encode", folder, "-o", tmp_path / "bad.ecs", "--model", tiny_ckpt, "--chain", bad)
        assert res.rc != 0 and "chain" in res.err and "Traceback" not in res.err
        assert not (tmp_path / "bad.ecs").exists()


def test_video_fps_frames_key_interval_and_intra(cli, tmp_path, video, tiny_ckpt):
    def kinds(*extra) -> list[str]:
        ecs = tmp_path / "v.ecs"
        ecs.unlink(missing_ok=True)
        assert cli("encode", video, "-o", ecs, "--model", tiny_ckpt, "--scene-change", 1, *extra).rc == 0
        return [f["kind"][0] for f in json.loads(cli("info", ecs).out)["frame_info"]]

    assert len(kinds()) == 10
    assert len(kinds("--fps", 5)) == 5 and len(kinds("--frames", 3)) == 3
    assert kinds("--key-interval", 0.3) == list("kddkddkddk")  # 3 frames at 10 fps
    assert kinds("--intra", "--frames", 4) == list("kkkk")


def test_a_video_needs_a_stream_output(cli, tmp_path, video, tiny_ckpt):
    out = tmp_path / "out"
    out.mkdir()
    assert_clean_error(cli("encode", video, "-o", out / "x.ecb", "--model", tiny_ckpt), out, match=".ecs")


@pytest.mark.parametrize("args,match", [(("--fps", "0"), "fps"), (("--frames", "0"), "frames"),
                                        (("--key-interval", "-1"), "key-interval"),
                                        (("--scene-change", "2"), "scene")])
def test_bad_stream_options(cli, tmp_path, video, tiny_ckpt, args, match):
    out = tmp_path / "out"
    out.mkdir()
    assert_clean_error(cli("encode", video, "-o", out / "x.ecs", "--model", tiny_ckpt, *args), out, match=match)


def test_missing_and_unreadable_sources(cli, tmp_path, tiny_ckpt):
    out = tmp_path / "out"
    out.mkdir()
    assert_clean_error(cli("encode", tmp_path / "nope.avi", "-o", out / "x.ecs", "--model", tiny_ckpt), out)
    (tmp_path / "junk.avi").write_bytes(b"not a video" * 100)
    assert_clean_error(cli("encode", tmp_path / "junk.avi", "-o", out / "x.ecs", "--model", tiny_ckpt), out)
    (tmp_path / "empty").mkdir()
    assert_clean_error(cli("encode", tmp_path / "empty", "-o", out / "x.ecs", "--model", tiny_ckpt), out)


@pytest.fixture(scope="module")
def stream_file(tmp_path_factory, folder, tiny_ckpt) -> bytes:
    codec = Codec(from_checkpoint(tiny_ckpt))
    from edgecodec.codec.stream import StreamEncoder, StreamPolicy

    enc = StreamEncoder(codec, 50, StreamPolicy(scene_change=1.0))
    return bitstream.pack_stream([enc.encode(f[:, :, ::-1].copy()).data for f in scene_frames(3)])


@pytest.mark.parametrize("kind", ["truncated", "index flipped", "frame flipped", "key frame removed", "empty"])
def test_decode_corrupt_stream_leaves_nothing(cli, tmp_path, stream_file, tiny_ckpt, kind):
    frames = bitstream.unpack_stream(stream_file)
    bad = {"truncated": stream_file[:-7],
           "index flipped": stream_file[:-20] + bytes([stream_file[-20] ^ 1]) + stream_file[-19:],
           "frame flipped": bitstream.pack_stream([frames[0], frames[1][:-1] + bytes([frames[1][-1] ^ 4]), frames[2]]),
           "key frame removed": bitstream.pack_stream(frames[1:]),
           "empty": bitstream.pack_stream([])}[kind]
    src = tmp_path / "bad.ecs"
    src.write_bytes(bad)
    out_parent = tmp_path / "out"
    out_parent.mkdir()
    res = cli("decode", src, "-o", out_parent / "frames", "--model", tiny_ckpt)
    if kind == "empty":
        assert res.rc == 0 and list((out_parent / "frames").iterdir()) == []
    else:
        assert_clean_error(res, out_parent)


def test_decode_refuses_a_folder_that_is_not_empty(cli, tmp_path, stream_file, tiny_ckpt):
    src, out = tmp_path / "s.ecs", tmp_path / "frames"
    src.write_bytes(stream_file)
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = cli("decode", src, "-o", out, "--model", tiny_ckpt)
    assert_clean_error(res, match="not an empty folder")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
