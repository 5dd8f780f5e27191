"""The server's configuration (``server.toml`` and command-line flags; flags win)."""
from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, FilePath, field_validator, model_validator

from ..codec.bitstream import DEFAULT_MAX_PIXELS
from ..common.config import ConfigModel, ListenAddress
from .tokens import TokenStore


class _Encrypted(Exception):
    """The TLS key needs a passphrase (asked for when the server starts)."""


def _no_passphrase() -> str:
    raise _Encrypted


def check_tls(cert: Path, key: Path) -> None:
    """ValueError naming the file unless ``cert`` holds PEM certificates and ``key`` their PEM private key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # as the server's
    try:
        context.load_verify_locations(cafile=cert)
    except ssl.SSLError:
        raise ValueError(f"tls_cert {cert} is not a PEM certificate") from None
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except _Encrypted:
        pass
    except ssl.SSLError as e:
        if e.reason is None:  # OpenSSL's "PEM lib": no private key in the file
            raise ValueError(f"tls_key {key} is not a PEM private key") from None
        reason = e.reason.lower().replace("_", " ")
        raise ValueError(f"tls_cert {cert} and tls_key {key} are refused: {reason}") from None


class ServerConfig(ConfigModel):
    """Everything ``edgecodec serve`` needs; unknown keys are errors."""

    data: Path = Field(description="data directory: frames, PNG cache, SQLite index, tokens.json")
    listen: ListenAddress = Field(default="127.0.0.1:8080", pattern=r"^[^\s]*:\d{1,5}$", description="HOST:PORT to listen on")
    decode_workers: int = Field(default=1, ge=0, le=64, description="decode worker processes (0: no decoding here)")
    decode_on_arrival: bool = Field(default=True, description="decode every frame when it arrives (else on demand)")
    decode_queue: int = Field(default=256, ge=1, description="arrivals waiting for a decoder; beyond, on demand only")
    decode_timeout_s: float = Field(default=120.0, gt=0, description="how long a PNG request waits for its decode")
    decode_request_queue: int = Field(default=32, ge=1, description="PNG requests waiting for a decoder, all cameras "
                                      "together; beyond, 429 with Retry-After")
    decode_device_pixels: int = Field(default=4 * DEFAULT_MAX_PIXELS, ge=1, description="pixels of one camera's "
                                      "frames waiting for or in a PNG request's decode; beyond, 429 (>= max_pixels)")
    decode_worker_jobs: int = Field(default=1000, ge=1, description="a decode worker process is replaced after "
                                    "this many decodes")
    decode_worker_max_mb: int = Field(default=2048, ge=1, description="a decode worker process whose peak resident "
                                      "memory passed this many MiB is replaced after its decode")
    stop_grace_s: float = Field(default=10.0, gt=0, le=60, description="on SIGTERM, how long requests and a running "
                                "decode may take before they are cut off (keep the unit's TimeoutStopSec above 2x)")
    model: Optional[str] = Field(default=None, description="checkpoint path or configuration name (default: embedded)")
    backend: Literal["torch", "onnxruntime"] = Field(default="torch", description="runtime of the decoder transform")
    max_body_bytes: int = Field(default=16 << 20, ge=1024, description="largest accepted upload in bytes (else 413)")
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, ge=1, description="largest accepted frame in pixels")
    access_log: bool = Field(default=True, description="log one line per request (peer, method, path without its "
                             "query, status, bytes, milliseconds, token name)")
    tls_cert: Optional[FilePath] = Field(default=None, description="PEM certificate chain: serve HTTPS")
    tls_key: Optional[FilePath] = Field(default=None, description="PEM private key of tls_cert")
    nats: Optional[str] = Field(default=None, pattern=r"^(nats|tls)://", description="NATS URL: scaled mode (index "
                                "in JetStream, decoding by `edgecodec worker`; data directory shared)")
    nats_prefix: str = Field(default="edgecodec", pattern=r"^[A-Za-z0-9_-]{1,32}$",
                             description="name prefix of the JetStream streams and buckets")

    @field_validator("data")
    @classmethod
    def _tokens_file(cls, value: Path) -> Path:
        """A malformed tokens.json stops the server before it starts (a missing one holds no tokens yet)."""
        TokenStore(value).check()
        return value

    @model_validator(mode="after")
    def _one_frame_fits(self) -> "ServerConfig":
        if self.decode_device_pixels < self.max_pixels:
            raise ValueError(f"decode_device_pixels ({self.decode_device_pixels}) must be at least max_pixels "
                             f"({self.max_pixels}): a camera's largest frame must fit in its budget")
        return self

    @model_validator(mode="after")
    def _tls_pair(self) -> "ServerConfig":
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.tls_cert is not None and self.tls_key is not None:
            check_tls(self.tls_cert, self.tls_key)
        return self
