"""airwriting-real clips as files: generated on demand into the cache, then reused.

    from framescribe.models.data.airwriting_real_cache import cached_clips
    for video, clip in cached_clips("isolated"):        # Path of the .avi, its RealClip
        ...

    python -m framescribe.models.data.airwriting_real_cache [--kind all] [--seed 1234]

Each clip is a lossless FFV1 .avi at 10 fps (OpenCV writes it byte-for-byte the same from the
same frames; decoding it gives the generator's frames exactly) and a .json of its ground truth
(RealClip's fields, its shapes' times, the SHA-256 of its raw RGB frames). They live in
``cache_dir("airwriting-real", "v{VERSION}-seed{seed}", kind)``; VERSION changes whenever the
generator does, so stale clips are never reused. Files are written under temporary names and
renamed, so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from framescribe.models.cache_dir import cache_dir
from framescribe.models.data.airwriting_real import (
    KINDS,
    TEST_SEED,
    RealClip,
    clip_frames,
    real_clips,
)
from framescribe.models.data.lasa_airwriting import GestureSpan
from framescribe.models.data.lasa_airwriting_paths import gesture_labels

VERSION = 1  # of the generator: bump when the frames or the ground truth change
FOURCC = "FFV1"


@dataclass(frozen=True)
class GenerationReport:
    """What `generate` did: clips written and found, frames written, seconds spent."""

    folder: Path
    written: int
    found: int
    frames: int
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def clips_dir(kind: str, seed: int = TEST_SEED) -> Path:
    return cache_dir("airwriting-real", f"v{VERSION}-seed{seed}", kind)


def frames_sha256(frames: list[np.ndarray] | Iterator[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(np.ascontiguousarray(frame).tobytes())
    return digest.hexdigest()


def clip_record(clip: RealClip, sha256: str) -> dict:
    """The ground truth of a clip as JSON-ready values."""
    labels = gesture_labels()
    return {
        "name": clip.name, "version": VERSION, "fps": clip.fps, "width": clip.width,
        "height": clip.height, "frames": clip.frames, "frames_sha256": sha256,
        "background": clip.background, "background_start": clip.background_start,
        "hand_height": clip.hand_height, "gain": clip.gain,
        "events": [{"label": e.label, "name": labels[e.label], "demo": demo, "start": e.start,
                    "end": e.end, "start_s": e.start / clip.fps, "end_s": e.end / clip.fps}
                   for e, (_, demo) in zip(clip.events, clip.shapes, strict=True)],
        "frame_labels": clip.frame_labels.tolist(),
        "tips": clip.tips.tolist(),
        "angles": clip.angles.tolist(),
    }


def clip_from_record(record: dict) -> RealClip:
    """A RealClip back from its JSON record."""
    def frozen(values, dtype) -> np.ndarray:
        array = np.asarray(values, dtype)
        array.flags.writeable = False
        return array

    return RealClip(
        name=record["name"],
        events=tuple(GestureSpan(e["label"], e["start"], e["end"]) for e in record["events"]),
        shapes=tuple((e["label"], e["demo"]) for e in record["events"]),
        tips=frozen(record["tips"], np.float64).reshape(-1, 2),
        angles=frozen(record["angles"], np.float64),
        frame_labels=frozen(record["frame_labels"], np.int32),
        hand_height=record["hand_height"], gain=record["gain"],
        background=record["background"], background_start=record["background_start"],
        fps=record["fps"], width=record["width"], height=record["height"])


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.stem}.{secrets.token_hex(6)}{path.suffix}")


def write_clip(clip: RealClip, folder: Path) -> int:
    """Render `clip` into folder/<name>.avi and .json; the number of frames written."""
    folder.mkdir(parents=True, exist_ok=True)
    video, record = folder / f"{clip.name}.avi", folder / f"{clip.name}.json"
    staged_video, staged_record = _temporary(video), _temporary(record)
    writer = cv2.VideoWriter(str(staged_video), cv2.VideoWriter_fourcc(*FOURCC), clip.fps,
                             (clip.width, clip.height))
    try:
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot write {FOURCC} video to {staged_video}")
        digest, count = hashlib.sha256(), 0
        for frame in clip_frames(clip):
            digest.update(frame.tobytes())
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            count += 1
        writer.release()
        staged_record.write_text(json.dumps(clip_record(clip, digest.hexdigest())))
        os.replace(staged_video, video)
        os.replace(staged_record, record)  # last: a clip with its .json is complete
    finally:
        writer.release()
        staged_video.unlink(missing_ok=True)
        staged_record.unlink(missing_ok=True)
    return count


def generate(kind: str, seed: int = TEST_SEED, limit: int | None = None,
             log: Callable[[str], None] = lambda line: None) -> GenerationReport:
    """Write the clips of `kind` (the first `limit`) that the cache lacks."""
    clips = real_clips(kind, seed)
    folder = clips_dir(kind, seed)
    count = len(clips) if limit is None else min(limit, len(clips))
    written = found = frames = 0
    started = time.perf_counter()
    for i in range(count):
        clip = clips[i]
        if (folder / f"{clip.name}.json").is_file() and (folder / f"{clip.name}.avi").is_file():
            found += 1
            continue
        frames += write_clip(clip, folder)
        written += 1
        log(f"{folder / clip.name}.avi: {clip.frames} frames over {clip.background}")
    return GenerationReport(folder, written, found, frames, time.perf_counter() - started)


def cached_clips(kind: str, seed: int = TEST_SEED, limit: int | None = None
                 ) -> list[tuple[Path, RealClip]]:
    """(video path, ground truth) of every clip of `kind`, generated first where missing."""
    generate(kind, seed, limit)
    folder = clips_dir(kind, seed)
    clips = real_clips(kind, seed)
    count = len(clips) if limit is None else min(limit, len(clips))
    out = []
    for i in range(count):
        name = f"{kind}-{i:04d}"
        record = json.loads((folder / f"{name}.json").read_text())
        out.append((folder / f"{name}.avi", clip_from_record(record)))
    return out


def read_video_frames(path: str | Path) -> list[np.ndarray]:
    """Every frame of a cached clip, uint8 RGB (a check of the files; the project's readers
    work on them too)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m framescribe.models.data.airwriting_real_cache",
        description="Generate the airwriting-real clips (a real hand writing LASA shapes over "
                    "real video) into the cache ($FRAMESCRIBE_CACHE_DIR or "
                    "~/.cache/framescribe)/airwriting-real; clips already there are kept. "
                    "Prints the folders and the generation speed.")
    parser.add_argument("--kind", choices=(*KINDS, "all"), default="all")
    parser.add_argument("--seed", type=int, default=TEST_SEED)
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips")
    parser.add_argument("--verbose", action="store_true", help="a line per clip written")
    args = parser.parse_args(argv)
    log = (lambda line: print(line, file=sys.stderr)) if args.verbose else (lambda line: None)
    for kind in KINDS if args.kind == "all" else (args.kind,):
        try:
            report = generate(kind, args.seed, args.limit, log)
        except (OSError, ValueError, RuntimeError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"{kind}: {report.folder}: {report.written} clips written "
              f"({report.frames} frames, {report.seconds:.1f} s, "
              f"{report.frames_per_second:.1f} frames/s), {report.found} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
