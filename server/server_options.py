"""The server's settings: one frozen dataclass, loaded from defaults, a TOML file, the
environment and command-line flags (later sources win).

Every option has an environment variable ``FRAMESCRIBE_<NAME>`` (e.g. ``FRAMESCRIBE_PORT``) and a
config-file key of the same name (``port = 50051``). The bearer token itself is never an option:
it comes from ``token_file`` or the ``FRAMESCRIBE_TOKEN`` variable (read_token), so it does not
end up in logs of the options.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ENV_PREFIX = "FRAMESCRIBE_"
TOKEN_ENV = "FRAMESCRIBE_TOKEN"
RUNTIMES = ("tf", "litert")
MIB = 1024 * 1024
STREAM_RATE_WINDOW_S = 60.0  # min_stream_frame_rate is checked over each window this long
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class ServerOptionsError(ValueError):
    """A bad option value; `option` is the field's name (None for file-level problems)."""

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


def _ranged(default, low, high):
    """A field with an allowed range [low, high] kept in its metadata."""
    return field(default=default, metadata={"range": (low, high)})


@dataclass(frozen=True)
class ServerOptions:
    """How the gRPC server runs. Override with ``dataclasses.replace``."""

    bundle: str  # model bundle directory (required)
    host: str = "127.0.0.1"  # address to listen on; "0.0.0.0" or "[::]" for all interfaces
    port: int = _ranged(50051, 0, 65535)  # TCP port; 0 picks a free one
    runtime: str = "tf"  # inference runtime: "tf" (TensorFlow) or "litert"
    max_batch_size: int = _ranged(32, 1, 1024)  # frames per frame-encoder call
    max_queue_delay_ms: float = _ranged(5.0, 0.0, 1000.0)  # ms a frame waits for a fuller batch
    max_streams: int = _ranged(64, 1, 100_000)  # StreamAnnotate calls served at once
    idle_timeout_s: float = _ranged(60.0, 0.1, 86_400.0)  # s without a frame before a stream ends
    max_message_bytes: int = _ranged(32 * MIB, 1024, 2**31 - 1)  # largest gRPC message, bytes
    max_pixels_per_frame: int = _ranged(3840 * 2160, 1, 2**30)  # width * height of one image
    max_frames_per_clip: int = _ranged(3000, 1, 1_000_000)  # frames in one AnnotateClip request
    max_frames_per_message: int = _ranged(64, 1, 4096)  # frames in one stream FrameList message
    max_clip_bytes: int = _ranged(32 * MIB, 1, 2**31 - 1)  # encoded video file, bytes
    max_queued_frames: int = _ranged(2048, 1, 1_000_000)  # frames waiting in the batcher
    # -- admission: what one call or one client may hold ---------------------------------------
    max_concurrent_clips: int = _ranged(4, 1, 1024)  # AnnotateClip calls served at once
    # bytes of AnnotateClip requests held at once (their frames or video files)
    max_request_bytes_in_flight: int = _ranged(128 * MIB, 1024, 2**40)
    max_stream_duration_s: float = _ranged(4 * 3600.0, 1.0, 7 * 86_400.0)  # longest stream, s
    # frames/s a stream must average over each window of STREAM_RATE_WINDOW_S (0 = no rule)
    min_stream_frame_rate: float = _ranged(0.5, 0.0, 1000.0)
    max_queued_responses: int = _ranged(256, 1, 100_000)  # events of a stream its client has
    #                                                       not read yet before reading pauses
    max_pending_captions: int = _ranged(8, 1, 1024)  # caption windows of a stream in decoding
    # -- clip files: demuxed and decoded in worker processes ------------------------------------
    clip_decode_processes: int = _ranged(1, 1, 16)  # worker processes decoding video files
    clip_decode_timeout_s: float = _ranged(300.0, 1.0, 86_400.0)  # longest a file may decode
    # -- encoder workers -------------------------------------------------------------------------
    worker_timeout_s: float = _ranged(30.0, 1.0, 3600.0)  # s for a worker's reply to a batch
    decode_threads: int = _ranged(2, 1, 256)  # threads decoding images off the event loop
    # LiteRT encoder worker processes (decode + encode); -1 = auto (the cores + 1, at most 8,
    # for runtime litert; none for tf); 0 = decode and encode in the server process
    encoder_processes: int = _ranged(-1, -1, 64)
    metrics_port: int = _ranged(0, 0, 65535)  # Prometheus HTTP port; 0 = no metrics endpoint
    metrics_host: str = "127.0.0.1"  # address the metrics endpoint listens on
    tls_cert: str | None = None  # PEM certificate chain file; with tls_key, serve TLS
    tls_key: str | None = None  # PEM private key file; with tls_cert
    token_file: str | None = None  # file holding the bearer token clients must send
    # accept a bearer token without TLS (it travels in clear text; warned about at start-up)
    allow_plaintext_token: bool = False
    grace_period_s: float = _ranged(10.0, 0.0, 3600.0)  # s to drain in-flight work on shutdown
    mixed_precision: bool = False  # float16 compute on GPU (TF runtime)
    # LiteRT interpreter threads in the server process; 0 = 1 with encoder workers, else the
    # cores (at most 4)
    litert_threads: int = _ranged(0, 0, 64)

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            _check_field(spec, value)
            if _field_type(spec) is float:
                object.__setattr__(self, spec.name, float(value))  # 5 -> 5.0
        self._check_relations()

    def _check_relations(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ServerOptionsError(
                f"runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}", "runtime")
        for name in ("bundle", "host", "metrics_host"):
            if not getattr(self, name).strip():
                raise ServerOptionsError(f"{name} must not be empty", name)
        if self.max_clip_bytes > self.max_message_bytes:
            raise ServerOptionsError(
                f"max_clip_bytes ({self.max_clip_bytes}) must be <= max_message_bytes "
                f"({self.max_message_bytes}): a clip travels in one message", "max_clip_bytes")
        if self.max_queued_frames < self.max_batch_size:
            raise ServerOptionsError(
                f"max_queued_frames ({self.max_queued_frames}) must be >= max_batch_size "
                f"({self.max_batch_size})", "max_queued_frames")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ServerOptionsError("tls_cert and tls_key must be given together (both or "
                                     "neither)", "tls_cert" if self.tls_key is None else "tls_key")
        if self.runtime == "tf" and self.encoder_processes > 0:
            raise ServerOptionsError(
                "encoder_processes run the LiteRT encoder: use runtime litert, or 0 (or -1) "
                "with runtime tf", "encoder_processes")
        if self.metrics_port and self.metrics_port == self.port:
            raise ServerOptionsError(
                f"metrics_port must differ from port (both {self.port})", "metrics_port")


def _check_field(spec: dataclasses.Field, value: Any) -> None:
    """Type and range of one field's value."""
    kind, name = _field_type(spec), spec.name
    if value is None and _optional(spec):
        return
    if kind is bool:
        if not isinstance(value, bool):
            raise ServerOptionsError(f"{name} must be true or false, got {value!r}", name)
        return
    if kind is str:
        if not isinstance(value, str) or (_optional(spec) and not value):
            allowed = "a path or None" if _optional(spec) else "a string"
            raise ServerOptionsError(f"{name} must be {allowed}, got {value!r}", name)
        return
    _check_number(name, kind, value, spec.metadata["range"])


def _check_number(name: str, kind: type, value: Any, bounds: tuple) -> None:
    low, high = bounds
    noun = "an integer" if kind is int else "a number"
    numeric = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, numeric) or not math.isfinite(value):
        raise ServerOptionsError(f"{name} must be {noun} from {low} to {high}, got {value!r}",
                                 name)
    if not low <= value <= high:
        raise ServerOptionsError(f"{name} must be {noun} from {low} to {high}, got {value!r}",
                                 name)


