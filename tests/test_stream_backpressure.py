"""Streams under hostile clients: bounded memory and work per stream, slots that cannot be held
forever, clip admission. Real server on loopback, real client channels, the demo bundle."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from server_helpers import DEMO, ServeProcess, ServerThread, health_status

from framescribe.models.bundle.bundle_manifest import read_manifest
from framescribe.server import stream_call
from framescribe.server.server_options import ServerOptions
from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc

pytestmark = pytest.mark.slow
MIB = 1024 * 1024
SERVING = 1  # HealthCheckResponse.SERVING
LITERT = ("--bundle", str(DEMO), "--runtime", "litert")


# A client whose transport does not read ahead for it: a fixed 64 KiB receive window. (With
# BDP probing, gRPC's client transport reads up to several MiB of responses for an application
# that reads nothing: that is the client's memory, and the server sees a client that reads.)
FIXED_WINDOW = {"grpc.http2.bdp_probe": 0}
NOISE = cv2.imencode(".png", np.random.default_rng(0).integers(
    0, 256, (64, 64, 3), dtype=np.uint8))[1].tobytes()  # ~12 kB


def tiny_frame(index: int, period_ms: int) -> pb.Frame:
    """A 32x32 PNG frame whose content changes with its index."""
    image = np.full((32, 32, 3), (index * 7) % 256, np.uint8)
    return pb.Frame(timestamp_ms=index * period_ms, image=pb.Image(
        format=pb.IMAGE_FORMAT_PNG, data=cv2.imencode(".png", image)[1].tobytes()))


def noise_frame(index: int, period_ms: int) -> pb.Frame:
    """A 64x64 PNG of noise (~12 kB, so the transports' windows hold few of them)."""
    return pb.Frame(timestamp_ms=index * period_ms,
                    image=pb.Image(format=pb.IMAGE_FORMAT_PNG, data=NOISE))


class CountingRequests:
    """A stream's requests (config, then `frames` noise frames at the bundle's rate), counting
    how many gRPC has taken so far."""

    def __init__(self, config: pb.StreamConfig, frames: int, period_ms: int):
        self.config, self.frames, self.period_ms = config, frames, period_ms
        self.taken = 0

    def __iter__(self):
        yield pb.StreamAnnotateRequest(config=self.config)
        for i in range(self.frames):
            self.taken = i + 1
            yield pb.StreamAnnotateRequest(frame=noise_frame(i, self.period_ms))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def wait_until_steady(read, settle_s: float = 3.0, timeout_s: float = 90.0) -> int:
    """read() once it has not changed for settle_s."""
    deadline = time.monotonic() + timeout_s
    value, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = read()
        if now != value:
            value, since = now, time.monotonic()
        elif time.monotonic() - since >= settle_s:
            return value
    raise AssertionError(f"still changing after {timeout_s} s: {value}")


@pytest.fixture(scope="module")
def period_ms() -> int:
    return round(1000 / read_manifest(DEMO).frame_rate)


def test_a_client_that_does_not_read_is_paused_then_resumes(period_ms):
    """10,000 frames sent without reading: the server stops reading them (its RSS stays within
    50 MiB of where it started) and carries on once the client reads."""
    with ServeProcess(*LITERT) as server:
        channel = grpc.insecure_channel(server.address, options=list(FIXED_WINDOW.items()))
        stub = pb_grpc.FrameScribeServiceStub(channel)
        assert stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=30).max_queued_responses
        start_rss = rss_mib(server.pid)
        requests = CountingRequests(pb.StreamConfig(
            tasks=[pb.TASK_GESTURES], gesture_options=pb.GestureOptions(interim_results=True)),
            10_000, period_ms)
        responses = stub.StreamAnnotate(iter(requests), timeout=600)
        paused_at = wait_until_steady(lambda: requests.taken)
        paused_rss = rss_mib(server.pid)
        assert paused_at < 10_000, "the server read every frame of a client that reads nothing"
        assert paused_rss - start_rss < 50, (start_rss, paused_rss)
        interims = sum(r.WhichOneof("event") == "interim_gesture" for r in responses)
        assert requests.taken == 10_000
        assert interims == 10_000  # every frame, once the client read
        assert rss_mib(server.pid) - start_rss < 50
        assert health_status(channel) == SERVING
        print(f"paused after {paused_at} of 10000 frames; RSS {start_rss:.0f} -> "
              f"{paused_rss:.0f} MiB paused")


