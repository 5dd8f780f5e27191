"""``edgecodec doctor`` on the CPU: a real server, valid and invalid tokens, cameras, disk, TensorRT/GPU absent."""
from __future__ import annotations

import copy
import json
import sys
import threading
import types
from collections import namedtuple
from pathlib import Path

import pytest
from devices_harness import DEVICES, profile_data
from harness import Server, free_port, http, make_video, tokens

from edgecodec.edge import doctor
from edgecodec.edge.doctor import FAIL, PASS, WARN, Target, check_camera, check_disk, check_gpu, check_tensorrt
from edgecodec.edge.metrics import DaemonMetrics, serve_http
from edgecodec.edge.profile import NVARGUS, NVCONV, NVDEC, Capabilities, DeviceProfile

DEVICE = "cam-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A running `edgecodec serve` (no decoders) and (device token, another device's token, viewer token)."""
    data = tmp_path_factory.mktemp("server") / "data"
    device_token, viewer = tokens(data, DEVICE)
    other, _ = tokens(data, "cam-2")
    srv = Server(data, "dkic-tiny", None, "--decode-workers", "0").start()
    yield srv, (device_token, other, viewer)
    srv.stop()


@pytest.fixture
def clip(tmp_path) -> Path:
    return make_video(tmp_path / "clip.avi", 3, 128, 96)


def _profile(tmp_path: Path, base: str = "x86-dev", **top) -> dict:
    data = copy.deepcopy(profile_data(base))
    data.update(spool=str(tmp_path / "spool"), http_listen="127.0.0.1:0", device_id=DEVICE, **top)
    return data


def _doctor(cli, config: Path, *flags) -> tuple[int, dict[str, tuple[str, str]]]:
    result = cli("doctor", "--config", config, "--json", "--camera-timeout", "20", *flags)
    report = json.loads(result.out)
    assert report["ok"] == (result.rc == 0)
    assert result.rc == 0 or (len(result.err_lines) == 1 and "check(s) failed" in result.err), result.err
    return result.rc, {c["name"]: (c["status"], c["message"]) for c in report["checks"]}


def test_a_ready_dev_box_passes_with_warnings_only_for_tensorrt_and_gpu(server, clip, tmp_path, write_profile,
                                                                         token_file, cli):
    srv, (device_token, _, _) = server
    token_file.write_text(device_token)
    data = _profile(tmp_path, server=srv.url, token_file=str(token_file))
    data["device"].update(resolution="128x96", capture={"kind": "file", "path": str(clip)})
    rc, checks = _doctor(cli, write_profile(data))
    assert rc == 0
    assert {name: status for name, (status, _) in checks.items()} == {
        "tensorrt": WARN, "gpu": WARN, "camera": PASS, "server": PASS, "token": PASS, "disk": PASS}
    assert "read a 128x96 frame from the file source" in checks["camera"][1]
    assert "nothing stored" in checks["token"][1] and "healthy" in checks["server"][1]
    assert json.loads(http("GET", srv.url + "/api/v1/devices", server[1][2])[1]) == {"devices": []}  # nothing stored


@pytest.mark.parametrize("which,status,needle", [
    (1, FAIL, "valid but not for device 'cam-1'"),  # another device's token: 403
    (2, FAIL, "valid but not for device 'cam-1'"),  # a viewer token: 403
    (None, FAIL, "does not know this token"),  # unknown: 401
])
def test_wrong_tokens_fail_with_the_fix(which, status, needle, server, tmp_path, write_profile, token_file, cli):
    srv, known = server
    token_file.write_text(known[which] if which is not None else "ecb_" + "x" * 43)
    rc, checks = _doctor(cli, write_profile(_profile(tmp_path, server=srv.url, token_file=str(token_file))))
    assert rc == 1 and checks["token"][0] == status and needle in checks["token"][1], checks["token"]


def test_a_token_readable_by_others_warns(server, tmp_path, write_profile, token_file, cli):
    srv, (device_token, _, _) = server
    token_file.write_text(device_token)
    token_file.chmod(0o644)
    _, checks = _doctor(cli, write_profile(_profile(tmp_path, server=srv.url, token_file=str(token_file))))
    assert checks["token"][0] == WARN and "chmod 600" in checks["token"][1]


