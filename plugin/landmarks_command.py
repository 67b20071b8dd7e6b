"""`framescribe landmarks`: MediaPipe landmarks of videos, one Kaggle ISLR parquet per video
(cli.py only registers it). The models side does the work (models.landmarks extracts,
models.data.islr_landmark_writer lays out the table); this module picks files, skips finished
ones, reports progress and errors. Nothing of the models or MediaPipe is imported until it runs.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from framescribe.plugin.cli_types import positive_float
from framescribe.plugin.model_side import INSTALL, ModelSideMissing, missing_modules

EXIT_FAILED = 1
EXIT_USAGE = 2
KINDS = ("holistic", "hands")  # models.landmarks.LANDMARK_KINDS (not imported for --help)
SUFFIX = ".parquet"
MEDIAPIPE_INSTALL = ("pip install --no-deps mediapipe==1.2.3 and pip install "
                     "'framescribe[landmarks]' (what `make setup` does)")
DESCRIPTION = (
    "Extract MediaPipe landmarks from videos (files or image folders) and write one parquet "
    "file per video, DIR/<video name>.parquet, in Kaggle ISLR's schema: columns frame (int16, "
    "the frame's number in the video), row_id (\"<frame>-<type>-<index>\"), type (face, "
    "left_hand, pose, right_hand), landmark_index (int16), x, y, z (float64; x and y in image "
    "units 0-1, NaN where a part was not found); 543 rows per frame. A folder of such files "
    "plus a train.csv is what `framescribe train gestures --format islr` reads. --kind "
    "holistic (default) finds face, pose and both hands of one person; hands finds hands only "
    "(faster; face and pose rows are NaN). Videos whose output exists are skipped, so an "
    "interrupted run resumes; files are written atomically. Progress goes to stderr. Needs "
    "the model side and MediaPipe (make setup), and its model files (built by make setup: "
    "python -m framescribe.models.landmarks.mediapipe_tasks).")


def add_landmarks_parser(commands) -> None:
    landmarks = commands.add_parser(
        "landmarks", help="MediaPipe hand/holistic landmarks of videos, as Kaggle ISLR parquet",
        description=DESCRIPTION)
    landmarks.add_argument("videos", nargs="+", metavar="VIDEO",
                           help="video files (or folders of images, one video each)")
    landmarks.add_argument("-o", "--output", required=True, metavar="DIR",
                           help="folder for the parquet files (created if missing)")
    landmarks.add_argument("--kind", choices=KINDS, default="holistic",
                           help="holistic: face, pose and hands (default); hands: hands only")
    landmarks.add_argument("--frame-rate", type=positive_float, metavar="FPS",
                           help="frames per second to keep (default: every frame); frame "
                                "numbers stay the video's own")
    landmarks.set_defaults(handler=run_landmarks)


def _require_landmark_side() -> None:
    """ModelSideMissing (cli.main: one line, exit 2) unless pyarrow and mediapipe import."""
    for module, install in (("pyarrow", INSTALL), ("mediapipe", MEDIAPIPE_INSTALL)):
        if missing_modules([module]):
            raise ModelSideMissing(f"`framescribe landmarks` needs {module}, which this "
                                   f"install lacks: {install}")


def _outputs(videos: list[str], output: Path) -> dict[str, Path] | str:
    """{video: output file}, or the one-line problem (a missing input, two videos that would
    write one file)."""
    outputs: dict[str, Path] = {}
    seen: dict[Path, str] = {}
    for video in videos:
        if not os.path.exists(video):
            return f"{video}: no such file or directory"
        target = output / (Path(video.rstrip("/\\") or video).stem + SUFFIX)
        if target in seen and seen[target] != video:
            return f"{seen[target]} and {video} would both write {target}; rename one"
        seen[target] = video
        outputs[video] = target
    return outputs


class _VideoProgress:
    """Frames done for one video: redrawn in place on a terminal, else silent until the end."""

    def __init__(self, label: str):
        self.label = label
        self.tty = sys.stderr.isatty()
        self.drawn = 0.0

    def __call__(self, done: int, source_frames: int | None, seconds: float) -> None:
        now = time.monotonic()
        if not self.tty or now - self.drawn < 0.2:
            return
        self.drawn = now
        of = f" (the video has {source_frames})" if source_frames else ""
        print(f"\r{self.label}: {done} frames, {seconds:.1f}s{of}", end="", file=sys.stderr,
              flush=True)

    def clear(self) -> None:
        if self.tty and self.drawn:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def run_landmarks(args) -> int:
    output = Path(args.output)
    outputs = _outputs(args.videos, output)
    if isinstance(outputs, str):
        print(f"framescribe: error: {outputs}", file=sys.stderr)
        return EXIT_FAILED
    _require_landmark_side()
    from framescribe.models.data.islr_landmark_writer import islr_parquet_bytes
    from framescribe.models.landmarks import extract_video_landmarks, task_path
    from framescribe.models.video import VideoError
    from framescribe.plugin.atomic_files import write_atomically

    task_path(args.kind)  # TaskFilesMissing (one line naming the build command) before any work
    if output.exists() and not output.is_dir():
        print(f"framescribe: error: {output}: exists and is not a folder", file=sys.stderr)
        return EXIT_FAILED
    output.mkdir(parents=True, exist_ok=True)
    written = skipped = failed = 0
    count = len(outputs)
    for number, (video, target) in enumerate(outputs.items(), 1):
        label = f"landmarks [{number}/{count}] {video}"
        if target.exists():
            skipped += 1
            print(f"{label}: {target} exists, skipped", file=sys.stderr)
            continue
        started = time.monotonic()
        progress = _VideoProgress(label)
        try:
            result = extract_video_landmarks(video, args.kind, frame_rate=args.frame_rate,
                                             progress=progress)
            data = islr_parquet_bytes(result.landmarks, result.frame_numbers)
        except VideoError as error:  # unreadable or empty video: report, go on with the rest
            progress.clear()
            failed += 1
            print(f"framescribe: error: {error}", file=sys.stderr)
            continue
        except ValueError as error:  # e.g. more frames than the int16 frame column holds
            progress.clear()
            failed += 1
            print(f"framescribe: error: {video}: {error}", file=sys.stderr)
            continue
        progress.clear()
        write_atomically(target, data)
        written += 1
        elapsed = time.monotonic() - started
        per_frame = f", {1000 * elapsed / len(result.landmarks):.0f} ms/frame" \
            if len(result.landmarks) else ""
        print(f"{label}: {len(result.landmarks)} frames -> {target} ({elapsed:.1f}s"
              f"{per_frame})", file=sys.stderr)
    print(f"landmarks: {written} written, {skipped} skipped (output exists), {failed} failed; "
          f"{output}", file=sys.stderr)
    return EXIT_FAILED if failed else 0
