"""Server options: defaults, validation, and defaults < TOML file < environment < overrides."""

from __future__ import annotations

import dataclasses

import pytest

from framescribe.server.server_options import (
    MIB,
    ServerOptions,
    ServerOptionsError,
    env_name,
    load_server_options,
    read_token,
)


def test_defaults():
    options = ServerOptions(bundle="b")
    assert (options.host, options.port, options.runtime) == ("127.0.0.1", 50051, "tf")
    assert options.max_batch_size == 32 and options.max_queue_delay_ms == 5.0
    assert options.max_message_bytes == options.max_clip_bytes == 32 * MIB
    assert options.max_pixels_per_frame == 3840 * 2160 and options.max_queued_frames == 2048
    assert options.metrics_port == 0 and options.tls_cert is None and not options.mixed_precision
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.port = 1


@pytest.mark.parametrize("changes, message", [
    ({"port": 70000}, r"port must be an integer from 0 to 65535, got 70000"),
    ({"max_batch_size": 0}, r"max_batch_size must be an integer from 1 to 1024, got 0"),
    ({"max_streams": 2.5}, r"max_streams must be an integer"),
    ({"decode_threads": True}, r"decode_threads must be an integer"),
    ({"idle_timeout_s": float("nan")}, r"idle_timeout_s must be a number from 0.1"),
    ({"max_queue_delay_ms": -1.0}, r"max_queue_delay_ms must be a number from 0.0 to 1000.0"),
    ({"runtime": "onnx"}, r"runtime must be one of tf, litert, got 'onnx'"),
    ({"bundle": " "}, r"bundle must not be empty"),
    ({"max_clip_bytes": 33 * MIB}, r"max_clip_bytes \(34603008\) must be <= max_message_bytes"),
    ({"max_queued_frames": 16}, r"max_queued_frames \(16\) must be >= max_batch_size \(32\)"),
    ({"tls_cert": "c.pem"}, r"tls_cert and tls_key must be given together"),
    ({"metrics_port": 50051}, r"metrics_port must differ from port"),
    ({"mixed_precision": "yes"}, r"mixed_precision must be true or false"),
    ({"token_file": ""}, r"token_file must be a path or None"),
    ({"encoder_processes": -2}, r"encoder_processes must be an integer from -1 to 64"),
    ({"encoder_processes": 2}, r"encoder_processes run the LiteRT encoder: use runtime litert"),
])
def test_validation_names_the_option_and_range(changes, message):
    with pytest.raises(ServerOptionsError, match=message) as error:
        dataclasses.replace(ServerOptions(bundle="b"), **changes)
    assert error.value.option in changes


def test_integers_for_floats_become_floats():
    options = ServerOptions(bundle="b", grace_period_s=3)
    assert options.grace_period_s == 3.0 and isinstance(options.grace_period_s, float)


def test_precedence(tmp_path):
    config = tmp_path / "server.toml"
    config.write_text('bundle = "from-file"\nport = 6000\nmax_streams = 10\n'
                      'max_queue_delay_ms = 2\nmixed_precision = true\n')
    environ = {"FRAMESCRIBE_PORT": "7000", "FRAMESCRIBE_MAX_STREAMS": " 20 ",
               "FRAMESCRIBE_TLS_CERT": "", "UNRELATED": "x"}
    options = load_server_options({"max_streams": 30, "bundle": None}, environ, config)
    assert options.bundle == "from-file"  # file (override None is ignored)
    assert options.port == 7000  # env beats file
    assert options.max_streams == 30  # override beats env
    assert options.max_queue_delay_ms == 2.0 and options.mixed_precision is True
    assert options.tls_cert is None  # empty variable = not set
    assert options.host == "127.0.0.1"  # default


