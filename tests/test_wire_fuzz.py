"""Bytes that are not the method's message, sent to every method of a real server on loopback:
random bytes, bit flips, truncations and other methods' messages, in unary requests and as the
nth message of a stream. Every call ends with a documented status (never UNKNOWN or INTERNAL),
nothing is logged with a traceback, the log lines about them are rate-limited, and the server
keeps serving."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from server_helpers import DEMO, ServerThread, health_status, jpeg_frames

from framescribe.models.inference.pipeline import Pipeline
from framescribe.server.server_options import ServerOptions
from framescribe.server.wire_guard import (
    LOG_INTERVAL_S,
    WireGuardInterceptor,
    _RateLimitedLog,
    received_request_bytes,
)
from framescribe.v1 import framescribe_service_pb2 as pb

SERVICE = "/framescribe.v1.FrameScribeService/"
ANNOTATE, STREAM = SERVICE + "AnnotateClip", SERVICE + "StreamAnnotate"
INFO = SERVICE + "GetModelInfo"
CHECK, WATCH = "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"
REFLECT = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
# What a request that parses but makes no sense may get (README "Limits and errors"); NOT_FOUND
# is the health service's answer for a service name it does not know.
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT,
           grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.FAILED_PRECONDITION,
           grpc.StatusCode.NOT_FOUND}
CORRUPT = b"\x0a\x05ab"  # field 1, 5 bytes long, then only 2: no message parses from this
CASES_PER_METHOD = 60


@pytest.fixture(scope="module")
def server():
    pipeline = Pipeline.from_bundle(DEMO)
    running = ServerThread(ServerOptions(bundle=str(DEMO),
                                         encoder_processes=0), pipeline)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def channel(server):
    with server.channel() as channel:
        yield channel


def _frames() -> list[pb.Frame]:
    noise = np.random.default_rng(7).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    return jpeg_frames(noise)


def _valid() -> dict[str, list[bytes]]:
    """Good request messages of each method (a stream's as its list of messages)."""
    frames = _frames()
    return {
        ANNOTATE: [pb.AnnotateClipRequest(tasks=[pb.TASK_GESTURES], frames=pb.FrameList(
            frames=frames)).SerializeToString()],
        INFO: [pb.GetModelInfoRequest().SerializeToString()],
        CHECK: [health_pb2.HealthCheckRequest(service="").SerializeToString()],
        WATCH: [health_pb2.HealthCheckRequest(service="").SerializeToString()],
        STREAM: [pb.StreamAnnotateRequest(config=pb.StreamConfig(tasks=[pb.TASK_GESTURES]))
                 .SerializeToString()] + [pb.StreamAnnotateRequest(frame=frame)
                                          .SerializeToString() for frame in frames],
        REFLECT: [reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString(),
                  reflection_pb2.ServerReflectionRequest(
                      file_containing_symbol="framescribe.v1.FrameScribeService")
                  .SerializeToString()],
    }


def _mutated(rng: random.Random, good: bytes, others: list[bytes]) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 64))
    if kind == 1 and good:
        data = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)
    if kind == 2 and len(good) > 1:
        return good[:rng.randrange(1, len(good))]
    if kind == 3:
        return rng.choice(others)
    at = rng.randrange(len(good) + 1)
    return good[:at] + rng.randbytes(rng.randrange(1, 8)) + good[at:]


def _unary(channel, method: str, data: bytes) -> tuple[grpc.StatusCode, str]:
    try:
        channel.unary_unary(method)(data, timeout=30)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as error:
        return error.code(), error.details() or ""


def _watch(channel, data: bytes) -> tuple[grpc.StatusCode, str]:
    """Watch never ends on its own: its first answer (or error) is the result."""
    call = channel.unary_stream(WATCH)(data, timeout=30)
    try:
        next(call, None)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as error:
        return error.code(), error.details() or ""
    finally:
        call.cancel()


def _stream(channel, method: str, messages: list[bytes]) -> tuple[grpc.StatusCode, str]:
    try:
        for _ in channel.stream_stream(method)(iter(messages), timeout=30):
            pass
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as error:
        return error.code(), error.details() or ""


def _send(channel, method: str, messages: list[bytes]) -> tuple[grpc.StatusCode, str]:
    if method in (STREAM, REFLECT):
        return _stream(channel, method, messages)
    if method == WATCH:
        return _watch(channel, messages[0])
    return _unary(channel, method, messages[0])


def _bad_request_lines(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if "malformed request" in record.getMessage()]


def _assert_no_traceback(caplog) -> None:
    for record in caplog.records:
        assert record.exc_info is None and "Traceback" not in record.getMessage(), \
            f"{record.name}: {record.getMessage()}"
        assert record.levelno < logging.ERROR, f"{record.name}: {record.getMessage()}"


