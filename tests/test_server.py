"""The gRPC server end to end: real server on loopback, real channels, the demo bundle."""

from __future__ import annotations

import itertools
import threading
import time

import cv2
import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2
from server_helpers import (
    DEMO,
    ServerThread,
    decoded_jpegs,
    health_status,
    jpeg_frames,
    list_requests,
    stream_requests,
)

from framescribe.models.data.lasa_airwriting import ContinuousStreams
from framescribe.models.data.moving_digits import MovingDigits
from framescribe.models.inference.pipeline import Pipeline, PipelineOptions
from framescribe.server.server_options import ServerOptions
from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline.from_bundle(DEMO)


@pytest.fixture(scope="module")
def server(pipeline):
    running = ServerThread(ServerOptions(bundle=str(DEMO), max_streams=64), pipeline)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def gesture_stream():
    """A continuous LASA test stream (several gestures) as JPEG frames at 10 fps."""
    return jpeg_frames(ContinuousStreams("test", count=1, seed=1234)[0].frames)


def events_of(responses):
    out = {"interim": [], "gesture": [], "caption": []}
    for response in responses:
        kind = response.WhichOneof("event")
        key = "interim" if kind == "interim_gesture" else kind
        out[key].append(getattr(response, kind))
    return out


def in_process(pipeline, frames, tasks=("captions", "gestures")):
    images = decoded_jpegs(frames)
    return pipeline.annotate([(f.timestamp_ms / 1000, image) for f, image in zip(
        frames, images, strict=True)], PipelineOptions(tasks=tasks))


def ms(seconds: float) -> int:
    return int(round(seconds * 1000))


# -- every RPC -----------------------------------------------------------------------------
def test_model_info(server, pipeline):
    info = server.stub().GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
    assert info.bundle_name == pipeline.manifest.name
    assert info.runtime == "tf" and info.backbone == "tiny_cnn" and info.input_size == 64
    assert info.frame_rate == 10.0 and list(info.gesture_labels) == list(pipeline.labels)
    assert info.vocabulary_size == len(pipeline.vocabulary)
    assert list(info.tasks) == [pb.TASK_CAPTIONS, pb.TASK_GESTURES]
    assert info.gesture_input == pb.GESTURE_INPUT_IMAGES
    assert info.max_streams == 64 and info.max_message_bytes >= 2 * 1024 * 1024


def test_annotate_clip_matches_the_in_process_pipeline(server, pipeline, gesture_stream):
    response = server.stub().AnnotateClip(
        pb.AnnotateClipRequest(frames=pb.FrameList(frames=gesture_stream)), timeout=60)
    expected = in_process(pipeline, gesture_stream)
    assert response.frames_used == expected.frames
    assert [(g.label, g.start_ms, g.end_ms) for g in response.gestures] == [
        (g.label, ms(g.start), ms(g.end)) for g in expected.gestures]
    assert [c.text for c in response.captions] == [c.text for c in expected.captions]
    assert len(response.gestures) >= 3


def test_annotate_clip_from_video_file_bytes(server, tmp_path):
    import cv2

    clip = MovingDigits("test")[0]
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 64))
    for frame in clip.frames:
        writer.write(frame[..., ::-1])
    writer.release()
    response = server.stub().AnnotateClip(pb.AnnotateClipRequest(
        video_file=path.read_bytes(), tasks=[pb.TASK_CAPTIONS]), timeout=60)
    assert response.frames_used == 16 and response.duration_ms == 1600
    assert len(response.captions) == 1 and not response.gestures
    assert response.captions[0].text in clip.references


def test_stream_sends_interim_and_final_events_matching_the_pipeline(server, pipeline,
                                                                     gesture_stream):
    config = pb.StreamConfig(tasks=[pb.TASK_GESTURES],
                             gesture_options=pb.GestureOptions(interim_results=True))
    events = events_of(server.stub().StreamAnnotate(stream_requests(config, gesture_stream),
                                                     timeout=60))
    expected = in_process(pipeline, gesture_stream, tasks=("gestures",))
    assert [(g.label, g.start_ms, g.end_ms) for g in events["gesture"]] == [
        (g.label, ms(g.start), ms(g.end)) for g in expected.gestures]
    assert len(events["interim"]) == len(gesture_stream)  # one per sampled frame
    assert [i.timestamp_ms for i in events["interim"]] == [f.timestamp_ms
                                                           for f in gesture_stream]
    # Interim labels inside each final event mostly agree with it.
    for event in events["gesture"]:
        inside = [i.label for i in events["interim"]
                  if event.start_ms <= i.timestamp_ms < event.end_ms]
        assert inside.count(event.label) >= len(inside) // 2
    assert not events["caption"]


