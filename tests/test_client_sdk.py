"""The client SDK (Client, AsyncClient) against a real server on loopback, on a real video."""

from __future__ import annotations

import asyncio
import socket
import time

import cv2
import grpc
import numpy as np
import pytest
from server_helpers import DEMO, ServerThread, sample_video, self_signed_certificate

from framescribe.models.inference.pipeline import Pipeline
from framescribe.models.video import open_source
from framescribe.plugin.client import (
    AsyncClient,
    Caption,
    Client,
    ClipResult,
    FramescribeError,
    Gesture,
    InterimGesture,
    ModelInfo,
    StreamConfig,
)
from framescribe.plugin.client_requests import async_stream_requests, stream_requests
from framescribe.plugin.client_types import MAX_FRAMES_PER_MESSAGE
from framescribe.server.server_options import ServerOptions

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline.from_bundle(DEMO)


@pytest.fixture(scope="module")
def server(pipeline):
    running = ServerThread(ServerOptions(bundle=str(DEMO)), pipeline)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    with Client(server.address) as sync_client:
        yield sync_client


@pytest.fixture(scope="module")
def frames():
    """The first 3 s of bikes.mp4 (640x272) at the demo's 10 fps: (seconds, RGB) pairs."""
    with open_source(sample_video(), frame_rate=10) as source:
        return [frame for frame in source if frame[0] < 3.0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def finals(events) -> list[tuple]:
    """Final events as comparable tuples, times in whole ms."""
    return [(type(e).__name__, e.label if isinstance(e, Gesture) else e.text,
             round(e.start * 1000), round(e.end * 1000))
            for e in events if isinstance(e, Caption | Gesture)]


def assert_same(a: ClipResult, b: ClipResult) -> None:
    """Equal up to float noise (the server's batches may group frames differently)."""
    assert finals((*a.captions, *a.gestures)) == finals((*b.captions, *b.gestures))
    assert (a.frames_used, a.duration) == (b.frames_used, b.duration)
    assert [x.log_prob for x in a.captions] == pytest.approx([x.log_prob for x in b.captions],
                                                             abs=1e-3)
    assert [x.confidence for x in a.gestures] == pytest.approx([x.confidence for x in b.gestures],
                                                               abs=1e-3)


def interims(events) -> list[tuple]:
    """Interim labels as comparable (ms, label) tuples, in arrival order."""
    return [(round(e.timestamp * 1000), e.label) for e in events if isinstance(e, InterimGesture)]


def assert_same_events(a: list, b: list) -> None:
    """The same interim labels and the same final events, each in the same order; scores equal
    up to float noise (the server's batches may group frames differently)."""
    assert interims(a) == interims(b) and finals(a) == finals(b)
    for kind, score in ((InterimGesture, "confidence"), (Gesture, "confidence"),
                        (Caption, "log_prob")):
        assert [getattr(e, score) for e in a if isinstance(e, kind)] == pytest.approx(
            [getattr(e, score) for e in b if isinstance(e, kind)], abs=1e-3)


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    return cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


# -- results -------------------------------------------------------------------------------
def test_model_info(client, pipeline):
    info = client.model_info()
    assert isinstance(info, ModelInfo)
    assert (info.bundle_name, info.backbone, info.input_size, info.frame_rate) == (
        pipeline.manifest.name, "tiny_cnn", 64, 10.0)
    assert info.gesture_labels == tuple(pipeline.labels)
    assert info.tasks == ("captions", "gestures") and info.gesture_input == "images"
    assert info.vocabulary_size == len(pipeline.vocabulary) and info.runtime == "tf"
    assert info.caption_segment_frames == 16 and info.max_streams == 64
    assert info.max_message_bytes == info.max_clip_bytes == 32 * 1024 * 1024
    assert info.max_frames_per_message == 64


def test_annotate_clip_with_frames(client, frames):
    result = client.annotate_clip(frames)
    assert isinstance(result, ClipResult) and result.frames_used == len(frames) == 30
    assert result.duration == pytest.approx(frames[-1][0] - frames[0][0] + 0.1, abs=1e-3)
    assert result.captions and all(isinstance(c, Caption) for c in result.captions)
    assert [c.start for c in result.captions] == [0.0, 1.6]  # 16-frame segments
    assert all(c.text and c.log_prob <= 0 for c in result.captions)
    assert result.gestures and all(isinstance(g, Gesture) and 0 <= g.confidence <= 1
                                   and g.start < g.end for g in result.gestures)
    only = client.annotate_clip(frames, config=StreamConfig(tasks=("gestures",)))
    assert only.captions == () and finals(only.gestures) == finals(result.gestures)


def test_annotate_clip_with_a_video_file(client):
    by_path = client.annotate_clip(video_file=sample_video())
    assert by_path.frames_used == 100 and by_path.duration == pytest.approx(10.0, abs=0.05)
    assert by_path.captions[0].start == 0 and by_path.captions[-1].end == by_path.duration
    assert_same(client.annotate_clip(video_file=sample_video().read_bytes()), by_path)
    assert_same(client.annotate_clip(video_file=str(sample_video())), by_path)


def test_stream_yields_the_same_final_events_as_annotate_clip(client, frames):
    events = list(client.stream(frames))
    assert events and all(isinstance(e, Caption | Gesture) for e in events)
    clip = client.annotate_clip(frames)
    gestures = [e for e in events if isinstance(e, Gesture)]
    assert gestures and finals(gestures) == finals(clip.gestures)
    assert [g.confidence for g in gestures] == pytest.approx([g.confidence
                                                              for g in clip.gestures], abs=1e-3)
    # A streamed caption ends at its last frame + one period (the next frame is not there yet).
    captions = [e for e in events if isinstance(e, Caption)]
    assert [(c.start, c.text) for c in captions] == [(c.start, c.text) for c in clip.captions]


def test_interim_events_when_asked(client, frames, pipeline):
    events = list(client.stream(frames, StreamConfig(tasks=("gestures",), interim=True)))
    interim = [e for e in events if isinstance(e, InterimGesture)]
    assert [round(i.timestamp * 1000) for i in interim] == [round(t * 1000) for t, _ in frames]
    assert {i.label for i in interim} <= {None, *pipeline.labels}
    assert None in {i.label for i in interim} and all(0 <= i.confidence <= 1 for i in interim)
    assert not any(isinstance(e, Caption) for e in events)
    assert finals(events) == finals(client.stream(frames, StreamConfig(tasks=("gestures",))))


def test_frame_lists_give_the_same_events_as_single_frames(server, client, frames):
    clip = frames[:29]  # 3 lists of 8 and a short one of 5
    config = StreamConfig(interim=True)
    responses = server.stub().StreamAnnotate(stream_requests(clip, config, 90, 8))
    assert [r.WhichOneof("event") for r in responses].count("interim_gestures") == 4
    single = list(client.stream(clip, config))
    assert len(interims(single)) == len(clip) and finals(single)
    assert [e.start for e in single if isinstance(e, Caption)] == [0.0, 1.6]
    for size in (8, 29, 64):
        assert_same_events(list(client.stream(clip, config, frames_per_message=size)), single)
    assert_same_events(list(client.stream(iter(clip), config, frames_per_message=8)), single)


def test_frame_lists_on_the_wire():
    clip = [(i / 10, np.zeros((8, 8, 3), np.uint8)) for i in range(29)]

    def shape(requests) -> list:
        return [r.WhichOneof("request") if r.WhichOneof("request") != "frames"
                else [f.timestamp_ms for f in r.frames.frames] for r in requests]

    async def async_frames():
        for item in clip:
            yield item

    async def collect(frames, size) -> list:
        return [r async for r in async_stream_requests(frames, StreamConfig(), 90, size)]

    lists = ["config", *([t * 100 for t in range(s, min(s + 8, 29))] for s in range(0, 29, 8))]
    assert [len(x) for x in lists[1:]] == [8, 8, 8, 5]
    assert shape(stream_requests(clip, StreamConfig(), 90, 8)) == lists
    assert shape(asyncio.run(collect(clip, 8))) == lists
    assert shape(asyncio.run(collect(async_frames(), 8))) == lists
    singles = ["config", *["frame"] * 29]
    assert shape(stream_requests(clip, StreamConfig(), 90)) == singles
    assert shape(asyncio.run(collect(clip, 1))) == singles
    bad = [*clip[:10], (1.0, "oops")]
    with pytest.raises(ValueError, match="frame 10: "):
        list(stream_requests(bad, StreamConfig(), 90, 8))
    with pytest.raises(ValueError, match="frame 10: "):
        asyncio.run(collect(bad, 8))


def test_frames_per_message_is_checked_before_any_call(server):
    with Client(f"127.0.0.1:{closed_port()}", retries=0) as offline:  # a call would fail
        for bad in (0, MAX_FRAMES_PER_MESSAGE + 1, -1, 2.0, True, None):
            with pytest.raises(ValueError, match="frames_per_message must be an int 1-256"):
                offline.stream([], frames_per_message=bad)

    async def main():
        async with AsyncClient(f"127.0.0.1:{closed_port()}", retries=0) as aoffline:
            for bad in (0, MAX_FRAMES_PER_MESSAGE + 1):
                with pytest.raises(ValueError, match="frames_per_message"):
                    aoffline.stream([], frames_per_message=bad)

    asyncio.run(main())


def test_a_list_over_the_servers_limit_is_invalid_argument(client, frames):
    limit = client.model_info().max_frames_per_message
    with pytest.raises(FramescribeError) as error:
        list(client.stream(frames * 3, frames_per_message=limit + 1))
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_results_arrive_while_frames_are_still_sent(client, frames):
    sent = []

    def slow_frames():
        for frame in frames:
            sent.append(frame[0])
            time.sleep(0.01)
            yield frame

    events = client.stream(slow_frames(), StreamConfig(tasks=("gestures",), interim=True))
    first = next(events)
    assert isinstance(first, InterimGesture) and len(sent) < len(frames)
    events.close()  # stops the stream early


def test_numpy_frames_equal_pre_encoded_bytes(client, frames):
    from_arrays = client.annotate_clip(frames)
    assert_same(client.annotate_clip([(t, jpeg(image)) for t, image in frames]), from_arrays)
    png = [(t, cv2.imencode(".png", image[..., ::-1])[1].tobytes()) for t, image in frames]
    assert client.annotate_clip(png).frames_used == len(frames)
    grey = [(t, cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)) for t, image in frames]
    assert client.annotate_clip(grey).frames_used == len(frames)
    with Client(client.target, jpeg_quality=30) as rough:  # smaller frames, other results
        assert rough.annotate_clip(frames).frames_used == len(frames)