def _field_type(spec: dataclasses.Field) -> type:
    """int, float, bool or str (Optional[str] included) from the annotation string."""
    if spec.type in (int, float, bool):
        return spec.type
    text = str(spec.type).replace(" ", "")
    return {"int": int, "float": float, "bool": bool}.get(text, str)


def _optional(spec: dataclasses.Field) -> bool:
    return "None" in str(spec.type)


FIELDS = {spec.name: spec for spec in dataclasses.fields(ServerOptions)}


def env_name(option: str) -> str:
    """The environment variable of an option, e.g. FRAMESCRIBE_MAX_STREAMS."""
    return ENV_PREFIX + option.upper()


def load_server_options(overrides: Mapping[str, Any] | None = None,
                        environ: Mapping[str, str] = os.environ,
                        config_file: str | os.PathLike | None = None) -> ServerOptions:
    """Options from defaults < config file < FRAMESCRIBE_* variables < overrides (None ignored)."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if config_file is not None:
        path = os.fspath(config_file)
        for name, value in _read_config(path).items():
            values[name], sources[name] = value, f"{path}: {name}"
    for name, value in _read_environment(environ).items():
        values[name], sources[name] = value, env_name(name)
    for name, value in (overrides or {}).items():
        if name not in FIELDS:
            raise ServerOptionsError(f"unknown server option {name!r}; options: {_names()}")
        if value is not None:
            values[name], sources[name] = value, f"override {name}"
    return _build(values, sources)


def _build(values: dict[str, Any], sources: dict[str, str]) -> ServerOptions:
    if "bundle" not in values:
        raise ServerOptionsError(
            f"bundle is required: pass --bundle, set {env_name('bundle')} or put "
            "bundle = \"...\" in the config file", "bundle")
    try:
        return ServerOptions(**values)
    except ServerOptionsError as error:
        source = sources.get(error.option)
        if source is None:
            raise
        raise ServerOptionsError(f"{error} (set by {source})", error.option) from None


def _names() -> str:
    return ", ".join(FIELDS)


def _read_config(path: str) -> dict[str, Any]:
    """A TOML file's options, unknown keys and wrong types rejected with the file's name."""
    try:
        with open(path, "rb") as stream:
            table = tomllib.load(stream)
    except FileNotFoundError:
        raise ServerOptionsError(f"{path}: config file not found") from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ServerOptionsError(f"{path}: cannot read config file: {error}") from None
    values = {}
    for key, value in table.items():
        if key not in FIELDS:
            raise ServerOptionsError(f"{path}: unknown key {key!r}; keys: {_names()}")
        values[key] = _from_toml(path, FIELDS[key], value)
    return values


def _from_toml(path: str, spec: dataclasses.Field, value: Any) -> Any:
    """TOML has the right types already; integers are accepted for float options."""
    kind = _field_type(spec)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is bool and not isinstance(value, bool):
        raise ServerOptionsError(f"{path}: {spec.name} must be true or false, got {value!r}",
                                 spec.name)
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ServerOptionsError(f"{path}: {spec.name} must be an integer, got {value!r}",
                                 spec.name)
    if kind is str and not isinstance(value, str):
        raise ServerOptionsError(f"{path}: {spec.name} must be a string, got {value!r}",
                                 spec.name)
    return value


def _read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """FRAMESCRIBE_<NAME> variables converted to their option's type."""
    values = {}
    for name, spec in FIELDS.items():
        text = environ.get(env_name(name))
        if text is not None:
            values[name] = _from_text(env_name(name), spec, text)
    return values