def test_stream_results_arrive_before_the_stream_ends(server, gesture_stream):
    """The first final gesture event is received while frames are still being sent."""
    sent = []

    def requests():
        yield pb.StreamAnnotateRequest(config=pb.StreamConfig(tasks=[pb.TASK_GESTURES]))
        for frame in gesture_stream:
            sent.append(frame.timestamp_ms)
            time.sleep(0.005)
            yield pb.StreamAnnotateRequest(frame=frame)

    responses = server.stub().StreamAnnotate(requests(), timeout=60)
    first = next(responses)
    assert first.WhichOneof("event") == "gesture"
    assert len(sent) < len(gesture_stream), "the first event only arrived at the end"
    assert sent[-1] >= first.gesture.end_ms
    responses.cancel()


def test_stream_captions_one_per_segment(server, pipeline):
    clips = [MovingDigits("test")[i] for i in range(3)]
    frames = jpeg_frames(np.concatenate([c.frames for c in clips]))
    config = pb.StreamConfig(tasks=[pb.TASK_CAPTIONS],
                             caption_options=pb.CaptionOptions(segment_frames=16, beam_size=3))
    captions = events_of(server.stub().StreamAnnotate(stream_requests(config, frames),
                                                       timeout=60))["caption"]
    expected = in_process(pipeline, frames, tasks=("captions",))
    assert [(c.start_ms, c.end_ms, c.text) for c in captions] == [
        (ms(c.start), ms(c.end), c.text) for c in expected.captions]
    assert [c.text in clip.references for c, clip in zip(captions, clips, strict=True)].count(
        True) >= 2


def test_many_concurrent_streams_each_get_their_own_results(server, pipeline, gesture_stream):
    streams = 12
    results: dict[int, list] = {}

    def run(i: int) -> None:
        frames = gesture_stream[i * 3:]  # each stream starts at a different frame
        rebased = [pb.Frame(timestamp_ms=f.timestamp_ms - frames[0].timestamp_ms,
                            image=f.image) for f in frames]
        responses = server.stub().StreamAnnotate(
            stream_requests(pb.StreamConfig(tasks=[pb.TASK_GESTURES]), rebased), timeout=120)
        results[i] = [(g.label, g.start_ms, g.end_ms) for g in events_of(responses)["gesture"]]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    for i in range(streams):
        frames = gesture_stream[i * 3:]
        expected = in_process(pipeline, [pb.Frame(
            timestamp_ms=f.timestamp_ms - frames[0].timestamp_ms, image=f.image)
            for f in frames], tasks=("gestures",))
        assert results[i] == [(g.label, ms(g.start), ms(g.end)) for g in expected.gestures]
    wait_until_no_streams(server)