# -- asyncio -------------------------------------------------------------------------------
def test_async_client_gives_the_same_results(server, client, frames):
    async def async_frames():
        for frame in frames:
            await asyncio.sleep(0)
            yield frame

    async def main():
        async with AsyncClient(server.address) as aclient:
            info = await aclient.model_info()
            clip = await aclient.annotate_clip(frames)
            clip_async = await aclient.annotate_clip(async_frames())
            video = await aclient.annotate_clip(video_file=sample_video())
            from_async = [e async for e in aclient.stream(async_frames(), StreamConfig(
                interim=True))]
            from_sync = [e async for e in aclient.stream(frames)]
            lists = []
            for source in (frames[:29], async_frames()):
                lists.append([e async for e in aclient.stream(
                    source, StreamConfig(interim=True), frames_per_message=8)])
        return info, clip, clip_async, video, from_async, from_sync, lists

    info, clip, clip_async, video, from_async, from_sync, lists = asyncio.run(main())
    assert info == client.model_info()
    assert_same(clip, clip_async)
    assert_same(clip, client.annotate_clip(frames))
    assert video.frames_used == 100
    assert sum(isinstance(e, InterimGesture) for e in from_async) == len(frames)
    assert finals(from_async) == finals(from_sync) == finals(client.stream(frames))
    interim = StreamConfig(interim=True)
    assert_same_events(lists[0], list(client.stream(frames[:29], interim)))
    assert_same_events(lists[1], from_async)


