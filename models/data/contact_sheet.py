"""Contact sheets: a PNG grid of benchmark clips for eyeballing the generators.

One row per clip (evenly spaced frames, each upscaled with nearest-neighbour), and under each
row a text strip with the clip's caption (moving-digits) or label name (lasa-airwriting).
"""

from __future__ import annotations

import os
import pathlib
import tempfile

import cv2
import numpy as np

from framescribe.models.data.lasa_airwriting import LasaAirwriting
from framescribe.models.data.lasa_airwriting_paths import gesture_labels
from framescribe.models.data.moving_digits import MovingDigits

BENCHMARKS = ("moving-digits", "lasa-airwriting")
TEXT_STRIP_HEIGHT = 20  # px under each row, independent of ``scale``
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.45


def _clip_rows(benchmark: str, split: str, clips: int) -> list[tuple[np.ndarray, str]]:
    """(frames (T, H, W, 3) uint8 RGB, text) for the first ``clips`` items of the split."""
    if benchmark == "moving-digits":
        digits = MovingDigits(split)
        items = [digits[i] for i in range(min(clips, len(digits)))]
        return [(clip.frames, clip.references[0]) for clip in items]
    gestures = LasaAirwriting(split)
    items = [gestures[i] for i in range(min(clips, len(gestures)))]
    return [(clip.frames, gesture_labels()[clip.label]) for clip in items]


def _text_strip(text: str, width: int) -> np.ndarray:
    """(TEXT_STRIP_HEIGHT, width, 3) uint8 black strip with ``text`` in white, shrunk to fit."""
    strip = np.zeros((TEXT_STRIP_HEIGHT, width, 3), np.uint8)
    (w, h), _ = cv2.getTextSize(text, _FONT, _FONT_SCALE, 1)
    font_scale = _FONT_SCALE * min(1.0, (width - 8) / max(w, 1))
    baseline_y = (TEXT_STRIP_HEIGHT + int(h * font_scale / _FONT_SCALE)) // 2
    cv2.putText(strip, text, (4, baseline_y), _FONT, font_scale, (255, 255, 255), 1, cv2.LINE_AA)
    return strip


def _row(frames: np.ndarray, text: str, frames_per_clip: int, scale: int) -> np.ndarray:
    """One clip's row: evenly spaced frames side by side, upscaled, over its text strip."""
    picks = np.linspace(0, len(frames) - 1, frames_per_clip).round().astype(int)
    tiles = np.concatenate([frames[p] for p in picks], axis=1)
    tiles = np.repeat(np.repeat(tiles, scale, axis=0), scale, axis=1)
    return np.concatenate([tiles, _text_strip(text, tiles.shape[1])], axis=0)


def write_contact_sheet(
    benchmark: str,
    path: str | os.PathLike[str],
    *,
    split: str = "test",
    clips: int = 4,
    frames_per_clip: int = 8,
    scale: int = 2,
) -> pathlib.Path:
    """Write a contact sheet PNG of ``benchmark``'s ``split`` and return its path.

    Size: width frames_per_clip * 64 * scale, height clips * (64 * scale + TEXT_STRIP_HEIGHT)
    (fewer rows if the split is smaller). Parent directories are created; the file is written
    to a temporary file beside it and moved into place, so readers never see a partial PNG.
    """
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; valid benchmarks: {BENCHMARKS}")
    for name, value in (("clips", clips), ("frames_per_clip", frames_per_clip), ("scale", scale)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    rows = _clip_rows(benchmark, split, int(clips))
    if not rows:
        raise ValueError(f"split {split!r} of {benchmark!r} has no clips")
    sheet = np.concatenate([_row(f, t, int(frames_per_clip), int(scale)) for f, t in rows])
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"could not encode a {sheet.shape} contact sheet as PNG")
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(target, png.tobytes())
    return target


def _write_atomically(target: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to a temporary file in ``target``'s directory, then os.replace it."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
