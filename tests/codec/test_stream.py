"""Stream coding: frame kinds, the key-frame policy, references, random access, refusals."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgecodec.checkpoint import init_model
from edgecodec.codec import bitstream
from edgecodec.codec.facade import Codec, ModelMismatchError, ReferenceError
from edgecodec.codec.models.config import get_config
from edgecodec.codec.stream import StreamDecoder, StreamEncoder, StreamPolicy
from edgecodec.imageio import read_image
from edgecodec.quality import psnr_u8

from scene_frames import next_frame

pytestmark = pytest.mark.usefixtures("one_thread")
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "kodim15.png"


@pytest.fixture(scope="module")
def tiny() -> Codec:
    return Codec(init_model(get_config("dkic-tiny")))


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return np.ascontiguousarray(read_image(SAMPLE)[100:228, 200:392])  # 192x128


def kinds(frames) -> str:
    return "".join("K" if f.kind == bitstream.KEY else "D" for f in frames)


def test_first_frame_is_a_key_frame_then_delta_frames(tiny, scene):
    enc = StreamEncoder(tiny, 50, StreamPolicy(scene_change=1.0, chain=1))
    frames = [enc.encode(next_frame(scene, s)) for s in range(4)]
    assert kinds(frames) == "KDDD"
    assert [f.seq for f in frames] == [0, 1, 2, 3]
    headers = [bitstream.unpack(f.data).header for f in frames]
    assert all(h.ref_seq == 0 and h.ref_hash == headers[1].ref_hash for h in headers[1:])


def test_chains_reference_the_previous_frame_then_start_again_from_the_key_frame(tiny, scene):
    enc = StreamEncoder(tiny, 50, StreamPolicy(scene_change=1.0, chain=3))
    frames = [enc.encode(next_frame(scene, s)) for s in range(6)]
    assert kinds(frames) == "KDDDDD"
    assert [f.ref_seq for f in frames] == [None, 0, 1, 2, 0, 4]
    assert [bitstream.unpack(f.data).header.ref_seq for f in frames[1:]] == [0, 1, 2, 0, 4]
    enc.restart_chain()  # the previous frame was lost: the next one references the key frame
    assert enc.encode(next_frame(scene, 6)).ref_seq == 0


def test_key_interval_forced_key_quality_change_and_intra(tiny, scene):
    enc = StreamEncoder(tiny, 50, StreamPolicy(key_interval=3, scene_change=1.0))
    assert kinds(enc.encode(scene) for _ in range(7)) == "KDDKDDK"
    enc.force_key()
    assert kinds([enc.encode(scene), enc.encode(scene)]) == "KD"
    assert kinds([enc.encode(scene, quality=60), enc.encode(scene)]) == "KD"
    intra = StreamEncoder(tiny, 50, StreamPolicy(intra=True))
    assert kinds(intra.encode(scene) for _ in range(3)) == "KKK"


def test_scene_change_makes_a_key_frame(starter_model, scene):
    """A new scene costs more than half of the frame coded in full: coded as a key frame instead."""
    codec = Codec(starter_model)
    enc = StreamEncoder(codec, 50)
    other = np.ascontiguousarray(read_image(SAMPLE.parent / "kodim23.png")[100:228, 200:392])
    assert kinds([enc.encode(scene), enc.encode(next_frame(scene)), enc.encode(other)]) == "KDK"


def test_an_unchanged_frame_costs_under_one_percent_of_a_key_frame(starter_model):
    codec = Codec(starter_model)
    frame = read_image(SAMPLE)
    enc = StreamEncoder(codec, 50)
    key, same = enc.encode(frame), enc.encode(frame)
    assert same.kind == bitstream.DELTA and same.skipped == 1.0
    assert len(same.data) <= 0.01 * len(key.data), (len(same.data), len(key.data))


def test_delta_frames_decode_close_to_the_frame_and_cheaper_than_key_frames(starter_model, starter_conditional):
    codec = Codec(starter_model, conditional=starter_conditional)
    frame = read_image(SAMPLE)
    enc, dec = StreamEncoder(codec, 50), StreamDecoder(codec)
    key = enc.encode(frame)
    later = next_frame(frame, 3)
    delta = enc.encode(later)
    intra = codec.encode(later, 50)
    assert delta.kind == bitstream.DELTA and 0 < delta.skipped < 1
    assert len(delta.data) < 0.5 * len(intra)
    dec.decode(key.data)
    assert psnr_u8(later, dec.decode(delta.data)) > psnr_u8(later, codec.decode(intra)) - 1.5


def test_random_access_needs_only_the_key_frame(tiny, scene):
    enc = StreamEncoder(tiny, 50, StreamPolicy(scene_change=1.0, chain=1))
    frames = [enc.encode(next_frame(scene, s)).data for s in range(5)]
    fresh = StreamDecoder(tiny)
    fresh.decode(frames[0])
    in_order = StreamDecoder(tiny)
    expected = [in_order.decode(f) for f in frames]
    assert np.array_equal(fresh.decode(frames[4]), expected[4])  # frames 1-3 never seen
    ref = tiny.reference(frames[0])
    assert np.array_equal(tiny.decode(frames[2], ref), expected[2])


def test_a_chained_frame_needs_its_chain_back_to_the_key_frame_and_no_more(tiny, scene):
    enc = StreamEncoder(tiny, 50, StreamPolicy(scene_change=1.0, chain=3))
    frames = [enc.encode(next_frame(scene, s)).data for s in range(6)]  # K 1<-0 2<-1 3<-2 4<-0 5<-4
    in_order = StreamDecoder(tiny)
    expected = [in_order.decode(f) for f in frames]
    key = tiny.reference(frames[0])
    with pytest.raises(ReferenceError, match="references frame 2"):
        tiny.decode(frames[3], key)
    chain = tiny.reference(frames[2], tiny.reference(frames[1], key))
    assert chain.depth == 2
    assert np.array_equal(tiny.decode(frames[3], chain), expected[3])
    assert np.array_equal(tiny.decode(frames[4], key), expected[4])  # a new chain: the key frame alone
    fresh = StreamDecoder(tiny)
    fresh.decode(frames[0])
    fresh.decode(frames[4])
    assert np.array_equal(fresh.decode(frames[5]), expected[5])


def test_references_deeper_than_the_limit_are_refused(tiny, scene):
    import dataclasses

    from edgecodec.codec.facade import MAX_REFERENCE_DEPTH

    enc = StreamEncoder(tiny, 50, StreamPolicy(scene_change=1.0, chain=2))
    frames = [enc.encode(next_frame(scene, s)).data for s in range(3)]
    ref = tiny.reference(frames[1], tiny.reference(frames[0]))
    too_deep = dataclasses.replace(ref, depth=MAX_REFERENCE_DEPTH)
    with pytest.raises(ReferenceError, match="at most"):
        tiny.decode(frames[2], too_deep)
    with pytest.raises(ValueError, match="chain"):
        StreamPolicy(chain=MAX_REFERENCE_DEPTH + 1)
    with pytest.raises(ValueError, match="chain"):
        StreamPolicy(chain=0)


def test_a_delta_frame_without_or_with_the_wrong_reference_is_refused(tiny, scene):
    enc = StreamEncoder(tiny, 50, StreamPolicy(key_interval=2, scene_change=1.0))
    frames = [enc.encode(next_frame(scene, s)).data for s in range(4)]  # K D K D, each D referencing its K
    with pytest.raises(ReferenceError, match="needs its reference"):
        tiny.decode(frames[1])
    with pytest.raises(ReferenceError, match="references frame 0"):
        tiny.decode(frames[1], tiny.reference(frames[2]))
    forged = tiny.reference(frames[0])
    with pytest.raises(ReferenceError):
        tiny.decode(frames[3], type(forged)(2, forged.quality, forged.width, forged.height, forged.latent,
                                            forged.hash))  # right number, another latent
    with pytest.raises(ReferenceError, match="needs its reference"):
        tiny.reference(frames[1])
    dec = StreamDecoder(tiny)
    with pytest.raises(ReferenceError):
        dec.decode(frames[3])


def test_delta_frames_name_the_conditional_model(tiny, scene, starter_conditional):
    enc = StreamEncoder(tiny, 50, StreamPolicy(scene_change=1.0))
    key, delta = enc.encode(scene).data, enc.encode(next_frame(scene)).data
    other = Codec(tiny.model, conditional=_other_conditional(tiny))
    assert other.model_id == tiny.model_id and other.delta_model_id != tiny.delta_model_id
    other.decode(key)  # key frames do not depend on it
    with pytest.raises(ModelMismatchError, match="delta frame"):
        other.decode(delta, other.reference(key))


def _other_conditional(codec: Codec):
    from edgecodec.train import conditional as training

    frame = np.zeros((64, 64, 3), np.uint8)
    pairs = [training.pair_latents(codec.model, frame, frame + 9, 2.0)]
    return training.train(codec.model, pairs, steps=2, log_every=0, width=4)


def test_sequence_numbers_must_increase(tiny, scene):
    enc = StreamEncoder(tiny, 50)
    assert enc.encode(scene, seq=10).seq == 10
    assert enc.encode(scene).seq == 11
    with pytest.raises(ValueError, match="increase"):
        enc.encode(scene, seq=11)


@pytest.mark.parametrize("policy", [dict(key_interval=-1), dict(scene_change=0), dict(scene_change=1.5),
                                    dict(skip_bias=0), dict(key_interval=2.5)])
def test_bad_policies_are_refused(policy):
    with pytest.raises(ValueError):
        StreamPolicy(**policy)
