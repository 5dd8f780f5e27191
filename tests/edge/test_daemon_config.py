"""device.toml + flags: validation, precedence, one-line errors, --validate-config."""
from __future__ import annotations

import os

import pytest

from edgecodec.codec.stream import StreamPolicy
from edgecodec.edge.config import DaemonConfig
from edgecodec.common.config import build_config
from edgecodec.edge.uploader import read_token

DEVICE_8K = '\n[device]\nboard = "dev box"\nplatform = "x86"\nmemory_gb = 64\nresolution = "8192x8192"\n' \
            '[device.capture]\nkind = "file"\npath = "camera.mp4"\n'


@pytest.fixture
def files(tmp_path):
    (tmp_path / "token").write_text("ecb_x")
    good = tmp_path / "device.toml"
    good.write_text(f'source = "0"\nserver = "https://nvr.example:8443"\ndevice_id = "gate-1"\n'
                    f'token_file = "{tmp_path / "token"}"\nspool = "{tmp_path / "spool"}"\nquality = 60\n')
    return tmp_path, good


def test_every_field_has_a_description():
    assert all(f.description for f in DaemonConfig.model_fields.values())


def test_flags_override_the_file(files):
    _, good = files
    cfg = build_config(DaemonConfig, good, {"quality": 75.0, "fps": None, "device_id": "gate-2"})
    assert (cfg.quality, cfg.fps, cfg.device_id, cfg.source) == (75.0, None, "gate-2", "0")


def test_the_chain_is_the_stream_encoders_unless_set_by_a_flag(files, cli):
    _, good = files
    assert build_config(DaemonConfig, good, {}).chain == StreamPolicy().chain
    assert cli("daemon", "--config", good, "--chain", "1", "--validate-config").rc == 0
    result = cli("daemon", "--config", good, "--chain", "17", "--validate-config")  # the flag reaches the check
    assert result.rc == 1 and len(result.err_lines) == 1, result.err
    assert "chain: Input should be less than or equal to 16" in result.err


def test_validate_config_accepts_a_good_file(files, cli):
    _, good = files
    result = cli("daemon", "--config", good, "--validate-config")
    assert result.rc == 0 and "valid" in result.out


@pytest.mark.parametrize("extra,needle", [
    ('colour = "red"\n', "colour: Extra inputs are not permitted"),
    ("quality = 101\n", "quality"),
    ('fps = "fast"\n', "fps"),
    ('http_listen = "9464"\n', "http_listen"),
    ("spool_max_bytes = 10\n", "spool_max_bytes"),
    ("chain = 0\n", "chain: Input should be greater than or equal to 1"),
    ("chain = 17\n", "chain: Input should be less than or equal to 16"),
    ('http_listen = "127.0.0.1:99999"\n', "http_listen: port 99999 of '127.0.0.1:99999' is out of range (0..65535)"),
])
def test_validate_config_rejects_bad_values_in_one_line(files, cli, extra, needle):
    tmp, good = files
    bad = tmp / "bad.toml"
    bad.write_text(good.read_text().replace("quality = 60\n", "") + extra)
    result = cli("daemon", "--config", bad, "--validate-config")
    assert result.rc == 1 and len(result.err_lines) == 1 and needle in result.err


def test_bad_device_id_missing_token_file_and_bad_toml(files, cli):
    tmp, good = files
    for text, needle in [(good.read_text().replace("gate-1", "../x"), "invalid name"),
                         (good.read_text().replace(str(tmp / "token"), str(tmp / "nope")), "token_file"),
                         ("source = \n", "not valid TOML")]:
        bad = tmp / "bad.toml"
        bad.write_text(text)
        result = cli("daemon", "--config", bad, "--validate-config")
        assert result.rc == 1 and len(result.err_lines) == 1 and needle in result.err, result.err


def test_missing_required_settings_are_named(cli, tmp_path):
    result = cli("daemon", "--source", "0", "--validate-config")
    assert result.rc == 1 and "server: Field required" in result.err and len(result.err_lines) == 1
    assert cli("daemon", "--config", tmp_path / "absent.toml").rc == 1


