"""Faults between a real daemon and a real server: nothing lost that the spool held, nothing duplicated."""
from __future__ import annotations

import json
import re
import signal
import time

import pytest

from flaky_proxy import FlakyProxy
from harness import (Server, daemon_cmd, finish_daemon, free_port, http, make_video, spooled_seqs, start_daemon,
                     stored_frames, tokens)


@pytest.fixture
def site(tmp_path, tiny_ckpt):
    """A data directory with tokens, a token file, a small video and a device.toml with fast retries."""
    data = tmp_path / "data"
    device, viewer = tokens(data)
    (tmp_path / "token").write_text(device)
    config = tmp_path / "device.toml"
    config.write_text("backoff_initial_s = 0.05\nbackoff_max_s = 0.5\ndrain_timeout_s = 90\nqueue_size = 64\n")
    return {"tmp": tmp_path, "data": data, "viewer": viewer, "video": make_video(tmp_path / "clip.avi", 60),
            "config": config, "model": tiny_ckpt}


def daemon(site, server_url: str, *extra: str) -> list[str]:
    t = site["tmp"]
    return daemon_cmd(site["video"], server_url, t / "token", t / "spool", site["model"], "--config",
                      str(site["config"]), *extra)


def seqs(server: Server, viewer: str) -> list[int]:
    return [f["seq"] for f in stored_frames(server.url, viewer)]


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_server_killed_mid_stream_and_restarted(site):
    server = Server(site["data"], site["model"], None, "--decode-workers", "0").start()
    log = site["tmp"] / "daemon.log"
    proc = start_daemon(daemon(site, server.url, "--max-frames", "60", "--fps", "20"), log)
    try:
        wait_for(lambda: len(seqs(server, site["viewer"])) >= 10)
        server.kill9()
        time.sleep(1.0)
        server.start()
        summary = finish_daemon(proc, log)
        assert summary["uploaded"] == 60 and summary["upload_errors"] > 0
        assert seqs(server, site["viewer"]) == list(range(60))
    finally:
        proc.kill()
        server.stop()


def test_daemon_killed_then_restarted_uploads_its_spool_without_reusing_numbers(site):
    port = free_port()
    server = Server(site["data"], site["model"], None, "--decode-workers", "0")  # down for now
    log = site["tmp"] / "daemon.log"
    first = start_daemon(daemon(site, server.url, "--fps", "0", "--loop", "--http-listen", f"127.0.0.1:{port}"), log)
    spool = site["tmp"] / "spool"
    wait_for(lambda: len(spooled_seqs(spool)) >= 8)
    status, health = http("GET", f"http://127.0.0.1:{port}/healthz")
    assert status == 200 and json.loads(health)["ok"]
    status, metrics = http("GET", f"http://127.0.0.1:{port}/metrics")
    assert status == 200 and b"edgecodec_frames_spooled_total" in metrics and b"edgecodec_upload_errors_total" in metrics
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    held = spooled_seqs(spool)
    server.start()
    try:
        summary = finish_daemon(start_daemon(daemon(site, server.url, "--max-frames", "5", "--fps", "0"), log), log)
        new = set(range(1000, 1005))  # the first run reserved 0..999 before using any
        assert summary["uploaded"] == len(held) + 5
        assert sorted(seqs(server, site["viewer"])) == sorted(held | new)
        assert not list(spool.glob("*.ecb")) and not list(spool.glob(".tmp-*"))
    finally:
        server.stop()


def test_a_full_spool_evicts_whole_groups_counts_them_and_uploads_the_rest(site):
    site["config"].write_text("spool_max_bytes = 65536\ndrain_timeout_s = 0.5\nbackoff_initial_s = 0.05\n"
                              "backoff_max_s = 0.2\nqueue_size = 64\nkey_interval_s = 0.05\n")
    site["video"] = make_video(site["tmp"] / "larger.avi", 60, 320, 240)  # about 6 KB a key frame
    server = Server(site["data"], site["model"], None, "--decode-workers", "0")  # down
    log = site["tmp"] / "daemon.log"
    first = finish_daemon(start_daemon(daemon(site, server.url, "--max-frames", "60", "--fps", "20"), log), log)
    spool = site["tmp"] / "spool"
    held = spooled_seqs(spool)
    assert first["spooled"] == 60 and first["evicted"] > 0 and first["uploaded"] == 0
    assert held == set(range(first["evicted"], 60)) and first["spool_frames"] == len(held)
    assert sum(p.stat().st_size for p in spool.glob("*.ecb")) <= 65536
    assert first["encoded_key"] > 1 and first["encoded_delta"] > 0
    assert re.search(r"spool full \(65536 bytes\): evicted the group of key frame \d+", log.read_text())
    server.start()
    try:
        second = finish_daemon(start_daemon(daemon(site, server.url, "--max-frames", "1", "--fps", "0"), log), log)
        assert second["uploaded"] == len(held) + 1
        frames = stored_frames(server.url, site["viewer"])
        assert sorted(f["seq"] for f in frames) == sorted(held | {1000})
        assert frames[0]["kind"] == "key"  # the oldest group kept is whole: it starts with its key frame
        assert not any(f["reference_missing"] for f in frames)
    finally:
        server.stop()