# -- errors --------------------------------------------------------------------------------
def test_server_down_is_unavailable_after_the_retries():
    target = f"127.0.0.1:{closed_port()}"
    with Client(target, retries=2, retry_delay=0.001, max_retry_delay=0.002) as down:
        with pytest.raises(FramescribeError) as error:
            down.model_info()
        assert error.value.code == grpc.StatusCode.UNAVAILABLE
        assert str(error.value).startswith(f"UNAVAILABLE: {target} is unavailable after 3 "
                                           "attempts: ")
        assert "\n" not in str(error.value)
        with pytest.raises(FramescribeError, match="UNAVAILABLE") as error:
            list(down.stream([(0.0, np.zeros((8, 8, 3), np.uint8))]))
        assert target in error.value.details

    async def main():
        async with AsyncClient(target, retries=1, retry_delay=0.001) as adown:
            await adown.model_info()

    with pytest.raises(FramescribeError, match="after 2 attempts") as error:
        asyncio.run(main())
    assert error.value.code == grpc.StatusCode.UNAVAILABLE


def test_wrong_token_is_unauthenticated(tmp_path, pipeline, frames):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    running = ServerThread(ServerOptions(bundle=str(DEMO), token_file=str(token_file),
                                         allow_plaintext_token=True), pipeline)
    try:
        for token in (None, "wrong"):
            with Client(running.address, token=token) as wrong:
                for call in (wrong.model_info, lambda: wrong.annotate_clip(frames[:2]),
                             lambda: list(wrong.stream(frames[:2]))):
                    with pytest.raises(FramescribeError) as error:
                        call()
                    assert error.value.code == grpc.StatusCode.UNAUTHENTICATED
                    assert TOKEN not in str(error.value)
        with Client(running.address, token=TOKEN) as right:
            assert right.model_info().bundle_name == "demo"
            assert finals(right.stream(frames))
    finally:
        running.stop()


