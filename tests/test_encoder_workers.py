"""Encoder worker processes (LiteRT): the pool on its own, and a real litert server using them,
checked against the same server encoding in its own process (--encoder-processes 0)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2
from server_helpers import (
    DEMO,
    ServeProcess,
    child_pids,
    health_status,
    jpeg_frames,
    list_requests,
)

from framescribe.models.data.lasa_airwriting import ContinuousStreams
from framescribe.server.encoder_pool import (
    BACKGROUND_NICENESS,
    EncoderPool,
    fitted_frames_as_images,
)
from framescribe.server.encoder_worker import ItemOutcome, pack_reply, read_reply
from framescribe.server.frame_decoding import FrameError
from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc

TRUNCATED_JPEG = pb.Image(format=pb.IMAGE_FORMAT_JPEG, data=b"\xff\xd8\xff\xe0\x00\x10JFIF")


@pytest.fixture(scope="module")
def images():
    """20 LASA frames as JPEG Images."""
    return [frame.image for frame in jpeg_frames(
        ContinuousStreams("test", count=1, seed=7)[0].frames[:20])]


@pytest.fixture(scope="module")
def pool():
    running = EncoderPool(DEMO, 2, 3840 * 2160)
    yield running
    running.close()


def numbered(images, first=0):
    return [(image, first + i) for i, image in enumerate(images)]


def test_features_do_not_depend_on_how_frames_are_grouped(pool, images):
    one_item = pool.encode([numbered(images)])[0]
    split = pool.encode([numbered(images[:3]), numbered(images[3:11], 3),
                         numbered(images[11:], 11)])
    assert one_item.shape == (20, 352) and one_item.dtype == np.float32
    np.testing.assert_allclose(np.concatenate(split), one_item, atol=1e-5)
    assert np.abs(one_item[0] - one_item[19]).max() > 1e-3  # different frames, other features


def test_a_bad_frame_fails_only_its_own_item(pool, images):
    good, bad, also_good = pool.encode([
        numbered(images[:4]), [(images[4], 4), (TRUNCATED_JPEG, 5)], numbered(images[6:9], 6)])
    assert isinstance(bad, FrameError)
    assert str(bad).startswith("frame 5: ")
    reference = pool.encode([numbered(images[:9])])[0]
    np.testing.assert_allclose(good, reference[:4], atol=1e-5)
    np.testing.assert_allclose(also_good, reference[6:9], atol=1e-5)


def test_clips_encode_and_caption_on_a_nicer_background_worker_with_the_same_results(
        images, pool):
    """A pool's background workers (for clips) run at BACKGROUND_NICENESS and give exactly the
    stream workers' features, and the gesture steps and captions the Pipeline gives for them;
    only they run the heads."""
    from framescribe.models.inference.caption_search import DecodingOptions
    from framescribe.models.inference.pipeline import Pipeline
    from framescribe.server.model_batches import CaptionRequest, GestureChunk, gesture_step_batch

    lanes = EncoderPool(DEMO, 1, 3840 * 2160, background_processes=1)
    try:
        live, background = lanes.encode([numbered(images)])[0], \
            lanes.encode_background([numbered(images)])[0]
        np.testing.assert_allclose(background, live, atol=1e-6)
        beam = DecodingOptions(beam_size=4, max_length=20)
        requests = [CaptionRequest(live[:16], beam), CaptionRequest(live[4:20], beam),
                    CaptionRequest(live[:10], DecodingOptions(max_length=20))]
        captions = lanes.caption_background(requests)
        pipeline = Pipeline.from_bundle(DEMO, runtime="tf")
        expected = [pipeline.caption(r.features[None], r.decoding)[0] for r in requests]
        assert [text for text, _ in captions] == [text for text, _ in expected]
        np.testing.assert_allclose([p for _, p in captions], [p for _, p in expected],
                                   atol=1e-3)
        chunks = [GestureChunk(live[:12], None), GestureChunk(live[12:20], None)]
        stepped = lanes.gesture_steps_background(chunks)
        carried = lanes.gesture_steps_background([GestureChunk(live[12:20], stepped[0].states)])
        whole = gesture_step_batch(pipeline.runtime, [GestureChunk(live[:20], None)])[0]
        np.testing.assert_allclose(stepped[0].probabilities, whole.probabilities[:12], atol=1e-4)
        np.testing.assert_allclose(carried[0].probabilities, whole.probabilities[12:], atol=1e-4)
        assert len(stepped[1].probabilities) == 8
        with pytest.raises(RuntimeError, match="no background workers"):
            pool.caption_background(requests)
        nice = {pid: int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
                for pid in lanes.pids}
        assert sorted(nice.values()) == [os.getpriority(os.PRIO_PROCESS, 0),
                                         os.getpriority(os.PRIO_PROCESS, 0)
                                         + BACKGROUND_NICENESS]
        for pid, niceness in nice.items():  # every thread, not only the one that niced it
            threads = [int(stat.read_text().rsplit(")", 1)[1].split()[16])
                       for stat in Path(f"/proc/{pid}/task").glob("*/stat")]
            assert len(threads) > 1 and set(threads) == {niceness}, (pid, threads)
    finally:
        lanes.close()


def test_fitted_arrays_travel_as_raw_rgb(pool):
    frames = np.random.default_rng(3).integers(0, 256, (5, 64, 64, 3), np.uint8)
    as_images = pool.encode([numbered(fitted_frames_as_images(frames))])[0]
    as_png = pool.encode([numbered([pb.Image(format=pb.IMAGE_FORMAT_PNG, data=png(f))
                                    for f in frames])])[0]
    np.testing.assert_allclose(as_images, as_png, atol=1e-5)  # PNG is lossless


def test_large_raw_frames_are_fitted_in_the_worker(pool):
    """1280x720 RGB24 frames (2.7 MB each, far over a pipe's buffer) stream to the worker
    frame by frame; they encode as the same frames fitted here first."""
    from framescribe.models.video import fit_frame

    big = np.random.default_rng(4).integers(0, 256, (3, 720, 1280, 3), np.uint8)
    raw = [pb.Image(format=pb.IMAGE_FORMAT_RGB24, width=1280, height=720, data=f.tobytes())
           for f in big]
    fitted = np.stack([fit_frame(f, 64) for f in big])
    np.testing.assert_allclose(pool.encode([numbered(raw)])[0],
                               pool.encode([numbered(fitted_frames_as_images(fitted))])[0],
                               atol=1e-5)


def png(frame: np.ndarray) -> bytes:
    import cv2

    return cv2.imencode(".png", frame[..., ::-1])[1].tobytes()


def test_a_killed_worker_fails_one_batch_and_is_replaced(images):
    pool = EncoderPool(DEMO, 1, 3840 * 2160)
    try:
        (victim,) = pool.pids
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(RuntimeError, match="exited during a batch"):
            pool.encode([numbered(images[:2])])
        assert pool.encode([numbered(images[:2])])[0].shape == (2, 352)
        assert pool.pids and victim not in pool.pids
    finally:
        pool.close()
    assert not any(Path(f"/proc/{pid}").exists() for pid in pool.pids)  # stopped and reaped


def test_a_worker_that_cannot_load_the_bundle_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="failed to start"):
        EncoderPool(tmp_path / "missing", 1, 3840 * 2160)


def test_reply_round_trip():
    import io

    features = np.arange(12, dtype=np.float32).reshape(3, 4)
    data = pack_reply([ItemOutcome(), ItemOutcome(refused="frame 9: bad"),
                       ItemOutcome(failed="boom"), ItemOutcome()], features)
    first, refused, failed, last = read_reply(io.BytesIO(data), [2, 5, 1, 1], 4)
    np.testing.assert_array_equal(first, features[:2])
    assert refused == ItemOutcome(refused="frame 9: bad")
    assert failed == ItemOutcome(failed="boom")
    np.testing.assert_array_equal(last, features[2:])


# -- a litert server with workers, against one without --------------------------------------
@pytest.fixture(scope="module")
def servers():
    with_workers = ServeProcess("--bundle", str(DEMO), "--runtime", "litert",
                                "--encoder-processes", "2")
    in_process = ServeProcess("--bundle", str(DEMO), "--runtime", "litert",
                              "--encoder-processes", "0")
    yield with_workers, in_process
    with_workers.stop()
    in_process.stop()


def worker_pids(server, background: bool = False) -> list[int]:
    """The server's encoder workers for streams (with `background`: for clips), not its clip
    decode worker."""
    niceness = f"--niceness\0{BACKGROUND_NICENESS if background else 0}\0".encode()
    return [pid for pid in child_pids(server.process.pid, "framescribe.server.encoder_worker")
            if niceness in Path(f"/proc/{pid}/cmdline").read_bytes() + b"\0"]


def stream(address: str, frames: list[pb.Frame], per_message: int) -> list:
    stub = pb_grpc.FrameScribeServiceStub(grpc.insecure_channel(address))
    config = pb.StreamConfig(tasks=[pb.TASK_GESTURES, pb.TASK_CAPTIONS],
                             gesture_options=pb.GestureOptions(interim_results=True))
    return list(stub.StreamAnnotate(list_requests(config, frames, per_message), timeout=120))


def summary(responses) -> dict:
    out = {"interim": [], "gesture": [], "caption": []}
    for response in responses:
        kind = response.WhichOneof("event")
        if kind == "interim_gestures":
            out["interim"] += [(g.timestamp_ms, g.label, g.confidence)
                               for g in response.interim_gestures.labels]
        elif kind == "gesture":
            out["gesture"].append((response.gesture.label, response.gesture.start_ms,
                                   response.gesture.end_ms))
        elif kind == "caption":
            out["caption"].append((response.caption.start_ms, response.caption.text))
    return out


def test_server_with_workers_streams_what_the_in_process_encoder_streams(servers):
    with_workers, in_process = servers
    assert len(worker_pids(with_workers)) == 2 and worker_pids(in_process) == []
    frames = jpeg_frames(ContinuousStreams("test", count=1, seed=1234)[0].frames)
    got, expected = (summary(stream(s.address, frames, 8)) for s in servers)
    assert len(got["interim"]) == len(frames) and got["gesture"] and got["caption"]
    assert [(t, label) for t, label, _ in got["interim"]] == \
        [(t, label) for t, label, _ in expected["interim"]]
    np.testing.assert_allclose([c for *_, c in got["interim"]],
                               [c for *_, c in expected["interim"]], atol=1e-5)
    assert got["gesture"] == expected["gesture"]
    assert got["caption"] == expected["caption"]


def test_video_file_clips_go_through_the_workers_too(servers):
    from server_helpers import sample_video

    request = pb.AnnotateClipRequest(video_file=sample_video().read_bytes())
    got, expected = (pb_grpc.FrameScribeServiceStub(grpc.insecure_channel(s.address))
                     .AnnotateClip(request, timeout=120) for s in servers)
    assert got.frames_used == expected.frames_used > 0
    assert [(c.start_ms, c.text) for c in got.captions] == \
        [(c.start_ms, c.text) for c in expected.captions]


def test_a_bad_frame_fails_its_stream_only(servers):
    with_workers, _ = servers
    frames = jpeg_frames(ContinuousStreams("test", count=1, seed=5)[0].frames[:64])
    results = {}

    def good_stream():
        results["good"] = summary(stream(with_workers.address, frames, 16))

    thread = threading.Thread(target=good_stream)
    thread.start()
    broken = list(frames[:8])
    broken[5] = pb.Frame(timestamp_ms=broken[5].timestamp_ms, image=TRUNCATED_JPEG)
    with pytest.raises(grpc.RpcError) as error:
        stream(with_workers.address, broken, 8)
    thread.join(120)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "frame 5" in error.value.details()
    assert len(results["good"]["interim"]) == 64
    assert health_status(grpc.insecure_channel(with_workers.address)) == \
        health_pb2.HealthCheckResponse.SERVING


def test_server_survives_a_killed_worker_and_stops_its_workers():
    server = ServeProcess("--bundle", str(DEMO), "--runtime", "litert",
                          "--encoder-processes", "1")
    frames = jpeg_frames(ContinuousStreams("test", count=1, seed=9)[0].frames[:16])
    try:
        (victim,) = worker_pids(server)
        os.kill(victim, signal.SIGKILL)
        outcomes = []
        for _ in range(2):  # the first batch may fail (INTERNAL); the next one gets a new worker
            try:
                outcomes.append(len(summary(stream(server.address, frames, 8))["interim"]))
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.INTERNAL
                outcomes.append(error.code())
        assert outcomes[-1] == 16
        replacement = worker_pids(server)
        assert len(replacement) == 1 and replacement != [victim]
    finally:
        assert server.stop() == 0
    deadline = time.monotonic() + 10
    while Path(f"/proc/{replacement[0]}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{replacement[0]}").exists()


# -- a worker that hangs -----------------------------------------------------------------------
def wait_for(condition, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def gone(pid: int) -> bool:
    """Exited and reaped (a zombie still has /proc/PID)."""
    return not Path(f"/proc/{pid}").exists()


def test_a_hung_worker_times_out_is_killed_and_replaced_in_the_background(images, caplog):
    """A stopped worker (SIGSTOP) is sent a batch of large raw frames, so the write blocks
    too: the batch fails within about the timeout, the other worker goes on serving while the
    replacement starts on its own thread, and then both serve."""
    pool = EncoderPool(DEMO, 2, 3840 * 2160, timeout_s=1.5)
    big = np.random.default_rng(5).integers(0, 256, (3, 720, 1280, 3), np.uint8)
    raw = [pb.Image(format=pb.IMAGE_FORMAT_RGB24, width=1280, height=720, data=f.tobytes())
           for f in big]
    try:
        victim, other = pool.pids  # the idle queue hands out the first one first
        os.kill(victim, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(RuntimeError, match=r"timed out after 1\.5 s"):
            pool.encode([numbered(raw)])
        took = time.monotonic() - started
        assert 1.4 < took < 2.5, took  # not waiting for the replacement to start (over 1 s)
        assert f"encoder worker {victim} timed out after 1.5 s" in caplog.text
        assert pool.encode([numbered(images[:2])])[0].shape == (2, 352)  # the other worker
        wait_for(lambda: gone(victim) and len(pool.pids) == 2)
        assert other in pool.pids
        for _ in range(4):  # both workers, the replacement included
            assert pool.encode([numbered(images[:3])])[0].shape == (3, 352)
    finally:
        pool.close()
    assert all(gone(pid) for pid in pool.pids)


def test_every_worker_hung_fails_each_batch_and_all_are_replaced(images):
    pool = EncoderPool(DEMO, 2, 3840 * 2160, timeout_s=1.0)
    try:
        stopped = pool.pids
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        errors = []

        def one_batch():
            try:
                pool.encode([numbered(images[:2])])
            except RuntimeError as error:
                errors.append(error)

        threads = [threading.Thread(target=one_batch) for _ in stopped]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(errors) == 2 and all("timed out" in str(e) for e in errors)
        assert pool.encode([numbered(images[:2])])[0].shape == (2, 352)  # waits for a new one
        wait_for(lambda: len(pool.pids) == 2 and not set(stopped) & set(pool.pids))
    finally:
        pool.close()


def test_a_timeout_must_be_positive():
    with pytest.raises(ValueError, match="got 0 s"):
        EncoderPool(DEMO, 1, 3840 * 2160, timeout_s=0)


def test_server_answers_internal_for_a_hung_worker_and_goes_on_serving():
    server = ServeProcess("--bundle", str(DEMO), "--runtime", "litert",
                          "--encoder-processes", "1", "--worker-timeout-s", "2")
    frames = jpeg_frames(ContinuousStreams("test", count=1, seed=11)[0].frames[:16])
    try:
        (victim,) = worker_pids(server)
        os.kill(victim, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as error:
            stream(server.address, frames, 8)
        took = time.monotonic() - started
        assert error.value.code() == grpc.StatusCode.INTERNAL
        assert error.value.details().startswith("internal error")
        assert 1.9 < took < 10, took
        assert health_status(grpc.insecure_channel(server.address)) == \
            health_pb2.HealthCheckResponse.SERVING
        assert len(summary(stream(server.address, frames, 8))["interim"]) == 16
        wait_for(lambda: gone(victim))
        assert len(worker_pids(server)) == 1
        assert any(f"encoder worker {victim} timed out after 2 s" in line
                   for line in server.lines)
    finally:
        assert server.stop() == 0


# -- light imports -------------------------------------------------------------------------------
HEAVY = ("pyarrow", "tensorflow", "keras", "pandas", "ray")


def test_a_litert_server_and_its_workers_import_nothing_heavy(servers):
    """The real processes map no library of the heavy packages; a process that loads what the
    server and a worker load (pipeline, servicer, a worker's serve()) imports none of them."""
    with_workers, _ = servers
    for pid in [with_workers.process.pid, *worker_pids(with_workers)]:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert not [name for name in (*HEAVY, "libarrow") if f"/{name}" in maps], pid
    script = f"""
import io, sys
from framescribe.plugin import cli, serve_command
from framescribe.server import app, servicer, encoder_worker
from framescribe.server.server_options import load_server_options
app.load_pipeline(load_server_options({{"bundle": {str(DEMO)!r}, "runtime": "litert"}}))
out = io.BytesIO()
encoder_worker.serve({str(DEMO)!r}, 3840 * 2160, io.BytesIO(), out)
assert out.getvalue().startswith(encoder_worker.READY)
print(sorted(name for name in {HEAVY!r} if name in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "[]"