def test_frame_lists_give_the_same_results_as_single_frames(server, gesture_stream):
    """Frames sent 7 to a message: the same interim labels, gesture events and captions as one
    frame per message; the interim labels of each list come back as one InterimGestureList."""
    config = pb.StreamConfig(gesture_options=pb.GestureOptions(interim_results=True),
                             caption_options=pb.CaptionOptions(segment_frames=16))
    frames = gesture_stream[:100]
    single = list(server.stub().StreamAnnotate(stream_requests(config, frames), timeout=60))
    listed = list(server.stub().StreamAnnotate(list_requests(config, frames, 7), timeout=60))
    lists = [r.interim_gestures for r in listed if r.WhichOneof("event") == "interim_gestures"]
    assert [len(labels.labels) for labels in lists] == [7] * 14 + [2]
    assert not [r for r in listed if r.WhichOneof("event") == "interim_gesture"]
    flattened = [pb.StreamAnnotateResponse(interim_gesture=label)
                 for labels in lists for label in labels.labels]
    other = [r for r in listed if r.WhichOneof("event") != "interim_gestures"]
    expected, got = events_of(single), events_of(flattened + other)

    def exact(events, *fields):  # batch shapes differ, so confidences may differ in float bits
        return [tuple(getattr(e, f) for f in fields) for e in events]

    def close(a, b):
        return np.allclose([e.confidence for e in a], [e.confidence for e in b], atol=1e-5)

    assert len(got["interim"]) == 100 and close(got["interim"], expected["interim"])
    assert exact(got["interim"], "timestamp_ms", "label") == exact(expected["interim"],
                                                                   "timestamp_ms", "label")
    assert got["gesture"] and close(got["gesture"], expected["gesture"])
    assert exact(got["gesture"], "label", "start_ms", "end_ms") == exact(
        expected["gesture"], "label", "start_ms", "end_ms")
    assert len(got["caption"]) == 6 and exact(got["caption"], "start_ms", "end_ms", "text") \
        == exact(expected["caption"], "start_ms", "end_ms", "text")


def test_frame_list_limits_and_order_are_checked(server):
    config = pb.StreamConfig(tasks=[pb.TASK_GESTURES])
    limit = server.stub().GetModelInfo(pb.GetModelInfoRequest(), timeout=10
                                       ).max_frames_per_message
    assert limit == 64
    too_many = [image_frame(GOOD, 100 * i) for i in range(limit + 1)]
    cases = {
        "FrameList in a stream carries 1-64 frames (max_frames_per_message), got 65":
            list_requests(config, too_many, limit + 1),
        "FrameList in a stream carries 1-64 frames (max_frames_per_message), got 0":
            [pb.StreamAnnotateRequest(config=config),
             pb.StreamAnnotateRequest(frames=pb.FrameList())],
        "frame 2: timestamp_ms 100 is not after the previous frame's 200":
            list_requests(config, [image_frame(GOOD, t) for t in (0, 200, 100)], 3),
        "frame 3: timestamp_ms 200 is not after the previous frame's 200":
            list_requests(config, [image_frame(GOOD, t) for t in (0, 100, 200, 200)], 2),
        "message 3: only the first message may be a StreamConfig":
            [pb.StreamAnnotateRequest(config=config),
             pb.StreamAnnotateRequest(frame=image_frame(GOOD, 0)),
             pb.StreamAnnotateRequest(config=config)],
        "frame 1: declared JPEG but the data does not start with the JPEG signature":
            list_requests(config, [image_frame(GOOD, 0), image_frame(pb.Image(
                format=pb.IMAGE_FORMAT_JPEG, data=b"not a jpeg"), 100)], 2),
    }
    for message, requests in cases.items():
        error = stream_error(server, requests)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert message in error.details()
    assert health_status(server.channel()) == SERVING
    wait_until_no_streams(server)


# -- bad input -----------------------------------------------------------------------------
def image_frame(image: pb.Image, t: int = 0) -> pb.Frame:
    return pb.Frame(timestamp_ms=t, image=image)


GOOD = jpeg_frames(np.zeros((1, 48, 64, 3), np.uint8))[0].image


def huge_png_header() -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)))