def test_fuzzed_requests_to_every_method(server, channel, caplog):
    # first of the tests on this server: its bad-request log lines are not yet rate-limited
    caplog.set_level(logging.WARNING)
    rng = random.Random(20240613)
    valid = _valid()
    others = [message for messages in valid.values() for message in messages] + [
        pb.GetModelInfoResponse(bundle_name="demo").SerializeToString(),
        pb.AnnotateClipResponse(captions=[pb.CaptionSegment(text="a b")]).SerializeToString()]
    start = time.monotonic()
    codes: dict[str, set] = {}
    unparsed: dict[str, int] = dict.fromkeys(valid, 0)
    for method, good in valid.items():
        for _ in range(CASES_PER_METHOD):
            messages = list(good)
            at = rng.randrange(len(messages))  # a stream's bad message may come at any point
            messages[at] = _mutated(rng, messages[at], others)
            code, details = _send(channel, method, messages)
            assert code in ALLOWED, (method, messages, code, details)
            codes.setdefault(method, set()).add(code)
            unparsed[method] += "is the client's .proto current?" in details
    elapsed = time.monotonic() - start
    assert all(grpc.StatusCode.INVALID_ARGUMENT in seen for seen in codes.values()), codes
    assert elapsed < 60, elapsed
    assert health_status(server.channel()) == health_pb2.HealthCheckResponse.SERVING
    assert _unary(channel, INFO, valid[INFO][0]) == (grpc.StatusCode.OK, "")
    _assert_no_traceback(caplog)
    lines = _bad_request_lines(caplog)
    assert lines, "bad requests are logged"
    for method in valid:
        mine = [line for line in lines if f" {method}" in line.getMessage()]
        assert len(mine) <= 1 + elapsed // LOG_INTERVAL_S, [r.getMessage() for r in mine]
    assert all(count > 1 for count in unparsed.values()), unparsed  # more refusals than lines


@pytest.mark.parametrize("method", [ANNOTATE, INFO, CHECK, WATCH])
def test_a_unary_request_that_does_not_parse_is_invalid_argument(channel, method):
    code, details = _send(channel, method, [CORRUPT])
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert details.startswith(f"the request to {method} is not a valid ")
    assert "is the client's .proto current?" in details
    if method == ANNOTATE:
        assert "not a valid AnnotateClipRequest message" in details


@pytest.mark.parametrize("method", [STREAM, REFLECT])
def test_the_fifth_message_of_a_stream_that_does_not_parse_is_invalid_argument(channel, method):
    good = _valid()[method]
    messages = [good[0]] + [good[1 % len(good)]] * 3 + [CORRUPT] + [good[1 % len(good)]]
    if method == STREAM:  # frames must move forward in time
        messages = [good[0]] + [pb.StreamAnnotateRequest(frame=pb.Frame(
            timestamp_ms=100 * i, image=_frames()[0].image)).SerializeToString()
            for i in range(3)] + [CORRUPT]
    code, details = _stream(channel, method, messages)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert f"message 5 of the stream to {method} is not a valid " in details, details
    assert "is the client's .proto current?" in details


def test_a_refused_token_comes_before_parsing(tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    pipeline = Pipeline.from_bundle(DEMO)
    running = ServerThread(ServerOptions(bundle=str(DEMO),
                                         token_file=str(token), allow_plaintext_token=True),
                           pipeline)
    try:
        with running.channel() as channel:
            assert _unary(channel, ANNOTATE, CORRUPT)[0] == grpc.StatusCode.UNAUTHENTICATED
            call = channel.unary_unary(ANNOTATE)
            with pytest.raises(grpc.RpcError) as error:
                call(CORRUPT, timeout=30, metadata=(("authorization", "Bearer s3cret"),))
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert _unary(channel, CHECK, CORRUPT)[0] == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        running.stop()


def test_log_lines_are_rate_limited_per_method(caplog):
    now = [0.0]
    limited = _RateLimitedLog(10.0, lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="framescribe.server"):
        for second in range(25):
            now[0] = float(second)
            limited.warn("/a/A", "bad")
            limited.warn("/b/B", "bad")
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 6  # at 0, 10 and 20 s, for each method
    assert messages[2].endswith("bad (9 more since the last such line, not logged)")
    assert WireGuardInterceptor(log_interval_s=1.0)  # the interval is a parameter


def test_a_guarded_unary_behaviour_sees_its_requests_size_on_the_wire():
    """received_request_bytes(): what clip admission counts, without walking the message."""
    request = pb.AnnotateClipRequest(frames=pb.FrameList(frames=_frames()))
    wire = request.SerializeToString()

    async def size(message, context) -> bytes:
        assert message == request  # the behaviour still gets the parsed message
        return str(received_request_bytes()).encode()

    async def call() -> bytes:
        handler = grpc.method_handlers_generic_handler("test.Sizes", {
            "Size": grpc.unary_unary_rpc_method_handler(
                size, request_deserializer=pb.AnnotateClipRequest.FromString,
                response_serializer=lambda data: data)})
        server = grpc.aio.server(interceptors=[WireGuardInterceptor()])
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                return await channel.unary_unary("/test.Sizes/Size")(wire, timeout=30)
        finally:
            await server.stop(None)

    assert int(asyncio.run(call())) == len(wire) > 0
    assert received_request_bytes() is None  # outside a guarded call