def test_a_connection_dropping_proxy_loses_and_duplicates_nothing(site):
    server = Server(site["data"], site["model"], None, "--decode-workers", "0").start()
    proxy = FlakyProxy(server.port, drop_rate=1.0, seed=3)  # every connection dies at a random byte
    log = site["tmp"] / "daemon.log"
    try:
        summary = finish_daemon(start_daemon(daemon(site, f"http://127.0.0.1:{proxy.port}", "--max-frames", "40",
                                                    "--fps", "0"), log), log)
        assert summary["uploaded"] == 40 and summary["upload_errors"] > 0
        assert proxy.cuts["up"] > 0 and proxy.cuts["down"] > 0
        assert seqs(server, site["viewer"]) == list(range(40))
        status, metrics = http("GET", server.url + "/metrics")
        duplicates = re.search(rb"^edgecodec_server_frames_duplicate_total (\S+)$", metrics, re.M)
        assert float(duplicates[1]) > 0  # some acknowledgements were lost and the frame re-sent
    finally:
        proxy.close()
        server.stop()


def test_sigterm_drains_what_was_captured_and_exits_cleanly(site):
    server = Server(site["data"], site["model"], None, "--decode-workers", "0").start()
    log = site["tmp"] / "daemon.log"
    proc = start_daemon(daemon(site, server.url, "--fps", "30", "--loop"), log)
    try:
        wait_for(lambda: len(seqs(server, site["viewer"])) >= 5)
        proc.send_signal(signal.SIGTERM)
        summary = finish_daemon(proc, log, timeout=60)
        assert summary["spool_frames"] == 0 and summary["uploaded"] == summary["spooled"] == summary["encoded"]
        assert sorted(seqs(server, site["viewer"])) == list(range(summary["uploaded"]))
    finally:
        proc.kill()
        server.stop()


def test_a_key_frame_lost_for_good_marks_its_group_and_the_next_group_decodes(site):
    site["config"].write_text("drain_timeout_s = 0.5\nbackoff_initial_s = 0.05\nbackoff_max_s = 0.2\n"
                              "queue_size = 64\nkey_interval_s = 0.4\n")
    server = Server(site["data"], site["model"], None, "--decode-workers", "1")  # down for now
    log, spool = site["tmp"] / "daemon.log", site["tmp"] / "spool"
    first = finish_daemon(start_daemon(daemon(site, server.url, "--max-frames", "20", "--fps", "10"), log), log)
    assert first["encoded_key"] >= 2 and first["encoded_delta"] > 0 and first["uploaded"] == 0
    lost = min(spooled_seqs(spool))  # the first key frame: deleted from the spool by hand
    next(spool.glob(f"{lost:020d}-*.ecb")).unlink()
    server.start()
    try:
        second = finish_daemon(start_daemon(daemon(site, server.url, "--max-frames", "1", "--fps", "0"), log), log)
        assert second["uploaded"] == 20 and second["rejected"] == 0
        frames = stored_frames(server.url, site["viewer"])
        orphans, gone = [], {lost}  # the delta frames whose chain leads back to the lost key frame
        for f in frames:
            if f["kind"] == "delta" and f["ref_seq"] in gone:
                orphans.append(f)
                gone.add(f["seq"])
        later = [f for f in frames if f["seq"] > lost and f not in orphans]
        assert orphans and all(f["reference_missing"] and f["decode_error"] is None for f in orphans)
        assert later[0]["kind"] == "key" and not any(f["reference_missing"] for f in later)
        for f in orphans[:2] + later[:3]:
            status, body = http("GET", server.url + f["png_url"], site["viewer"])
            assert status == (424 if f in orphans else 200), body[:200]
        status, metrics = http("GET", server.url + "/metrics")
        assert re.search(rb"^edgecodec_server_decode_failures_total 0\.0$", metrics, re.M)  # not the frames' fault
    finally:
        server.stop()