def test_unreachable_server_fails_and_the_token_goes_unverified(tmp_path, write_profile, token_file, cli):
    config = write_profile(_profile(tmp_path, server=f"http://127.0.0.1:{free_port()}", token_file=str(token_file)))
    rc, checks = _doctor(cli, config)
    assert rc == 1 and checks["server"][0] == FAIL and "cannot reach" in checks["server"][1]
    assert checks["token"] == (WARN, "not verified: no server or device id, or the server is unreachable")


def test_missing_token_file_fails(tmp_path, write_profile, cli):
    config = write_profile(_profile(tmp_path, token_file=str(tmp_path / "absent")))
    _, checks = _doctor(cli, config)
    assert checks["token"][0] == FAIL and "cannot read" in checks["token"][1] and "absent" in checks["token"][1]


def test_missing_camera_fails_and_a_wrong_size_warns(clip, tmp_path, write_profile, token_file, cli):
    data = _profile(tmp_path, token_file=str(token_file))
    data["device"]["capture"] = {"kind": "usb", "device": "/dev/video63"}
    _, checks = _doctor(cli, write_profile(data))
    assert checks["camera"][0] == FAIL and "/dev/video63" in checks["camera"][1]
    data["device"]["capture"] = {"kind": "file", "path": str(clip)}  # 128x96, the profile says 768x576
    _, checks = _doctor(cli, write_profile(data))
    assert checks["camera"][0] == WARN and "expects 768x576" in checks["camera"][1]


def test_a_jetson_profile_on_this_machine_fails_tensorrt_gpu_and_camera(tmp_path, write_profile, token_file, cli):
    data = _profile(tmp_path, "orin-nano-8gb", token_file=str(token_file), server=f"http://127.0.0.1:{free_port()}")
    rc, checks = _doctor(cli, write_profile(data))
    assert rc == 1
    assert checks["tensorrt"][0] == FAIL and "python3-libnvinfer" in checks["tensorrt"][1]
    assert checks["gpu"][0] == FAIL
    assert checks["camera"][0] == FAIL and "GStreamer" in checks["camera"][1]  # the CSI pipeline needs it


def _device(name: str) -> DeviceProfile:
    return DeviceProfile.model_validate(profile_data(name)["device"])


def test_tensorrt_version_against_the_profile(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.3.0.30"))
    device = _device("orin-nano-8gb").model_copy(update={"engines": tmp_path})
    assert check_tensorrt(device).status == WARN and "export trt" in check_tensorrt(device).message
    (tmp_path / "encoder.engine").write_bytes(b"e")
    (tmp_path / "decoder.engine").write_bytes(b"d")
    assert check_tensorrt(device).status == PASS
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.13.3.9"))
    assert check_tensorrt(device).status == WARN and "profile is for 10.3" in check_tensorrt(device).message
    assert check_tensorrt(None).status == PASS


def test_gpu_verdicts(monkeypatch):
    monkeypatch.setattr(doctor, "cuda_device", lambda: None)
    assert check_gpu(_device("x86-dev")).status == WARN and check_gpu(_device("agx-thor")).status == FAIL
    monkeypatch.setattr(doctor, "cuda_device", lambda: ("Orin", "8.7"))
    assert check_gpu(_device("orin-nx-16gb")).status == PASS
    assert check_gpu(_device("agx-thor")).status == WARN and "11.0" in check_gpu(_device("agx-thor")).message


def test_disk_space_against_the_spool_bound(tmp_path, monkeypatch):
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "1-2.ecb").write_bytes(b"x" * 1000)
    assert check_disk(Target(spool=spool, spool_max_bytes=1 << 16), 1.0).status == PASS
    huge = Target(spool=spool, spool_max_bytes=1 << 60)
    assert check_disk(huge, 1.0).status == WARN and "lower spool_max_bytes" in check_disk(huge, 1.0).message
    assert check_disk(huge, 1e-12).status == PASS  # a tiny threshold
    assert check_disk(Target(spool=tmp_path / "not" / "yet"), 0.0).status == PASS  # nearest existing parent
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: usage(1 << 30, 1 << 30, 1 << 20))
    assert check_disk(Target(spool=spool), 0.0).status == FAIL