def test_validate_config_checks_the_spool_and_the_model(files, cli, tiny_ckpt):
    tmp, good = files
    text = tmp / "model.pt"
    text.write_text("hi\n")
    validate = ("daemon", "--config", good, "--validate-config")
    assert cli(*validate, "--model", tiny_ckpt).rc == 0
    for flags, needle in [(["--spool", text], f"spool: {text} is not a directory"),
                          (["--spool", text / "spool"], f"spool: {text} is not a directory"),
                          (["--model", text], f"model: {text} is not an edgecodec checkpoint"),
                          (["--model", tmp / "absent.pt"], f"model: no model '{tmp / 'absent.pt'}'")]:
        result = cli(*validate, *flags)
        assert result.rc == 1 and len(result.err_lines) == 1 and needle in result.err, result.err


def test_validate_config_creates_no_spool(files, cli):
    tmp, good = files
    result = cli("daemon", "--config", good, "--spool", tmp / "new" / "spool", "--validate-config")
    assert result.rc == 0 and "valid" in result.out, result.err
    assert not (tmp / "new").exists()


@pytest.mark.parametrize("content,needle", [
    ("ecb_tök€n\n".encode(), "non-ASCII character '\\xf6' at position 6: the token must be printable ASCII"),
    (b"abc\ndef\n", "control character '\\n' at position 4: the token must be printable ASCII without spaces"),
    (b"ecb_a\rb\r\n", "control character '\\r' at position 6"),
    (b"ecb_a\x00b\n", "control character '\\x00' at position 6"),
    (b"ecb_x\x1f\r\n", "control character '\\x1f' at position 6"),  # not whitespace: refused, not stripped
    (b"ecb_a b\n", "a space at position 6"),
    (b"\xef\xbb\xbf \r\n", "is empty"),
    (b"\xff\xfe\x00bad", "is not UTF-8 text"),
])
def test_an_unusable_token_is_named_at_validation_and_start(files, cli, content, needle):
    tmp, good = files
    (tmp / "token").write_bytes(content)
    for extra in (["--validate-config"], []):  # the daemon stops at the token, before the model loads
        result = cli("daemon", "--config", good, *extra)
        assert result.rc == 1 and len(result.err_lines) == 1, result.err
        assert f"token file {tmp / 'token'}" in result.err and needle in result.err


@pytest.mark.parametrize("content", [b"ecb_x\r\n", b" \tecb_x \n\n", b"\xef\xbb\xbfecb_x\r\n", b"ecb_x"])
def test_a_token_file_from_windows_or_an_editor_gives_the_bare_token(tmp_path, content):
    """CRLF, surrounding blanks and the byte-order mark of Windows editors are not part of the token."""
    (tmp_path / "token").write_bytes(content)
    assert read_token(tmp_path / "token") == "ecb_x"


def test_an_unwritable_spool_is_refused_at_validation_and_start(files, cli):
    _, good = files
    if not os.path.isdir("/sys/kernel"):
        pytest.skip("needs /sys/kernel (not writable, even for root)")
    for extra in (["--validate-config"], []):
        result = cli("daemon", "--config", good, "--spool", "/sys/kernel", *extra)
        assert result.rc == 1 and len(result.err_lines) == 1, result.err
        assert "spool /sys/kernel is not writable" in result.err


def test_a_profile_resolution_over_max_pixels_is_refused_in_one_line(files, cli):
    """Frames of the profile's size would otherwise be captured and then dropped by the daemon itself."""
    tmp, good = files
    profile = tmp / "8k.toml"
    profile.write_text(good.read_text().replace('source = "0"\n', "") + DEVICE_8K)
    result = cli("daemon", "--config", profile, "--validate-config")
    assert result.rc == 1 and len(result.err_lines) == 1, result.err
    assert ("device.resolution 8192x8192 is 67108864 pixels, over max_pixels (16777216): set max_pixels (and the "
            "server's) to at least 67108864") in result.err
    profile.write_text(f"max_pixels = {8192 * 8192}\n" + profile.read_text())
    result = cli("daemon", "--config", profile, "--validate-config")
    assert result.rc == 0 and "valid" in result.out, result.err
