"""The `lasa-airwriting` gesture benchmark: a fingertip tracing LASA handwriting motions.

See BENCHMARKS.md. Isolated clips (`LasaAirwriting`) and continuous streams of several
gestures with idle frames between them (`ContinuousStreams`). Everything is deterministic:
item ``i`` with seed ``s`` comes from ``np.random.default_rng((s, i))``.
The gestures' paths come from lasa_airwriting_paths.py, their frames from
lasa_airwriting_render.py.

Coordinates are continuous pixels: pixel (row r, column c) covers [c, c+1) x [r, r+1), so the
frame spans [0, 64] on both axes, its centre is (32, 32) and y grows downward.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from framescribe.models.data.lasa_airwriting_paths import (
    AUGMENTATION,
    GESTURE_FRAMES,
    POSITION_LIMITS,
    Augmentation,
    gesture_labels,
    gesture_positions,
)
from framescribe.models.data.lasa_airwriting_render import render

SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 1234}
STREAM_COUNTS = {"train": 2000, "validation": 100, "test": 100}
TRAIN_COPIES = 20  # augmented clips per (label, demo) in the default training set
EVAL_COPIES = 5  # validation/test: the clean clip plus 4 augmented copies per (label, demo)


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class GestureClip:
    """An isolated gesture.

    frames: (T, 64, 64, 3) uint8 RGB.
    label: index into gesture_labels().
    positions: (T, 2) float32 fingertip centre (x, y) in pixels.
    """

    frames: np.ndarray
    label: int
    positions: np.ndarray


@dataclass(frozen=True)
class ClipRecipe:
    """Where an isolated clip comes from: label, LASA demonstration (0-6), augmented or clean."""

    label: int
    demo: int
    augmented: bool


@dataclass(frozen=True)
class GestureSpan:
    """One gesture in a stream: label, and frame indices ``start`` to ``end`` (exclusive)."""

    label: int
    start: int
    end: int


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class GestureStream:
    """Several gestures with idle frames between them.

    frames: (N, 64, 64, 3) uint8 RGB.
    frame_labels: (N,) int32, -1 for idle frames, else the gesture's label.
    positions: (N, 2) float32 fingertip centre (x, y) in pixels, NaN where it is absent.
    events: the gestures in time order.
    """

    frames: np.ndarray
    frame_labels: np.ndarray
    positions: np.ndarray
    events: tuple[GestureSpan, ...]


def _split_demos(split: str, holdout_validation: bool = False) -> tuple[int, ...]:
    if split == "train":
        return (0, 1, 2, 3) if holdout_validation else (0, 1, 2, 3, 4)
    if split == "validation":
        return (4,)
    if split == "test":
        return (5, 6)
    raise ValueError(f"unknown split {split!r}; valid splits: {sorted(SPLIT_SEEDS)}")


def _checked_index(index: int, size: int, owner: object) -> int:
    i = operator.index(index)
    if i < 0:
        i += size
    if not 0 <= i < size:
        raise IndexError(f"index {index} out of range for {owner!r}")
    return i


class LasaAirwriting:
    """Random-access, deterministic isolated gesture clips.

    Item ``i`` shows pair ``i % (26 * n_demos)`` (label-major, then demo) and copy
    ``i // (26 * n_demos)``. Train: every copy augmented, 20 copies by default. Validation
    (demo 4) and test (demos 5-6): copy 0 clean, copies 1-4 augmented (test: 260 clips).
    With ``augment=False`` every copy is clean and the default size is one copy.
    """

    def __init__(
        self,
        split: str = "train",
        *,
        frames: int = GESTURE_FRAMES,
        size: int | None = None,
        seed: int | None = None,
        augment: bool | None = None,
        holdout_validation: bool = False,
        augmentation: Augmentation = AUGMENTATION,
    ) -> None:
        self.split = split
        self.demos = _split_demos(split, holdout_validation)
        self.frames = operator.index(frames)
        if self.frames < 2:
            raise ValueError(f"frames must be >= 2, got {self.frames}")
        self.seed = SPLIT_SEEDS[split] if seed is None else operator.index(seed)
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        self.augment = True if augment is None else bool(augment)
        self.augmentation = augmentation
        self.pairs = len(gesture_labels()) * len(self.demos)
        copies = (TRAIN_COPIES if split == "train" else EVAL_COPIES) if self.augment else 1
        self.size = self.pairs * copies if size is None else operator.index(size)
        if self.size < 0:
            raise ValueError(f"size must be >= 0, got {self.size}")

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return (
            f"LasaAirwriting(split={self.split!r}, frames={self.frames}, size={self.size}, "
            f"seed={self.seed}, augment={self.augment}, demos={self.demos})"
        )

    def recipe(self, index: int) -> ClipRecipe:
        """Label, demonstration and augmentation of item ``index``."""
        return self._recipe(_checked_index(index, self.size, self))

    def _recipe(self, i: int) -> ClipRecipe:
        pair, copy = i % self.pairs, i // self.pairs
        label, demo = divmod(pair, len(self.demos))
        clean_first = self.split != "train"
        augmented = self.augment and not (clean_first and copy == 0)
        return ClipRecipe(label=label, demo=self.demos[demo], augmented=augmented)

    def _positions(self, index: int) -> tuple[ClipRecipe, np.ndarray, np.random.Generator]:
        i = _checked_index(index, self.size, self)
        recipe = self._recipe(i)
        rng = np.random.default_rng((self.seed, i))
        positions = gesture_positions(
            recipe.label,
            recipe.demo,
            self.frames,
            rng if recipe.augmented else None,
            self.augmentation,
        )
        return recipe, positions, rng

    def positions(self, index: int) -> np.ndarray:
        """Fingertip centres of item ``index`` without rendering: (frames, 2) float32 px."""
        return self._positions(index)[1]

    def __getitem__(self, index: int) -> GestureClip:
        recipe, positions, rng = self._positions(index)
        return GestureClip(frames=render(positions, rng), label=recipe.label, positions=positions)


class ContinuousStreams:
    """Random-access, deterministic streams of 3-5 gestures separated by idle frames.

    Each gesture is GESTURE_FRAMES long. Idle runs: 8-16 frames between gestures and 0-16
    before the first and after the last; in each run (50/50) the fingertip is absent or rests,
    with 1 px jitter, where the previous gesture ended (before the first: where it starts).
    Validation and test draw each gesture from that split's isolated clips (clean or augmented;
    clean only with ``augment=False``); train augments training demonstrations afresh.
    """

    GESTURES = (3, 5)  # inclusive range of gestures per stream
    GAP = (8, 16)  # inclusive range of idle frames between gestures
    EDGE = (0, 16)  # inclusive range of idle frames before the first and after the last
    REST_JITTER = 1.0  # px, standard deviation

    def __init__(
        self,
        split: str = "test",
        *,
        count: int | None = None,
        seed: int | None = None,
        augment: bool | None = None,
    ) -> None:
        self.split = split
        self.demos = _split_demos(split)
        self.count = STREAM_COUNTS[split] if count is None else operator.index(count)
        self.seed = SPLIT_SEEDS[split] if seed is None else operator.index(seed)
        if self.count < 0:
            raise ValueError(f"count must be >= 0, got {self.count}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        self.augment = True if augment is None else bool(augment)
        self._clips = None if split == "train" else LasaAirwriting(split, augment=self.augment)

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return (
            f"ContinuousStreams(split={self.split!r}, count={self.count}, seed={self.seed}, "
            f"augment={self.augment})"
        )

    def _gesture(self, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        """One gesture's label and (GESTURE_FRAMES, 2) positions."""
        if self._clips is not None:
            j = int(rng.integers(len(self._clips)))
            return self._clips.recipe(j).label, self._clips.positions(j)
        label = int(rng.integers(len(gesture_labels())))
        demo = self.demos[int(rng.integers(len(self.demos)))]
        return label, gesture_positions(label, demo, GESTURE_FRAMES, rng if self.augment else None)

    def _idle(self, rng: np.random.Generator, length: int, rest: np.ndarray) -> np.ndarray:
        """(length, 2) positions of an idle run: absent (NaN) or resting at ``rest``, 50/50."""
        if rng.random() < 0.5:
            return np.full((length, 2), np.nan, np.float32)
        jitter = rng.normal(0.0, self.REST_JITTER, size=(length, 2))
        return np.clip(rest[None, :] + jitter, *POSITION_LIMITS).astype(np.float32)

    def __getitem__(self, index: int) -> GestureStream:
        i = _checked_index(index, self.count, self)
        rng = np.random.default_rng((self.seed, i))
        n = int(rng.integers(self.GESTURES[0], self.GESTURES[1] + 1))
        gestures = [self._gesture(rng) for _ in range(n)]
        gaps = [int(g) for g in rng.integers(self.GAP[0], self.GAP[1] + 1, size=n - 1)]
        lead, trail = (int(e) for e in rng.integers(self.EDGE[0], self.EDGE[1] + 1, size=2))
        parts = [self._idle(rng, lead, gestures[0][1][0])]
        labels = [np.full(lead, -1, np.int32)]
        events, cursor = [], lead
        for k, (label, positions) in enumerate(gestures):
            parts.append(positions)
            labels.append(np.full(len(positions), label, np.int32))
            events.append(GestureSpan(label, cursor, cursor + len(positions)))
            cursor += len(positions)
            idle = gaps[k] if k < n - 1 else trail
            parts.append(self._idle(rng, idle, positions[-1]))
            labels.append(np.full(idle, -1, np.int32))
            cursor += idle
        positions = np.concatenate(parts).astype(np.float32)
        return GestureStream(
            frames=render(positions, rng),
            frame_labels=np.concatenate(labels),
            positions=positions,
            events=tuple(events),
        )