def test_environment_conversion():
    environ = {env_name("bundle"): "/models/demo", env_name("idle_timeout_s"): "2.5",
               env_name("mixed_precision"): "on", env_name("runtime"): "litert",
               env_name("tls_cert"): "c.pem", env_name("tls_key"): "k.pem"}
    options = load_server_options({}, environ)
    assert options.bundle == "/models/demo" and options.idle_timeout_s == 2.5
    assert options.mixed_precision is True and options.runtime == "litert"
    assert (options.tls_cert, options.tls_key) == ("c.pem", "k.pem")
    assert env_name("max_streams") == "FRAMESCRIBE_MAX_STREAMS"


@pytest.mark.parametrize("variable, value, message", [
    ("FRAMESCRIBE_PORT", "http", r"FRAMESCRIBE_PORT must be an integer, got 'http'"),
    ("FRAMESCRIBE_IDLE_TIMEOUT_S", "1m", r"FRAMESCRIBE_IDLE_TIMEOUT_S must be a number"),
    ("FRAMESCRIBE_MIXED_PRECISION", "maybe", r"FRAMESCRIBE_MIXED_PRECISION must be one of 1/"),
    ("FRAMESCRIBE_PORT", "99999", r"port must be .* got 99999 \(set by FRAMESCRIBE_PORT\)"),
])
def test_bad_environment_values_name_the_variable(variable, value, message):
    with pytest.raises(ServerOptionsError, match=message):
        load_server_options({"bundle": "b"}, {variable: value})


def test_config_file_errors_name_the_file(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('bundle = "b"\nprot = 1\n')
    with pytest.raises(ServerOptionsError, match=r"bad.toml: unknown key 'prot'; keys: bundle"):
        load_server_options({}, {}, config)
    config.write_text('bundle = "b"\nport = "80"\n')
    with pytest.raises(ServerOptionsError, match=r"bad.toml: port must be an integer, got '80'"):
        load_server_options({}, {}, config)
    config.write_text('bundle = "b"\nmax_batch_size = 0\n')
    with pytest.raises(ServerOptionsError, match=r"max_batch_size .* \(set by .*bad.toml"):
        load_server_options({}, {}, config)
    config.write_text("bundle = \n")
    with pytest.raises(ServerOptionsError, match="bad.toml: cannot read config file"):
        load_server_options({}, {}, config)
    with pytest.raises(ServerOptionsError, match="missing.toml: config file not found"):
        load_server_options({}, {}, tmp_path / "missing.toml")


def test_overrides_and_required_bundle():
    with pytest.raises(ServerOptionsError, match="bundle is required: pass --bundle, set "
                                                 "FRAMESCRIBE_BUNDLE"):
        load_server_options({}, {})
    with pytest.raises(ServerOptionsError, match="unknown server option 'workers'"):
        load_server_options({"bundle": "b", "workers": 3}, {})
    with pytest.raises(ServerOptionsError, match=r"got 0 \(set by override max_streams\)"):
        load_server_options({"bundle": "b", "max_streams": 0}, {})


def test_token_from_file_or_environment(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("  s3cret-token\n")
    options = ServerOptions(bundle="b", token_file=str(token_file))
    assert read_token(options, {"FRAMESCRIBE_TOKEN": "other"}) == "s3cret-token"  # file wins
    plain = ServerOptions(bundle="b")
    assert read_token(plain, {"FRAMESCRIBE_TOKEN": " env-token "}) == "env-token"
    assert read_token(plain, {}) is None


def test_bad_tokens(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("\n")
    with pytest.raises(ServerOptionsError, match=r"token file .*token: the token is empty"):
        read_token(ServerOptions(bundle="b", token_file=str(token_file)), {})
    with pytest.raises(ServerOptionsError, match="cannot read token file"):
        read_token(ServerOptions(bundle="b", token_file=str(tmp_path / "none")), {})
    with pytest.raises(ServerOptionsError, match="FRAMESCRIBE_TOKEN: the token is empty; unset"):
        read_token(ServerOptions(bundle="b"), {"FRAMESCRIBE_TOKEN": " "})
    with pytest.raises(ServerOptionsError, match="printable ASCII without spaces") as error:
        read_token(ServerOptions(bundle="b"), {"FRAMESCRIBE_TOKEN": "two words"})
    assert "two words" not in str(error.value)  # never echo a token
