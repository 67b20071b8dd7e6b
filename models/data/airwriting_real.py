"""The `airwriting-real` benchmark: LASA shapes written in the air by a real hand, in real video.

See BENCHMARKS.md. A real hand photo (hand_photo.py: opencv-doc's handSrc.jpg, cut out, fingers
up) is pasted (hand_compositing.py) over real background video (background_videos.py) so that
its index fingertip follows the held-out human demonstrations (5 and 6) of the 26
lasa-airwriting shapes, at 10 fps in 640 x 480 frames:

- `RealIsolatedClips`: 52 clips, one per (shape, demo): the hand held still for HOLD frames,
  then the shape written in 36-48 frames. Clip i shows shape i // 2, demo 5 + i % 2.
- `RealContinuousClips`: every one of the 52 (shape, demo) pairs once, shuffled into streams
  of 3-5 shapes; between shapes the hand rests, moves to where the next shape starts, rests.

Per clip: the hand 30-40% of the frame high, tilted up to 20 degrees (a fixed tilt plus a slow
sway), a colour gain; the shape's box 40-55% of the frame high, placed so the fingertip stays
inside the frame and, where it fits, the whole hand too; a fingertip tremor. The ground truth
(`RealClip`: true fingertip per frame, the shapes' frames and times) comes without rendering;
`clip_frames` renders. Deterministic: clip i of seed s draws from
``np.random.default_rng((s, kind, i))``, so the same seed gives byte-identical frames (given
the same OpenCV build: the backgrounds are decoded videos).

Coordinates are continuous pixels: pixel (row r, column c) covers [c, c+1) x [r, r+1), y down.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from framescribe.models.data.background_videos import (
    BACKGROUNDS,
    FPS,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    open_background,
)
from framescribe.models.data.hand_compositing import (
    Placement,
    ScaledHand,
    outline_extent,
    paste_hand,
    scale_hand,
)
from framescribe.models.data.hand_photo import HAND_PHOTO, load_hand_cutout
from framescribe.models.data.lasa_airwriting import GestureSpan, _checked_index
from framescribe.models.data.lasa_airwriting_paths import (
    FRAME_SIZE,
    MARGIN,
    demo_positions,
    gesture_labels,
    resample,
)

TEST_DEMOS = (5, 6)
TEST_SEED = 1234
KINDS = ("isolated", "continuous")
SHAPE_EXTENT = FRAME_SIZE - 2 * MARGIN  # px: a shape's box in lasa_airwriting_paths' frame


@dataclass(frozen=True)
class RealStyle:
    """Ranges a clip is drawn from (override with dataclasses.replace); (min, max) inclusive.

    hand_height: the hand's height (upright) / the frame's. span: the shape's box / the frame's
    height. tilt: max |degrees| of a clip's fixed tilt; sway: max amplitude (degrees) of its
    slow change, over sway_period seconds. writing: frames of one shape. hold: frames the hand
    is still before the first shape. gap: frames between shapes (continuous), of which `move`
    the hand travels. trail: frames after the last shape (continuous). tremor: px (standard
    deviation) of the fingertip, every frame. gain: the hand's colour factor. margin: the
    fingertip's least distance from the frame's edge, of its height.
    """

    hand_height: tuple[float, float] = (0.30, 0.40)
    span: tuple[float, float] = (0.40, 0.55)
    tilt: float = 15.0
    sway: float = 5.0
    sway_period: tuple[float, float] = (3.0, 6.0)
    writing: tuple[int, int] = (36, 48)
    hold: tuple[int, int] = (4, 8)
    gap: tuple[int, int] = (8, 16)
    move: tuple[int, int] = (3, 6)
    trail: tuple[int, int] = (4, 12)
    tremor: float = 0.5
    gain: tuple[float, float] = (0.85, 1.1)
    margin: float = 0.05
    shapes: tuple[int, int] = (3, 5)  # per continuous clip


STYLE = RealStyle()


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class RealClip:
    """One clip's recipe and ground truth (no frames: `clip_frames` renders them).

    name: "isolated-0007" or "continuous-0003". events: the shapes in time order, frame
    indices [start, end) of their writing (an isolated clip has one). shapes: the (label, demo)
    of each event. tips: (N, 2) float64, the fingertip (x, y) px in every frame. angles: (N,)
    the hand's tilt, degrees clockwise. frame_labels: (N,) int32, -1 where no shape is written.
    hand_height: px. gain: the hand's colour factor. background, background_start: the
    background video (a BACKGROUNDS name) and its first frame (at FPS).
    """

    name: str
    events: tuple[GestureSpan, ...]
    shapes: tuple[tuple[int, int], ...]
    tips: np.ndarray
    angles: np.ndarray
    frame_labels: np.ndarray
    hand_height: float
    gain: float
    background: str
    background_start: int
    fps: float = FPS
    width: int = FRAME_WIDTH
    height: int = FRAME_HEIGHT

    @property
    def label(self) -> int:
        """The last shape's label (an isolated clip's only one)."""
        return self.events[-1].label

    @property
    def frames(self) -> int:
        return len(self.tips)

    def event_times(self) -> tuple[tuple[int, float, float], ...]:
        """(label, start_s, end_s) per shape: frame i is shown from i / fps to (i + 1) / fps."""
        return tuple((e.label, e.start / self.fps, e.end / self.fps) for e in self.events)


def _interval(low: np.ndarray, high: np.ndarray) -> tuple[float, float] | None:
    lo, hi = float(np.max(low)), float(np.min(high))
    return (lo, hi) if lo <= hi else None


def _place(points: np.ndarray, angles: np.ndarray, hand: ScaledHand, style: RealStyle,
           rng: np.random.Generator) -> np.ndarray:
    """A shape's fingertip path (frames, 2) around 0 -> moved into the frame: the fingertip
    `margin` inside, and the hand inside too where it fits (bottom edge given up first)."""
    extents = [outline_extent(hand, float(a)) for a in angles]
    lows = points + np.array([e[0] for e in extents])  # the hand's box per frame, around 0
    highs = points + np.array([e[1] for e in extents])
    size = np.array([FRAME_WIDTH, FRAME_HEIGHT], np.float64)
    margin = style.margin * FRAME_HEIGHT
    centre = np.empty(2)
    for axis in (0, 1):
        tip = _interval(margin - points[:, axis], size[axis] - margin - points[:, axis])
        if tip is None:
            raise ValueError(f"a shape of {np.ptp(points[:, axis]):.0f} px does not fit in "
                             f"the frame's {size[axis]:.0f} px")
        near = _interval(np.append(-lows[:, axis], tip[0]), np.append(size[axis], tip[1]))
        whole = _interval(np.append(-lows[:, axis], tip[0]),
                          np.append(size[axis] - highs[:, axis], tip[1]))
        if axis == 1:  # the bottom edge may cut the wrist, never the fingers
            chosen = whole or near or tip
        else:
            chosen = whole or tip
        centre[axis] = rng.uniform(*chosen)
    return points + centre


def _shape_points(label: int, demo: int, frames: int, span: float) -> np.ndarray:
    """A shape's path resampled to `frames` (uniform in time, as LASA records it), its box
    `span` of the frame high, centred on 0: (frames, 2) px."""
    path = resample(demo_positions(label)[demo], frames) - FRAME_SIZE / 2
    return path * (span * FRAME_HEIGHT / SHAPE_EXTENT)


def _angles(count: int, style: RealStyle, rng: np.random.Generator) -> np.ndarray:
    base = rng.uniform(-style.tilt, style.tilt)
    sway = rng.uniform(0.0, style.sway)
    period = rng.uniform(*style.sway_period) * FPS
    phase = rng.uniform(0.0, 2 * np.pi)
    return base + sway * np.sin(2 * np.pi * np.arange(count) / period + phase)


def _move(start: np.ndarray, end: np.ndarray, frames: int) -> np.ndarray:
    """(frames, 2) a smooth (cosine-eased) move from `start` to `end`, both excluded."""
    fraction = (1 - np.cos(np.pi * np.arange(1, frames + 1) / (frames + 1))) / 2
    return start + fraction[:, None] * (end - start)[None, :]


def _clip(name: str, shapes: list[tuple[int, int]], background: str, style: RealStyle,
          rng: np.random.Generator, continuous: bool) -> RealClip:
    """Draw a clip's timeline, hand and paths: the RealClip (ground truth) of `shapes`."""
    height = rng.uniform(*style.hand_height) * FRAME_HEIGHT
    gain = float(rng.uniform(*style.gain))
    writing = [int(rng.integers(style.writing[0], style.writing[1] + 1)) for _ in shapes]
    hold = int(rng.integers(style.hold[0], style.hold[1] + 1))
    gaps = [int(rng.integers(style.gap[0], style.gap[1] + 1)) for _ in shapes[1:]]
    trail = int(rng.integers(style.trail[0], style.trail[1] + 1)) if continuous else 0
    starts = np.cumsum([hold] + [w + g for w, g in zip(writing, gaps + [0], strict=True)])
    total = int(starts[-1]) + trail
    angles = _angles(total, style, rng)
    hand = _scaled_hand(height, gain)
    tips = np.full((total, 2), np.nan)
    labels = np.full(total, -1, np.int32)
    events = []
    for (label, demo), start, frames in zip(shapes, starts[:-1], writing, strict=True):
        points = _shape_points(label, demo, frames, rng.uniform(*style.span))
        end = int(start) + frames
        tips[start:end] = _place(points, angles[start:end], hand, style, rng)
        labels[start:end] = label
        events.append(GestureSpan(label, int(start), end))
    tips[:hold] = tips[hold]
    for before, after in zip(events[:-1], events[1:], strict=True):
        gap = after.start - before.end
        move = int(rng.integers(style.move[0], min(style.move[1], gap - 2) + 1))
        first = before.end + int(rng.integers(1, gap - move))
        tips[before.end:first] = tips[before.end - 1]
        tips[first:first + move] = _move(tips[before.end - 1], tips[after.start], move)
        tips[first + move:after.start] = tips[after.start]
    tips[events[-1].end:] = tips[events[-1].end - 1]
    tips += rng.normal(0.0, style.tremor, tips.shape)
    video = open_background(background)
    start = int(rng.integers(0, max(1, video.length - total + 1)))
    for array in (tips, angles, labels):
        array.flags.writeable = False
    return RealClip(name=name, events=tuple(events), shapes=tuple(shapes), tips=tips,
                    angles=angles, frame_labels=labels, hand_height=float(hand.height),
                    gain=gain, background=background, background_start=start)


