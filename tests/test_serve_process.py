"""`framescribe serve` as a real process: health, reflection, metrics, TLS, tokens, SIGTERM."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from server_helpers import (
    DEMO,
    ServeProcess,
    ServerThread,
    child_pids,
    health_status,
    self_signed_certificate,
)

from framescribe.server.server_options import ServerOptions
from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served():
    process = ServeProcess("--bundle", str(DEMO), "--metrics-port", str(free_port()))
    yield process
    process.stop()


def test_health_is_serving_and_reflection_lists_the_service(served):
    channel = grpc.insecure_channel(served.address)
    assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING
    assert health_status(channel, "framescribe.v1.FrameScribeService") == \
        health_pb2.HealthCheckResponse.SERVING
    services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert "framescribe.v1.FrameScribeService" in services
    assert "grpc.health.v1.Health" in services
    from google.protobuf.descriptor_pool import DescriptorPool

    pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    service = pool.FindServiceByName("framescribe.v1.FrameScribeService")
    assert [m.name for m in service.methods] == ["AnnotateClip", "StreamAnnotate",
                                                 "GetModelInfo"]


def test_sigterm_drains_and_exits_cleanly():
    process = ServeProcess("--bundle", str(DEMO), "--grace-period-s", "5")
    channel = grpc.insecure_channel(process.address)
    assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING
    assert process.stop() == 0  # SIGTERM
    assert any("stopped" in line for line in process.lines), process.lines


def test_litert_server_never_imports_tensorflow():
    process = ServeProcess("--bundle", str(DEMO), "--runtime", "litert")
    try:
        stub = pb_grpc.FrameScribeServiceStub(grpc.insecure_channel(process.address))
        assert stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10).runtime == "litert"
        workers = child_pids(process.process.pid)
        assert workers  # the encoder worker processes (litert's default)
        for pid in [process.process.pid, *workers]:
            assert "site-packages/tensorflow/" not in Path(f"/proc/{pid}/maps").read_text()
    finally:
        process.stop()


def test_bad_bundle_is_one_error_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "framescribe.plugin.cli", "serve", "--bundle", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("framescribe:")]
    assert lines == [f"framescribe: error: bundle directory not found: {tmp_path / 'x'}"]


def test_metrics_endpoint_counts_requests(pipeline_for_metrics):
    running = ServerThread(ServerOptions(bundle=str(DEMO)), pipeline_for_metrics)
    try:
        stub = running.stub()
        stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
        with pytest.raises(grpc.RpcError):
            stub.AnnotateClip(pb.AnnotateClipRequest(), timeout=10)
        text = running.running.servicer.metrics.render()
        assert 'framescribe_requests_total{method="GetModelInfo"} 1.0' in text
        assert 'framescribe_errors_total{code="INVALID_ARGUMENT",method="AnnotateClip"} 1.0' \
            in text
    finally:
        running.stop()


@pytest.fixture(scope="module")
def pipeline_for_metrics():
    from framescribe.models.inference.pipeline import Pipeline

    return Pipeline.from_bundle(DEMO)


def test_metrics_over_http(served):
    line = next(line for line in served.lines if "metrics on" in line)
    url = line.split("metrics on ")[1].split()[0]
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    assert "framescribe_active_streams" in body


def test_token_is_required_when_configured(tmp_path, pipeline_for_metrics):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    running = ServerThread(ServerOptions(bundle=str(DEMO), token_file=str(token),
                                         allow_plaintext_token=True), pipeline_for_metrics)
    try:
        stub = running.stub()
        for metadata in ((), (("authorization", "Bearer wrong"),)):
            with pytest.raises(grpc.RpcError) as error:
                stub.GetModelInfo(pb.GetModelInfoRequest(), metadata=metadata, timeout=10)
            assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "s3cret" not in error.value.details()
        info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10,
                                 metadata=(("authorization", "Bearer s3cret-token"),))
        assert info.bundle_name
        assert health_status(running.channel()) == health_pb2.HealthCheckResponse.SERVING
    finally:
        running.stop()


def test_tls(tmp_path, pipeline_for_metrics):
    cert, key = self_signed_certificate(tmp_path)
    running = ServerThread(ServerOptions(bundle=str(DEMO), tls_cert=str(cert),
                                         tls_key=str(key)), pipeline_for_metrics)
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        channel = grpc.secure_channel(running.address, credentials,
                                      options=[("grpc.ssl_target_name_override", "localhost")])
        stub = pb_grpc.FrameScribeServiceStub(channel)
        assert stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10).bundle_name
        with pytest.raises(grpc.RpcError):  # plaintext to a TLS port fails
            running.stub().GetModelInfo(pb.GetModelInfoRequest(), timeout=5)
    finally:
        running.stop()
