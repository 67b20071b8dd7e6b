"""Landmark extraction speed on real video: MediaPipe hands and holistic, frames/s.

    PYTHONPATH=tests python -m benchmarks.benchmark_landmarks [--frames N] [--json PATH]

The models' one landmark stage (models/inference/landmark_stage.py: frames at their own
resolution, MediaPipe's VIDEO mode) on the first N frames of two real videos from Debian's
opencv-doc package: Megamind.avi (a person talking, face and hands in view) and vtest.avi (a
street scene, people far away: mostly nothing to find). Frames are decoded once, before
timing. The baseline measured in the same run is OpenCV decoding the same frames, so the
printed ratios (extraction frames/s over decoding frames/s) compare across machines where the
absolute numbers do not. Each row also gives the fraction of frames where the landmarker found
a hand, a face and a pose. Writes the result under "landmarks" in the JSON file.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time

import numpy as np

from framescribe.models.data.islr_layout import ISLR_PARTS
from framescribe.models.data.package_media import opencv_doc_file
from framescribe.models.inference.landmark_stage import LandmarkStage
from framescribe.models.video import read_video

VIDEOS = ("examples/data/Megamind.avi", "examples/data/vtest.avi")
KINDS = ("hands", "holistic")


def decoded(path: str, frames: int) -> tuple[list[float], list[np.ndarray], float]:
    """The first `frames` frames (times s, RGB images) and OpenCV's decoding frames/s."""
    started = time.perf_counter()
    video = list(itertools.islice(read_video(path), frames))
    seconds = time.perf_counter() - started
    return [f.timestamp for f in video], [f.image for f in video], len(video) / seconds


def found(points: np.ndarray, part: str) -> float:
    """Fraction of frames where `part` of the ISLR layout was found (not NaN)."""
    start, end = ISLR_PARTS[part]
    return float(np.isfinite(points[:, start:end]).all(axis=(1, 2)).mean())


def measure(frames: int) -> dict:
    rows = []
    for name in VIDEOS:
        path = str(opencv_doc_file(name))
        times, images, decode_fps = decoded(path, frames)
        for kind in KINDS:
            with LandmarkStage(kind) as stage:
                stage.landmarks(times[:1], images[:1])  # loads the graph
            with LandmarkStage(kind) as stage:
                started = time.perf_counter()
                points = stage.landmarks(times, images)
                seconds = time.perf_counter() - started
            fps = len(images) / seconds
            hands = np.maximum(*(np.isfinite(points[:, slice(*ISLR_PARTS[p])]).all(axis=(1, 2))
                                 for p in ("left_hand", "right_hand"))).mean()
            rows.append({"video": name.rsplit("/", 1)[-1], "kind": kind,
                         "size": f"{images[0].shape[1]}x{images[0].shape[0]}",
                         "frames": len(images), "frames_per_s": round(fps, 1),
                         "ms_per_frame": round(1000 / fps, 1),
                         "decode_frames_per_s": round(decode_fps, 1),
                         "ratio_to_decoding": round(fps / decode_fps, 3),
                         "hand_found": round(float(hands), 3),
                         "face_found": round(found(points, "face"), 3),
                         "pose_found": round(found(points, "pose"), 3)})
    return {"rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200,
                        help="frames of each video (default 200)")
    parser.add_argument("--json", metavar="PATH", help="write under 'landmarks' here")
    args = parser.parse_args(argv)
    result = measure(args.frames)
    for row in result["rows"]:
        print(f"{row['video']} ({row['size']}, {row['frames']} frames) {row['kind']}: "
              f"{row['frames_per_s']} frames/s ({row['ms_per_frame']} ms/frame), "
              f"{row['ratio_to_decoding']}x OpenCV decoding; found hand "
              f"{row['hand_found']}, face {row['face_found']}, pose {row['pose_found']}")
    if args.json:
        from framescribe.plugin.atomic_files import update_json_key

        update_json_key(args.json, "landmarks", result)
    else:
        json.dump(result, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