def hand_photo_path():
    from framescribe.models.data.package_media import opencv_doc_file

    return opencv_doc_file(HAND_PHOTO)


def _scaled_hand(height: float, gain: float) -> ScaledHand:
    return scale_hand(load_hand_cutout(hand_photo_path()), height, gain)


def clip_frames(clip: RealClip) -> Iterator[np.ndarray]:
    """The clip's frames, in order: (height, width, 3) uint8 RGB, each a new array."""
    hand = _scaled_hand(clip.hand_height, clip.gain)
    background = open_background(clip.background).frames(clip.background_start, clip.frames)
    for frame, (x, y), angle in zip(background, clip.tips.tolist(), clip.angles.tolist(),
                                    strict=True):
        paste_hand(frame, hand, Placement(x, y, angle))
        yield frame


class _RealClips:
    kind = ""

    def __init__(self, seed: int = TEST_SEED, *, style: RealStyle = STYLE,
                 backgrounds: tuple[str, ...] = tuple(b.name for b in BACKGROUNDS),
                 demos: tuple[int, ...] = TEST_DEMOS) -> None:
        self.seed = operator.index(seed)
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not backgrounds:
            raise ValueError("at least one background is needed")
        self.style, self.backgrounds, self.demos = style, tuple(backgrounds), tuple(demos)
        self.pairs = [(label, demo) for label in range(len(gesture_labels()))
                      for demo in self.demos]

    def __len__(self) -> int:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(seed={self.seed}, clips={len(self)}, "
                f"demos={self.demos}, backgrounds={self.backgrounds})")

    def __iter__(self) -> Iterator[RealClip]:
        return (self[i] for i in range(len(self)))