def test_flags_alone_and_one_line_errors(clip, cli, tmp_path):
    result = cli("doctor", "--source", str(clip), "--json")
    checks = {c["name"]: c["status"] for c in json.loads(result.out)["checks"]}
    assert checks["camera"] == PASS and checks["server"] == WARN and result.rc == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('server = "x"\n')
    result = cli("doctor", "--config", bad)
    assert result.rc == 1 and len(result.err_lines) == 1 and result.err.startswith("edgecodec: error:")
    result = cli("doctor", "--print", "unit")
    assert result.rc == 1 and "--print needs --config" in result.err
    result = cli("doctor", "--camera-timeout", "0")
    assert result.rc == 1 and len(result.err_lines) == 1 and "--camera-timeout must be > 0" in result.err


def test_print_install_env_needs_a_device_table(write_profile, tmp_path, cli):
    data = {"source": "0", "server": "https://nvr.example", "device_id": DEVICE, "token_file": "/etc/edgecodec/token",
            "spool": str(tmp_path)}
    result = cli("doctor", "--config", write_profile(data), "--print", "install-env")
    assert result.rc == 1 and "no [device] table" in result.err


@pytest.mark.parametrize("name,probed,expected", [
    ("orin-nano-8gb", Capabilities(False), '"/dev/video0"'),  # CSI without nvarguscamerasrc: the fallback
    ("orin-nano-8gb", Capabilities(True, frozenset({NVARGUS, NVCONV})), '"nvarguscamerasrc sensor-id=0 ! '),
    ("orin-nx-16gb", Capabilities(True), '"rtsp://192.0.2.10:554/stream1"'),  # no NVDEC: FFmpeg
    ("orin-nx-16gb", Capabilities(True, frozenset({NVDEC, NVCONV})), '"rtspsrc location=rtsp://192.0.2.10'),
])
def test_print_config_resolves_the_preset_on_this_machine(name, probed, expected, monkeypatch, cli):
    monkeypatch.setattr(doctor, "probe_capabilities", lambda: probed)
    result = cli("doctor", "--config", DEVICES / f"{name}.toml", "--print", "config", "--server", "https://nvr.site",
                 "--device-id", "gate-9")
    assert result.rc == 0, result.err
    assert f"\nsource = {expected}" in result.out and 'device_id = "gate-9"' in result.out
    fallback = "software fallback" in result.out
    assert fallback == (probed.elements == frozenset()), result.out.splitlines()[1]
    explicit = cli("doctor", "--config", DEVICES / f"{name}.toml", "--print", "config", "--source", "/dev/video3")
    assert '\nsource = "/dev/video3"' in explicit.out and "source as configured" in explicit.out


@pytest.mark.parametrize("state,status", [("running", PASS), ("crashed", FAIL)])
def test_a_camera_held_by_the_running_daemon_is_not_opened_again(state, status):
    """The daemon's /healthz says whether its capture role runs (a CSI sensor takes one client only)."""
    health = {"ok": state == "running", "roles": {"capture": {"state": state, "restarts": 0, "error": None}}}
    http_server = serve_http("127.0.0.1:0", DaemonMetrics(), lambda: health)
    try:
        listen = f"127.0.0.1:{http_server.server_address[1]}"
        check = check_camera(Target(source="/dev/video63", http_listen=listen), 5.0)
    finally:
        http_server.shutdown()
    assert check.status == status and ("held by the running daemon" in check.message) == (status == PASS)


def test_doctor_waits_for_a_just_started_daemon():
    """The installer runs doctor right after starting the daemon, which needs seconds to take the camera."""
    health = {"ok": True, "roles": {"capture": {"state": "running", "restarts": 0, "error": None}}}
    port = free_port()
    servers = []
    timer = threading.Timer(1.5, lambda: servers.append(serve_http(f"127.0.0.1:{port}", DaemonMetrics(),
                                                                   lambda: health)))
    timer.start()
    try:
        check = check_camera(Target(source="/dev/video63", http_listen=f"127.0.0.1:{port}"), 5.0, 30.0)
    finally:
        timer.join()
        for http_server in servers:
            http_server.shutdown()
    assert check.status == PASS and "held by the running daemon" in check.message
