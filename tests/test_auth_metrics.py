"""Bearer-token interceptor on a real grpc.aio server, and the Prometheus metrics endpoint."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import urllib.request
from dataclasses import replace

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from server_helpers import DEMO, ServerThread

from framescribe.models.inference.pipeline import Pipeline
from framescribe.server.app import start_server
from framescribe.server.auth import BearerTokenInterceptor
from framescribe.server.metrics import ServerMetrics
from framescribe.server.server_options import (
    ServerOptions,
    ServerOptionsError,
    check_token_transport,
)

TOKEN = "s3cret-Token_1"
SERVICE = "test.Echo"


async def _echo(request: bytes, context) -> bytes:
    return request


async def _echo_stream(requests, context):
    async for request in requests:
        yield request


async def _start_server():
    server = grpc.aio.server(interceptors=[BearerTokenInterceptor(TOKEN)])
    handlers = {"Unary": grpc.unary_unary_rpc_method_handler(_echo),
                "Stream": grpc.stream_stream_rpc_method_handler(_echo_stream)}
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    reflection.enable_server_reflection([SERVICE, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


def _with_server(test):
    """Run `test(channel)` against a fresh server; return what it returns."""

    async def main():
        server, port = await _start_server()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                return await test(channel)
        finally:
            await server.stop(None)

    return asyncio.run(main())


async def _unary(channel, metadata=None):
    call = channel.unary_unary(f"/{SERVICE}/Unary")
    try:
        return grpc.StatusCode.OK, await call(b"ping", metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details()


async def _stream(channel, metadata=None):
    call = channel.stream_stream(f"/{SERVICE}/Stream")(metadata=metadata, timeout=10)
    try:
        await call.write(b"a")
        await call.done_writing()
        return grpc.StatusCode.OK, [response async for response in call]
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details()


@pytest.mark.parametrize("metadata, detail", [
    (None, "missing authorization metadata"),
    ((("authorization", "Bearer wrong"),), "invalid bearer token"),
    ((("authorization", f"Basic {TOKEN}"),), "not of the form 'Bearer <token>'"),
    ((("authorization", "Bearer"),), "not of the form 'Bearer <token>'"),
])
def test_unary_calls_without_the_right_token_are_unauthenticated(metadata, detail):
    code, details = _with_server(lambda channel: _unary(channel, metadata))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert detail in details and "authorization: Bearer <token>" in details
    assert TOKEN not in details


def test_unary_call_with_the_token_succeeds():
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    assert _with_server(lambda channel: _unary(channel, metadata)) == (grpc.StatusCode.OK,
                                                                        b"ping")
    metadata = (("authorization", f"bearer {TOKEN}"),)  # the scheme is case-insensitive
    assert _with_server(lambda channel: _unary(channel, metadata))[0] == grpc.StatusCode.OK


def test_streams_are_checked_too():
    code, _ = _with_server(lambda channel: _stream(channel))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    assert _with_server(lambda channel: _stream(channel, metadata)) == (grpc.StatusCode.OK,
                                                                         [b"a"])


def test_unknown_methods_need_the_token_first():
    async def call(channel, metadata):
        try:
            await channel.unary_unary("/test.Echo/Nope")(b"", metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as error:
            return error.code()

    assert _with_server(lambda channel: call(channel, None)) == grpc.StatusCode.UNAUTHENTICATED
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    assert _with_server(lambda channel: call(channel, metadata)) == grpc.StatusCode.UNIMPLEMENTED


def test_health_needs_no_token():
    async def check(channel):
        stub = health_pb2_grpc.HealthStub(channel)
        return await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)

    assert _with_server(check).status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_needs_no_token():
    async def list_services(channel):
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        async for response in stub.ServerReflectionInfo(iter([request]), timeout=10):
            return [service.name for service in response.list_services_response.service]

    assert SERVICE in _with_server(list_services)


def test_empty_token_refused():
    with pytest.raises(ValueError, match="must not be empty"):
        BearerTokenInterceptor("")


def test_metrics_render():
    metrics = ServerMetrics()
    with metrics.track_request("AnnotateClip"):
        pass
    metrics.record_error("AnnotateClip", grpc.StatusCode.INVALID_ARGUMENT)
    metrics.observe_batch("encoder", 3)
    metrics.set_queue_depth("encoder", 7)
    metrics.frame_latency.observe(0.02)
    with metrics.track_stream():
        assert "framescribe_active_streams 1.0" in metrics.render()
    text = metrics.render()
    assert 'framescribe_requests_total{method="AnnotateClip"} 1.0' in text
    assert 'framescribe_errors_total{code="INVALID_ARGUMENT",method="AnnotateClip"} 1.0' in text
    assert 'framescribe_request_latency_seconds_count{method="AnnotateClip"} 1.0' in text
    assert 'framescribe_batch_size_bucket{le="4.0",stage="encoder"} 1.0' in text
    assert 'framescribe_batch_size_bucket{le="2.0",stage="encoder"} 0.0' in text
    assert 'framescribe_batch_size_bucket{le="256.0",stage="encoder"} 1.0' in text
    assert 'framescribe_queue_depth{stage="encoder"} 7.0' in text
    assert "framescribe_frame_latency_seconds_count 1.0" in text
    assert "framescribe_active_streams 0.0" in text


def test_two_servers_in_one_process_have_separate_registries():
    first, second = ServerMetrics(), ServerMetrics()
    first.requests.labels(method="GetModelInfo").inc()
    assert 'method="GetModelInfo"' in first.render()
    assert 'method="GetModelInfo"' not in second.render()


def test_metrics_http_endpoint():
    metrics = ServerMetrics()
    metrics.requests.labels(method="StreamAnnotate").inc(2)
    server, port = metrics.start_http(0, "127.0.0.1")
    try:
        assert port > 0 and server.port == port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            body = response.read().decode()
        assert 'framescribe_requests_total{method="StreamAnnotate"} 2.0' in body
    finally:
        server.close()


# -- secrets and exposure --------------------------------------------------------------------
def _token_file(tmp_path) -> str:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


def test_a_token_without_tls_is_refused_unless_allowed(tmp_path):
    plain = ServerOptions(bundle="b", token_file=_token_file(tmp_path))
    with pytest.raises(ServerOptionsError, match="--allow-plaintext-token") as error:
        check_token_transport(plain, TOKEN)
    assert "--tls-cert and --tls-key" in str(error.value) and TOKEN not in str(error.value)
    assert check_token_transport(replace(plain, allow_plaintext_token=True), TOKEN) is True
    secure = replace(plain, tls_cert="cert.pem", tls_key="key.pem")
    assert check_token_transport(secure, TOKEN) is False
    assert check_token_transport(ServerOptions(bundle="b"), None) is False
    # start_server refuses before it loads anything (this bundle does not exist)
    with pytest.raises(ServerOptionsError, match="--allow-plaintext-token"):
        asyncio.run(start_server(plain))


def test_serve_with_a_token_and_no_tls_is_one_error_line(tmp_path):
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith("FRAMESCRIBE_")}
    result = subprocess.run(
        [sys.executable, "-m", "framescribe.plugin.cli", "serve", "--bundle", str(DEMO),
         "--runtime", "litert", "--token-file", _token_file(tmp_path)],
        capture_output=True, text=True, timeout=120, env=environ)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("framescribe")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "--allow-plaintext-token" in lines[0] and "--tls-cert" in lines[0], lines


def test_metrics_listen_on_metrics_host_only():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    options = ServerOptions(bundle=str(DEMO),
                            host="0.0.0.0", metrics_port=metrics_port)
    assert options.metrics_host == "127.0.0.1"  # the default, whatever `host` is
    running = ServerThread(options, Pipeline.from_bundle(DEMO))
    try:
        http = running.running.metrics_http
        assert http.server.server_address[:2] == ("127.0.0.1", metrics_port)
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert "framescribe_active_streams" in response.read().decode()
    finally:
        running.stop()