def _from_text(variable: str, spec: dataclasses.Field, text: str) -> Any:
    kind, stripped = _field_type(spec), text.strip()
    if kind is str:
        return None if (_optional(spec) and not stripped) else stripped
    if kind is bool:
        if stripped.lower() in _TRUE + _FALSE:
            return stripped.lower() in _TRUE
        raise ServerOptionsError(
            f"{variable} must be one of {'/'.join(_TRUE + _FALSE)}, got {text!r}", spec.name)
    try:
        return kind(stripped)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise ServerOptionsError(f"{variable} must be {noun}, got {text!r}", spec.name) from None


def read_token(options: ServerOptions, environ: Mapping[str, str] = os.environ) -> str | None:
    """The bearer token: token_file's contents (stripped), else FRAMESCRIBE_TOKEN, else None."""
    if options.token_file is not None:
        try:
            with open(options.token_file, encoding="utf-8") as stream:
                token = stream.read().strip()
        except OSError as error:
            raise ServerOptionsError(
                f"{options.token_file}: cannot read token file: {error.strerror}",
                "token_file") from None
        return _check_token(token, f"token file {options.token_file}", "write the token into it")
    token = environ.get(TOKEN_ENV)
    if token is None:
        return None
    return _check_token(token.strip(), TOKEN_ENV, "unset it to turn authentication off")


def check_token_transport(options: ServerOptions, token: str | None) -> bool:
    """Refuse a bearer token over plaintext unless allow_plaintext_token is set: anyone on the
    path could read it. Returns True when a token travels in clear text (by permission), so the
    caller can warn about it."""
    if not token or options.tls_cert:
        return False
    if options.allow_plaintext_token:
        return True
    raise ServerOptionsError(
        "a bearer token is set (token_file or FRAMESCRIBE_TOKEN) but TLS is not: the token "
        "would travel in clear text; serve TLS (--tls-cert and --tls-key) or accept that "
        "with --allow-plaintext-token", "allow_plaintext_token")


def _check_token(token: str, source: str, fix: str) -> str:
    """Tokens travel in a metadata header: non-empty printable ASCII without spaces."""
    if not token:
        raise ServerOptionsError(f"{source}: the token is empty; {fix}")
    if not all("!" <= char <= "~" for char in token):
        raise ServerOptionsError(
            f"{source}: the token must be printable ASCII without spaces or control characters")
    return token