BAD_CLIPS = {
    "truncated jpeg": pb.FrameList(frames=[image_frame(pb.Image(
        format=pb.IMAGE_FORMAT_JPEG, data=GOOD.data[: len(GOOD.data) // 2]))]),
    "zero-byte image": pb.FrameList(frames=[image_frame(pb.Image(format=pb.IMAGE_FORMAT_PNG))]),
    "huge image": pb.FrameList(frames=[image_frame(pb.Image(format=pb.IMAGE_FORMAT_PNG,
                                                             data=huge_png_header()))]),
    "wrong raw size": pb.FrameList(frames=[image_frame(pb.Image(
        format=pb.IMAGE_FORMAT_RGB24, width=4, height=4, data=b"\x00" * 47))]),
    "decreasing timestamps": pb.FrameList(frames=[image_frame(GOOD, 200),
                                                  image_frame(GOOD, 100)]),
    "no frames": pb.FrameList(),
    "landmarks to an image bundle": pb.FrameList(frames=[pb.Frame(
        timestamp_ms=0, landmarks=pb.Landmarks(values=[0.0] * 1629))]),
}


@pytest.mark.parametrize("problem", list(BAD_CLIPS))
def test_bad_clip_is_invalid_argument_and_the_server_stays_healthy(server, problem):
    with pytest.raises(grpc.RpcError) as error:
        server.stub().AnnotateClip(pb.AnnotateClipRequest(frames=BAD_CLIPS[problem]),
                                   timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    assert "Traceback" not in error.value.details()
    assert health_status(server.channel()) == SERVING


def test_bad_option_values_are_invalid_argument(server):
    request = pb.AnnotateClipRequest(frames=pb.FrameList(frames=[image_frame(GOOD)]),
                                     caption_options=pb.CaptionOptions(beam_size=99))
    with pytest.raises(grpc.RpcError) as error:
        server.stub().AnnotateClip(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "beam_size must be 0 (default) or 1-16, got 99" in error.value.details()


def stream_error(server, requests) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        list(server.stub().StreamAnnotate(iter(requests), timeout=30))
    return error.value


def test_stream_without_config_first(server):
    error = stream_error(server, [pb.StreamAnnotateRequest(frame=image_frame(GOOD))])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "first message of a stream must be a StreamConfig" in error.details()


def test_stream_timestamps_must_increase(server):
    config = pb.StreamConfig(tasks=[pb.TASK_GESTURES])
    error = stream_error(server, stream_requests(config, [image_frame(GOOD, 100),
                                                          image_frame(GOOD, 100)]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "frame 1: timestamp_ms 100 is not after the previous frame's 100" in error.details()


def test_stream_with_a_bad_frame_ends_only_that_stream(server, gesture_stream):
    config = pb.StreamConfig(tasks=[pb.TASK_GESTURES])
    bad = image_frame(pb.Image(format=pb.IMAGE_FORMAT_JPEG, data=b"not a jpeg"), 10_000_000)
    error = stream_error(server, stream_requests(config, [*gesture_stream[:20], bad]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "frame 20" in error.details()
    good = events_of(server.stub().StreamAnnotate(stream_requests(config, gesture_stream),
                                                  timeout=60))
    assert good["gesture"]
    wait_until_no_streams(server)


def test_unsupported_task_is_failed_precondition(pipeline):
    from dataclasses import replace

    captions_only = Pipeline(replace(pipeline.manifest, gesture_classifier=None),
                             pipeline.runtime, pipeline.vocabulary, None)
    running = ServerThread(ServerOptions(bundle=str(DEMO)), captions_only)
    try:
        with pytest.raises(grpc.RpcError) as error:
            running.stub().AnnotateClip(pb.AnnotateClipRequest(
                tasks=[pb.TASK_GESTURES], frames=pb.FrameList(frames=[image_frame(GOOD)])),
                timeout=30)
        assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "has no gestures model" in error.value.details()
    finally:
        running.stop()


# -- limits --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tight_server(pipeline):
    running = ServerThread(ServerOptions(
        bundle=str(DEMO), max_streams=1, max_message_bytes=1024 * 1024,
        max_clip_bytes=1024 * 1024, max_frames_per_clip=8, idle_timeout_s=1.0), pipeline)
    yield running
    running.stop()


def test_too_many_streams_is_resource_exhausted(tight_server, gesture_stream):
    config = pb.StreamConfig(tasks=[pb.TASK_GESTURES])
    release = threading.Event()

    def slow():
        yield pb.StreamAnnotateRequest(config=config)
        release.wait(10)

    first = tight_server.stub().StreamAnnotate(slow(), timeout=30)
    deadline = time.time() + 10
    while tight_server.on_loop(lambda: tight_server.running.servicer.streams.active) < 1:
        assert time.time() < deadline
        time.sleep(0.02)
    error = stream_error(tight_server, stream_requests(config, gesture_stream[:3]))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "at most 1 at once" in error.details()
    release.set()
    list(first)
    assert health_status(tight_server.channel()) == SERVING


def test_oversize_message_is_resource_exhausted(tight_server):
    big = pb.Image(format=pb.IMAGE_FORMAT_RGB24, width=1024, height=1024,
                   data=b"\x00" * (1024 * 1024 * 3))
    channel = tight_server.channel(**{"grpc.max_send_message_length": 64 * 1024 * 1024})
    with pytest.raises(grpc.RpcError) as error:
        pb_grpc.FrameScribeServiceStub(channel).AnnotateClip(pb.AnnotateClipRequest(
            frames=pb.FrameList(frames=[image_frame(big)])), timeout=30)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert health_status(tight_server.channel()) == SERVING


def test_too_many_frames_per_clip_is_resource_exhausted(tight_server):
    frames = [image_frame(GOOD, 100 * i) for i in range(9)]
    with pytest.raises(grpc.RpcError) as error:
        tight_server.stub().AnnotateClip(pb.AnnotateClipRequest(
            frames=pb.FrameList(frames=frames)), timeout=30)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "the limit is 8" in error.value.details()


def test_idle_stream_is_closed_after_the_timeout(tight_server):
    release = threading.Event()

    def idle():
        yield pb.StreamAnnotateRequest(config=pb.StreamConfig(tasks=[pb.TASK_GESTURES]))
        release.wait(20)

    started = time.time()
    with pytest.raises(grpc.RpcError) as error:
        list(tight_server.stub().StreamAnnotate(idle(), timeout=30))
    release.set()
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "idle streams are closed" in error.value.details()
    assert time.time() - started < 10
    wait_until_no_streams(tight_server)  # the server's clean-up may finish just after the status


def test_client_deadline_is_honoured(server, gesture_stream):
    def slow():
        yield pb.StreamAnnotateRequest(config=pb.StreamConfig(tasks=[pb.TASK_GESTURES]))
        for frame in gesture_stream:
            time.sleep(0.05)
            yield pb.StreamAnnotateRequest(frame=frame)

    with pytest.raises(grpc.RpcError) as error:
        list(server.stub().StreamAnnotate(slow(), timeout=0.5))
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_until_no_streams(server)


def wait_until_no_streams(server, seconds: float = 10) -> None:
    """Until no stream holds a slot and no batcher holds a queued item (a cancelled stream's
    items leave the queues when the batcher next runs: on a loaded machine, a moment after
    the slot is freed); fails after `seconds`."""
    deadline = time.time() + seconds

    def held() -> tuple[int, list[int]]:
        return (server.running.servicer.streams.active,
                [b.queued for b in server.running.model.batchers])

    while (state := server.on_loop(held)) != (0, [0] * len(server.running.model.batchers)):
        assert time.time() < deadline, f"stream state was not freed: (streams, queued) {state}"
        time.sleep(0.02)


def test_cancel_mid_stream_frees_its_state(server, gesture_stream):
    config = pb.StreamConfig(tasks=[pb.TASK_CAPTIONS, pb.TASK_GESTURES])
    call = server.stub().StreamAnnotate(stream_requests(config, gesture_stream, pause_s=0.01),
                                        timeout=60)
    for _ in call:
        break  # first result arrived: the stream is mid-way
    call.cancel()
    wait_until_no_streams(server)
    assert health_status(server.channel()) == SERVING


def test_client_disconnect_mid_stream_frees_its_state(server, gesture_stream):
    channel = server.channel()

    call = pb_grpc.FrameScribeServiceStub(channel).StreamAnnotate(
        stream_requests(pb.StreamConfig(), gesture_stream, pause_s=0.01), timeout=60)
    next(iter(call))
    channel.close()  # the client goes away without cancelling
    wait_until_no_streams(server)


# -- shutdown ------------------------------------------------------------------------------
def test_graceful_shutdown_drains_in_flight_streams(pipeline, gesture_stream):
    running = ServerThread(ServerOptions(bundle=str(DEMO), grace_period_s=20), pipeline)
    config = pb.StreamConfig(tasks=[pb.TASK_GESTURES])
    results = {}

    def stream():
        responses = running.stub().StreamAnnotate(
            stream_requests(config, gesture_stream, pause_s=0.005), timeout=60)
        results["events"] = events_of(responses)["gesture"]

    thread = threading.Thread(target=stream)
    thread.start()
    time.sleep(0.3)
    stopping = threading.Thread(target=running.stop, kwargs={"grace": 20})
    stopping.start()
    time.sleep(0.2)
    with pytest.raises(grpc.RpcError) as error:  # no new calls while draining
        running.stub().GetModelInfo(pb.GetModelInfoRequest(), timeout=5)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    thread.join(60)
    stopping.join(60)
    assert len(results["events"]) >= 3, "the in-flight stream was cut short"


# -- landmark bundles ----------------------------------------------------------------------
def test_landmark_bundle_streams_client_landmarks(tmp_path):
    """A bundle trained on ISLR-style landmarks takes Frame.landmarks and answers like the
    in-process pipeline."""
    from fixtures.dataset_fixtures import write_islr_fixture

    from framescribe.models.bundle.bundle_manifest import BundleManifest
    from framescribe.models.bundle.bundle_writer import save_bundle
    from framescribe.models.data.islr_dataset import load_islr
    from framescribe.models.data.islr_landmarks import read_landmarks
    from framescribe.models.data.package_media import opencv_doc_file
    from framescribe.models.inference.events import InterimGesture
    from framescribe.models.inference.landmark_features import LANDMARK_FEATURE_DIM
    from framescribe.models.inference.pipeline import PipelineOptions
    from framescribe.models.networks.gesture_classifier import GestureClassifier
    from framescribe.models.video import read_video

    labels = ("a", "b", "c")
    bundle = tmp_path / "signs"
    save_bundle(bundle, BundleManifest(name="signs", version="1", frame_rate=30.0,
                                       caption_segment_frames=16, encoder=None,
                                       gesture_input="landmarks"),
                gesture_classifier=GestureClassifier(len(labels), LANDMARK_FEATURE_DIM,
                                                     units=16),
                labels=labels)
    clip = load_islr(write_islr_fixture(tmp_path / "islr")).clips[0]
    landmarks = read_landmarks(clip.path)
    pipeline = Pipeline.from_bundle(bundle)
    running = ServerThread(ServerOptions(bundle=str(bundle)), pipeline)
    try:
        stub = running.stub()
        info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
        assert info.gesture_input == pb.GESTURE_INPUT_LANDMARKS and info.backbone == "none"
        frames = [pb.Frame(timestamp_ms=round(i * 1000 / 30), landmarks=pb.Landmarks(
            values=frame.reshape(-1).tolist())) for i, frame in enumerate(landmarks)]
        config = pb.StreamConfig(gesture_options=pb.GestureOptions(interim_results=True))
        events = events_of(stub.StreamAnnotate(stream_requests(config, frames), timeout=60))
        assert len(events["interim"]) == len(frames)
        expected = pipeline.annotate_landmarks(landmarks, [f.timestamp_ms / 1000
                                                           for f in frames])
        assert [(g.label, g.start_ms, g.end_ms) for g in events["gesture"]] == [
            (g.label, ms(g.start), ms(g.end)) for g in expected.gestures]
        assert info.landmark_kind == "holistic"
        # Images (lossless, as a client sends them): the server runs the bundle's
        # landmarker on them and answers as the in-process pipeline does on the same frames.
        video = list(itertools.islice(read_video(str(opencv_doc_file(
            "examples/data/Megamind.avi"))), 24))
        frames = [pb.Frame(timestamp_ms=round(f.timestamp * 1000), image=pb.Image(
            format=pb.IMAGE_FORMAT_PNG, data=cv2.imencode(".png", cv2.cvtColor(
                f.image, cv2.COLOR_RGB2BGR))[1].tobytes())) for f in video]
        events = events_of(stub.StreamAnnotate(stream_requests(config, frames), timeout=120))
        assert len(events["interim"]) == len(frames)
        expected = pipeline.annotate(video)
        assert [(g.label, g.start_ms, g.end_ms) for g in events["gesture"]] == [
            (g.label, ms(g.start), ms(g.end)) for g in expected.gestures]
        session = pipeline.stream(PipelineOptions(interim=True))
        interims = [e for e in session.push(video) if isinstance(e, InterimGesture)]
        assert [(ms(i.timestamp), i.label or "", round(i.confidence, 4)) for i in interims] == [
            (i.timestamp_ms, i.label, round(i.confidence, 4)) for i in events["interim"]]
    finally:
        running.stop()
