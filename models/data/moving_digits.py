"""The `moving-digits` captioning benchmark: real 8x8 digits bouncing in 64x64 clips.

See BENCHMARKS.md. Clips are generated on demand and are deterministic: item ``i`` of a
dataset with seed ``s`` always comes from ``np.random.default_rng((s, i))``.

Coordinates are continuous pixels: pixel (row r, column c) covers [c, c+1) x [r, r+1), so the
frame spans [0, 64] on both axes and y grows downward. A digit box with centre (x, y) is pasted
at the integer top-left ``round(x - 12), round(y - 12)``.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

CLIP_FRAMES = 16
FRAME_SIZE = 64
DIGIT_SIZE = 24
MOTIONS: tuple[str, ...] = (
    "moving left and right",
    "moving up and down",
    "moving diagonally",
    "standing still",
)
SPLIT_SIZES = {"train": 40_000, "validation": 1_000, "test": 2_000}
SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 1234}
# Which `load_digits()` images each split draws from: [start, stop). Test digits are unseen.
SOURCE_RANGES = {"train": (0, 1400), "validation": (0, 1400), "test": (1400, 1797)}

SPEED_RANGE = (2.0, 4.0)  # px per frame, per moving axis
_HALF = DIGIT_SIZE / 2
_CENTRE_MIN = _HALF  # the box stays fully inside the frame
_CENTRE_MAX = FRAME_SIZE - _HALF
_AXIS_MOVES = {  # motion -> (moves along x, moves along y)
    "moving left and right": (True, False),
    "moving up and down": (False, True),
    "moving diagonally": (True, True),
    "standing still": (False, False),
}


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class DigitTrack:
    """One digit's path through a clip.

    digit: the digit's class, 0-9.
    motion: one of MOTIONS.
    centers: (CLIP_FRAMES, 2) float32, the box centre (x, y) in pixels per frame.
    source_index: index of the image in `sklearn.datasets.load_digits()` (-1 if unknown).
    """

    digit: int
    motion: str
    centers: np.ndarray
    source_index: int = -1


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class CaptionClip:
    """A captioned clip.

    frames: (CLIP_FRAMES, 64, 64, 3) uint8 RGB, digits grey on black.
    tracks: one or two DigitTrack.
    references: one caption (one digit) or two (both digit orders, two digits).
    """

    frames: np.ndarray
    tracks: tuple[DigitTrack, ...]
    references: tuple[str, ...]


def caption_for(tracks: Sequence[DigitTrack]) -> str:
    """The caption of ``tracks`` in the given order, e.g. "digit 3 is moving up and down"."""
    if not tracks:
        raise ValueError("caption_for needs at least one track, got none")
    return " and ".join(f"digit {t.digit} is {t.motion}" for t in tracks)


@functools.lru_cache(maxsize=1)
def digit_bank() -> tuple[np.ndarray, np.ndarray]:
    """All `load_digits()` images upscaled: ((1797, 24, 24) uint8 in 0-255, (1797,) int64 labels).

    Values 0-16 are scaled to 0-255 and resized bilinearly (cv2.INTER_LINEAR). Read-only arrays.
    """
    from sklearn.datasets import load_digits  # imported lazily: sklearn is slow to import

    digits = load_digits()
    images = np.empty((len(digits.images), DIGIT_SIZE, DIGIT_SIZE), np.uint8)
    for i, image in enumerate(digits.images):
        big = cv2.resize(
            (image * (255.0 / 16.0)).astype(np.float32),
            (DIGIT_SIZE, DIGIT_SIZE),
            interpolation=cv2.INTER_LINEAR,
        )
        images[i] = np.clip(np.rint(big), 0, 255).astype(np.uint8)
    labels = np.asarray(digits.target, np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def bounce(start: np.ndarray, velocity: np.ndarray, frames: int = CLIP_FRAMES) -> np.ndarray:
    """Centres of a box bouncing off the walls: (frames, 2) float32 from (2,) start and velocity.

    Positions are reflected into [12, 52] (the box stays inside the frame), which is the same
    as flipping the velocity component at each wall.
    """
    t = np.arange(frames, dtype=np.float64)[:, None]
    unfolded = start[None, :] - _CENTRE_MIN + velocity[None, :] * t
    span = _CENTRE_MAX - _CENTRE_MIN
    folded = np.mod(unfolded, 2 * span)
    folded = np.where(folded > span, 2 * span - folded, folded)
    return (folded + _CENTRE_MIN).astype(np.float32)


def _sample_track(rng: np.random.Generator, source: tuple[int, int]) -> DigitTrack:
    """Draw one digit image, motion, start position and velocity."""
    images, labels = digit_bank()
    source_index = int(rng.integers(source[0], source[1]))
    motion = MOTIONS[int(rng.integers(len(MOTIONS)))]
    start = rng.uniform(_CENTRE_MIN, _CENTRE_MAX, size=2)
    speed = rng.uniform(SPEED_RANGE[0], SPEED_RANGE[1], size=2)
    sign = np.where(rng.random(2) < 0.5, -1.0, 1.0)
    velocity = speed * sign * np.asarray(_AXIS_MOVES[motion], np.float64)
    return DigitTrack(
        digit=int(labels[source_index]),
        motion=motion,
        centers=bounce(start, velocity),
        source_index=source_index,
    )


def render_tracks(tracks: Sequence[DigitTrack], out: np.ndarray | None = None) -> np.ndarray:
    """Paste the tracks' digits (max-composite) into grey frames: (CLIP_FRAMES, 64, 64) uint8.

    ``out``, when given, must be a zeroed (frames, 64, 64) uint8 array; it is filled and returned.
    """
    images, _ = digit_bank()
    if out is None:
        out = np.zeros((CLIP_FRAMES, FRAME_SIZE, FRAME_SIZE), np.uint8)
    for k, track in enumerate(tracks):
        top_left = np.clip(np.rint(track.centers - _HALF), 0, FRAME_SIZE - DIGIT_SIZE)
        sprite = images[track.source_index]
        for f, (x, y) in enumerate(top_left.astype(np.intp).tolist()):
            box = out[f, y : y + DIGIT_SIZE, x : x + DIGIT_SIZE]
            if k == 0:
                box[...] = sprite
            else:
                np.maximum(box, sprite, out=box)
    return out


class MovingDigits:
    """Random-access, deterministic `moving-digits` dataset.

    Item ``i`` has one digit when ``i`` is even and two when it is odd (so half each);
    ``np.random.default_rng((seed, i))`` draws everything else.
    """

    def __init__(
        self, split: str = "train", *, size: int | None = None, seed: int | None = None
    ) -> None:
        if split not in SPLIT_SIZES:
            raise ValueError(f"unknown split {split!r}; valid splits: {sorted(SPLIT_SIZES)}")
        self.split = split
        self.size = SPLIT_SIZES[split] if size is None else operator.index(size)
        self.seed = SPLIT_SEEDS[split] if seed is None else operator.index(seed)
        if self.size < 0:
            raise ValueError(f"size must be >= 0, got {self.size}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        self.source_range = SOURCE_RANGES[split]

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"MovingDigits(split={self.split!r}, size={self.size}, seed={self.seed})"

    def _index(self, index: int) -> int:
        i = operator.index(index)
        if i < 0:
            i += self.size
        if not 0 <= i < self.size:
            raise IndexError(f"index {index} out of range for {self!r}")
        return i

    def tracks(self, index: int) -> tuple[DigitTrack, ...]:
        """The digit tracks of item ``index`` without rendering frames."""
        i = self._index(index)
        rng = np.random.default_rng((self.seed, i))
        return tuple(_sample_track(rng, self.source_range) for _ in range(1 + i % 2))

    def __getitem__(self, index: int) -> CaptionClip:
        tracks = self.tracks(index)
        grey = render_tracks(tracks)
        if len(tracks) == 1:
            references = (caption_for(tracks),)
        else:
            references = (caption_for(tracks), caption_for(tracks[::-1]))
        return CaptionClip(frames=to_rgb(grey), tracks=tracks, references=references)

    def frames_batch(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames of several items: (len(indices), CLIP_FRAMES, 64, 64, 3) uint8 RGB."""
        indices = list(indices)
        out = np.empty((len(indices), CLIP_FRAMES, FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
        for n, index in enumerate(indices):
            out[n] = to_rgb(render_tracks(self.tracks(index)))
        return out


def to_rgb(grey: np.ndarray) -> np.ndarray:
    """(..., H, W) uint8 grey -> (..., H, W, 3) uint8 RGB (cv2.merge: faster than np.repeat)."""
    flat = np.ascontiguousarray(grey).reshape(-1, grey.shape[-1])
    return cv2.merge([flat, flat, flat]).reshape(*grey.shape, 3)