class RealIsolatedClips(_RealClips):
    """One clip per (shape, demo): clip i shows shape i // len(demos), demo i % len(demos),
    over background i % len(backgrounds)."""

    kind = "isolated"

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> RealClip:
        i = _checked_index(index, len(self), self)
        rng = np.random.default_rng((self.seed, KINDS.index(self.kind), i))
        return _clip(f"{self.kind}-{i:04d}", [self.pairs[i]],
                     self.backgrounds[i % len(self.backgrounds)], self.style, rng, False)


class RealContinuousClips(_RealClips):
    """Every (shape, demo) once, shuffled, in clips of `style.shapes` shapes; clip i over
    background i % len(backgrounds)."""

    kind = "continuous"

    def __init__(self, seed: int = TEST_SEED, **kwargs) -> None:
        super().__init__(seed, **kwargs)
        rng = np.random.default_rng((self.seed, KINDS.index(self.kind)))
        order = [self.pairs[j] for j in rng.permutation(len(self.pairs))]
        low, high = self.style.shapes
        self.groups: list[list[tuple[int, int]]] = []
        while order:
            take = int(rng.integers(low, high + 1))
            if 0 < len(order) - take < low:  # what would be left is too few for a clip
                take = len(order) if len(order) <= high else len(order) - low
            self.groups.append(order[:take])
            order = order[take:]

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, index: int) -> RealClip:
        i = _checked_index(index, len(self), self)
        rng = np.random.default_rng((self.seed, KINDS.index(self.kind), 1_000_000 + i))
        return _clip(f"{self.kind}-{i:04d}", self.groups[i],
                     self.backgrounds[i % len(self.backgrounds)], self.style, rng, True)


def real_clips(kind: str, seed: int = TEST_SEED, **kwargs) -> _RealClips:
    """RealIsolatedClips or RealContinuousClips by kind ("isolated", "continuous")."""
    if kind == "isolated":
        return RealIsolatedClips(seed, **kwargs)
    if kind == "continuous":
        return RealContinuousClips(seed, **kwargs)
    raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