def test_tls_with_a_root_certificate_file(tmp_path, pipeline):
    cert, key = self_signed_certificate(tmp_path)
    running = ServerThread(ServerOptions(bundle=str(DEMO), tls_cert=str(cert),
                                         tls_key=str(key)), pipeline)
    target = f"localhost:{running.running.port}"
    try:
        with Client(target, tls=cert) as secure:
            assert secure.model_info().bundle_name == "demo"
        with Client(target, retries=0) as plaintext, pytest.raises(FramescribeError) as error:
            plaintext.model_info()
        assert error.value.code == grpc.StatusCode.UNAVAILABLE
    finally:
        running.stop()


def test_a_bad_frame_is_invalid_argument(client, frames):
    corrupt = b"\xff\xd8\xff" + b"not really a jpeg" * 10
    with pytest.raises(FramescribeError) as error:
        client.annotate_clip([frames[0], (0.1, corrupt)])
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert str(error.value).startswith("INVALID_ARGUMENT: frame 1")
    backwards = [(1.0, frames[0][1]), (0.5, frames[1][1])]
    with pytest.raises(FramescribeError, match="strictly increase") as error:
        list(client.stream(backwards))
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("item, problem", [
    ((0.1, "a string"), "must be a uint8 numpy array or JPEG/PNG bytes, got str"),
    ((0.1, b"GIF89a\x01\x00"), "neither JPEG nor PNG"),
    ((0.1, np.zeros((4, 4, 3), np.float32)), "must be uint8, got float32"),
    ((0.1, np.zeros((4, 4, 4), np.uint8)), "got shape (4, 4, 4)"),
    ((float("nan"), np.zeros((4, 4, 3), np.uint8)), "finite number of seconds"),
    (np.zeros((4, 4, 3), np.uint8), "expected a (timestamp_seconds, image) pair"),
])
def test_a_bad_image_is_a_value_error_before_sending(item, problem):
    good = (0.0, np.zeros((4, 4, 3), np.uint8))
    with Client(f"127.0.0.1:{closed_port()}", retries=0) as offline:  # sending would fail
        with pytest.raises(ValueError, match="frame 1: ") as error:
            offline.annotate_clip([good, item])
        assert problem in str(error.value)


def test_a_bad_image_stops_a_running_stream(server, client, frames):
    bad = [*frames[:3], (0.3, "oops"), *frames[4:]]
    with pytest.raises(ValueError, match="frame 3: .* got str"):
        list(client.stream(bad))

    async def main():
        async with AsyncClient(server.address) as aclient:
            return [e async for e in aclient.stream(bad)]

    with pytest.raises(ValueError, match="frame 3: .* got str"):
        asyncio.run(main())


def test_stream_config_is_checked():
    assert StreamConfig(tasks=["gestures", "gestures"]).tasks == ("gestures",)
    for bad in ({"tasks": ()}, {"tasks": ("speech",)}, {"segment_frames": 1},
                {"beam_size": 17}, {"min_confidence": 1.5}):
        with pytest.raises(ValueError):
            StreamConfig(**bad)
    with pytest.raises(ValueError, match="exactly one"):
        Client("127.0.0.1:1").annotate_clip()
    with pytest.raises(ValueError, match="jpeg_quality"):
        Client("127.0.0.1:1", jpeg_quality=0)


def test_context_managers_close_channels(server):
    with Client(server.address) as sync_client:
        assert sync_client.model_info().bundle_name == "demo"
    assert sync_client.closed
    with pytest.raises(ValueError, match="closed"):
        sync_client.model_info()

    async def main():
        async with AsyncClient(server.address) as aclient:
            assert (await aclient.model_info()).bundle_name == "demo"
        assert aclient.closed
        with pytest.raises(ValueError, match="closed"):
            await aclient.model_info()
        with pytest.raises(ValueError, match="closed"):
            aclient.stream([])

    asyncio.run(main())


def test_leaving_a_stream_early_cancels_it(server, client, frames):
    events = client.stream(iter(frames), StreamConfig(interim=True))
    next(events)
    events.close()
    deadline = time.monotonic() + 10
    while server.on_loop(lambda: server.running.servicer.streams.active) and (
            time.monotonic() < deadline):
        time.sleep(0.05)
    assert server.on_loop(lambda: server.running.servicer.streams.active) == 0