@pytest.fixture
def short_rate_window(monkeypatch):
    """The frame-rate rule checked over 2 s windows instead of a minute (test time)."""
    monkeypatch.setattr(stream_call, "STREAM_RATE_WINDOW_S", 2.0)


@pytest.fixture(scope="module")
def strict_server():
    """In this process (to watch its state), so on TensorFlow: the session has imported it,
    and LiteRT refuses to run beside it."""
    running = ServerThread(ServerOptions(
        bundle=str(DEMO), runtime="tf", min_stream_frame_rate=2.0,
        max_stream_duration_s=6.0, max_concurrent_clips=1, max_pending_captions=1,
        max_request_bytes_in_flight=64 * 1024))
    yield running
    running.stop()


def test_a_trickling_stream_loses_its_slot(strict_server, short_rate_window, period_ms):
    def trickle():
        yield pb.StreamAnnotateRequest(config=pb.StreamConfig(tasks=[pb.TASK_GESTURES]))
        for i in range(20):
            yield pb.StreamAnnotateRequest(frame=tiny_frame(i, period_ms))
            time.sleep(1.0)  # 1 frame/s, under the 2 frames/s rule

    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as error:
        list(strict_server.stub().StreamAnnotate(trickle(), timeout=60))
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "min_stream_frame_rate" in error.value.details()
    assert time.monotonic() - started < 8
    assert health_status(strict_server.channel()) == SERVING


def test_a_client_that_never_reads_loses_its_slot(strict_server, short_rate_window, period_ms):
    """Paused by its own backpressure, a stream reads no frames, so the rate rule (or the
    duration limit) ends it although its client reads nothing: the slot and the stream's state
    are freed. (No status can pass the response its client never reads; the client gets its
    deadline.)"""
    requests = CountingRequests(pb.StreamConfig(
        tasks=[pb.TASK_GESTURES], gesture_options=pb.GestureOptions(interim_results=True)),
        10_000, period_ms)
    stub = pb_grpc.FrameScribeServiceStub(strict_server.channel(**FIXED_WINDOW))
    responses = stub.StreamAnnotate(iter(requests), timeout=60)
    active = lambda: strict_server.on_loop(  # noqa: E731
        lambda: strict_server.running.servicer.streams.active)
    deadline = time.monotonic() + 5
    while not active() and time.monotonic() < deadline:
        time.sleep(0.05)
    deadline = time.monotonic() + 30
    while active() and time.monotonic() < deadline:
        time.sleep(0.25)
    try:
        assert active() == 0, "a stream whose client reads nothing kept its slot"
        assert requests.taken < 10_000
    finally:
        responses.cancel()
    assert health_status(strict_server.channel()) == SERVING


def test_a_stream_ends_at_the_maximum_duration(strict_server, period_ms):
    def steady():
        yield pb.StreamAnnotateRequest(config=pb.StreamConfig(tasks=[pb.TASK_GESTURES]))
        for i in range(200):
            yield pb.StreamAnnotateRequest(frame=tiny_frame(i, period_ms))
            time.sleep(0.1)

    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as error:
        list(strict_server.stub().StreamAnnotate(steady(), timeout=60))
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_stream_duration_s" in error.value.details()
    assert 5.5 < time.monotonic() - started < 12


@pytest.fixture
def caption_bound_server():
    """max_pending_captions 1 and no short stream-duration limit (30 beam-16 captions take
    longer than strict_server's 6 s on a loaded machine)."""
    running = ServerThread(ServerOptions(bundle=str(DEMO), runtime="tf",
                                         max_pending_captions=1))
    yield running
    running.stop()


def test_caption_work_per_stream_is_bounded(caption_bound_server, period_ms):
    """segment_frames=2 at beam 16 outruns the decoder: the stream's captions waiting for it
    never pass max_pending_captions (1 here), and every caption still arrives."""
    strict_server = caption_bound_server
    peak = []
    done = threading.Event()

    def watch():
        captions = strict_server.running.model.captions
        while not done.is_set():
            peak.append(strict_server.on_loop(lambda: captions.pending))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    config = pb.StreamConfig(tasks=[pb.TASK_CAPTIONS], caption_options=pb.CaptionOptions(
        segment_frames=2, beam_size=16))
    try:
        responses = list(strict_server.stub().StreamAnnotate(
            iter(CountingRequests(config, 60, period_ms)), timeout=120))
    finally:
        done.set()
        watcher.join()
    assert sum(r.WhichOneof("event") == "caption" for r in responses) == 30
    assert max(peak) <= 1


def test_clip_admission_refuses_beyond_the_limits(strict_server, period_ms):
    stub = strict_server.stub()
    big = pb.AnnotateClipRequest(frames=pb.FrameList(frames=[
        pb.Frame(timestamp_ms=i * period_ms, image=pb.Image(
            format=pb.IMAGE_FORMAT_RGB24, width=64, height=64, data=bytes(64 * 64 * 3)))
        for i in range(8)]))
    with pytest.raises(grpc.RpcError) as error:
        stub.AnnotateClip(big, timeout=30)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_request_bytes_in_flight" in error.value.details()
    # One clip at a time: a second while the first runs is refused.
    slow = pb.AnnotateClipRequest(
        tasks=[pb.TASK_CAPTIONS], caption_options=pb.CaptionOptions(beam_size=16,
                                                                      segment_frames=2),
        frames=pb.FrameList(frames=[tiny_frame(i, period_ms) for i in range(100)]))
    first = stub.AnnotateClip.future(slow, timeout=120)
    deadline = time.monotonic() + 30
    while strict_server.on_loop(lambda: strict_server.running.servicer.clips.calls) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(grpc.RpcError) as error:
        stub.AnnotateClip(pb.AnnotateClipRequest(frames=pb.FrameList(frames=[
            tiny_frame(0, period_ms)])), timeout=30)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_concurrent_clips" in error.value.details()
    assert len(first.result().captions) == 50
    info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=30)
    assert (info.max_concurrent_clips, info.max_request_bytes_in_flight) == (1, 64 * 1024)


def test_a_stream_is_served_while_a_big_clip_runs(strict_server, period_ms):
    """Live work goes first: a stream started after a long beam-16 clip gets every interim
    label and ends while the clip is still running."""
    stub = strict_server.stub()
    clip = stub.AnnotateClip.future(pb.AnnotateClipRequest(
        caption_options=pb.CaptionOptions(beam_size=16, segment_frames=2),
        frames=pb.FrameList(frames=[tiny_frame(i, period_ms) for i in range(400)])),
        timeout=300)
    deadline = time.monotonic() + 30
    while strict_server.on_loop(lambda: strict_server.running.servicer.clips.calls) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    config = pb.StreamConfig(tasks=[pb.TASK_GESTURES],
                             gesture_options=pb.GestureOptions(interim_results=True))
    responses = list(stub.StreamAnnotate(
        iter(CountingRequests(config, 30, period_ms)), timeout=120))
    clip_running = not clip.done()
    assert sum(r.WhichOneof("event") == "interim_gesture" for r in responses) == 30
    assert clip_running, "the stream waited for the clip"
    assert len(clip.result().captions) == 200
