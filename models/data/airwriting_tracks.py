"""The `airwriting-lasa` benchmark: LASA shapes written in the air by a tracked hand.

The 26 lasa-airwriting shapes (lasa_airwriting_paths.py) as fingertip tracks in a camera frame,
seen through a hand tracker (airwriting_hands.py: ISLR-layout landmark frames at 10 fps, one
hand slot filled, NaN where the hand was not found). What varies, as with a real hand and a
real tracker: where in the frame and how big the shape is drawn relative to the hand, its
rotation and a slight stretch, the writing speed (gesture length and a time warp), the camera's
aspect ratio, the hand's size, tilt and shape, the tracker's per-landmark jitter and its
constant fingertip offset, missed frames, the hand found only after the clip began, and a hand
resting before it writes.

- Isolated clips (`AirwritingClips`): [resting hand] + one shape; the first frames may be
  misses. Test: demonstrations 5-6 (unseen), 26 x 2 x 5 = 260 clips: per (shape, demo) one
  clean clip (CLEAN_SCENE, 32 frames, centred, no noise) and 4 with TEST_STYLE's variations.
- Continuous streams (`AirwritingStreams`): 3-5 shapes in one scene, 8-16 idle frames between
  them and 0-16 before and after; an idle run is the hand out of view, resting, or resting and
  moving quickly to where the next shape starts. Test: 100 streams.
- Training streams (`training_stream`): 1-4 shapes of demonstrations 0-4, TRAIN_STYLE (wider
  ranges than the test's).

Deterministic: item i with seed s comes from np.random.default_rng((s, i)).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, replace

import numpy as np

from framescribe.models.data.airwriting_hands import (
    CLEAN_SCENE,
    SCENE_STYLE,
    HandScene,
    SceneStyle,
    landmark_frames,
    random_scene,
)
from framescribe.models.data.lasa_airwriting import GestureSpan, _checked_index
from framescribe.models.data.lasa_airwriting_paths import (
    FRAME_SIZE,
    GESTURE_FRAMES,
    MARGIN,
    demo_positions,
    gesture_labels,
    resample,
)

SPLIT_DEMOS = {"train": (0, 1, 2, 3, 4), "validation": (4,), "test": (5, 6)}
SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 1234}
EVAL_COPIES = 5  # per (shape, demo): the clean clip and 4 varied ones
STREAM_COUNT = 100  # continuous streams per evaluation split
SHAPE_EXTENT = FRAME_SIZE - 2 * MARGIN  # px: the LASA paths' box in their 64 px frame
CLEAN_SIZE = 3.0  # a clean clip's shape extent, in hand sizes
FRAME_MARGIN = 0.04  # of the frame's width/height, kept between the shape and the edge


@dataclass(frozen=True)
class WritingStyle:
    """How shapes are written and tracked (override with dataclasses.replace).

    frames: (min, max) frames of one shape (10 fps). time_warp: max |coefficient| of the warp
    (lasa_airwriting_paths.resample). size: (min, max) shape extent in hand sizes (drawn
    log-uniform). rotation: max |degrees|. stretch: max relative x/y scale difference.
    drop: (min, max) per-clip chance that a frame with the hand in view is missed.
    hold: (min, max) frames the hand rests before writing. lead_missing: max frames missed at
    the start (up to 3 frames into the shape when it holds less). tremor: px (standard
    deviation) of a resting hand. gestures: (min, max) shapes per training stream.
    """

    frames: tuple[int, int] = (26, 56)
    time_warp: float = 0.4
    size: tuple[float, float] = (1.5, 5.5)
    rotation: float = 25.0
    stretch: float = 0.12
    drop: tuple[float, float] = (0.0, 0.1)
    hold: tuple[int, int] = (0, 18)
    lead_missing: int = 10
    tremor: float = 0.7
    gestures: tuple[int, int] = (1, 4)
    scene: SceneStyle = SCENE_STYLE


TRAIN_STYLE = WritingStyle()
# Test: the conditions of a real hand in 640 x 480 (or 16:9) video under MediaPipe (see
# BENCHMARKS.md, airwriting-real): hand 30-40% of the frame high, tilts up to 20 degrees,
# ~1 px jitter, a few px fingertip offset, misses before the first detection.
TEST_STYLE = WritingStyle(
    frames=(32, 48), size=(2.0, 4.5), rotation=20.0, stretch=0.08, drop=(0.0, 0.04),
    hold=(0, 6), lead_missing=8,
    scene=replace(SCENE_STYLE, aspects=(4 / 3, 16 / 9), hand_height=(0.3, 0.4), tilt=20.0,
                  jitter=(0.5, 1.5), left_hand=0.2))
GAP = (8, 16)  # idle frames between shapes in a stream
MIN_SETTLE = 3  # frames a hand that moved between shapes rests before the next one
EDGE = (0, 16)  # idle frames before the first and after the last shape


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class AirwritingStream:
    """Landmark frames of a hand writing one or more shapes.

    landmarks: (N, 543, 3) float32, ISLR layout, NaN where not found. tips: (N, 2) the true
    fingertip in px, NaN where the tracker missed the hand. frame_labels: (N,) int32, -1 idle.
    events: the shapes, in time order (an isolated clip has one: its label).
    """

    landmarks: np.ndarray
    tips: np.ndarray
    frame_labels: np.ndarray
    events: tuple[GestureSpan, ...]
    scene: HandScene

    @property
    def label(self) -> int:
        return self.events[-1].label


def shape_track(label: int, demo: int, scene: HandScene, rng: np.random.Generator | None,
                style: WritingStyle = TRAIN_STYLE) -> np.ndarray:
    """One shape's true fingertip positions (frames, 2) px in the scene's frame. rng None: the
    clean version (GESTURE_FRAMES frames, CLEAN_SIZE hand sizes, centred, upright)."""
    path = demo_positions(label)[demo]
    frame = np.array([scene.width, scene.height])
    if rng is None:
        points = (resample(path, GESTURE_FRAMES) - FRAME_SIZE / 2) * (
            CLEAN_SIZE * scene.hand_size / SHAPE_EXTENT)
        return points + frame / 2
    frames = int(rng.integers(style.frames[0], style.frames[1] + 1))
    warp = rng.uniform(-style.time_warp, style.time_warp, size=2)
    points = resample(path, frames, (float(warp[0]), float(warp[1]))) - FRAME_SIZE / 2
    size = np.exp(rng.uniform(*np.log(style.size))) * scene.hand_size / SHAPE_EXTENT
    stretch = 1.0 + rng.uniform(-style.stretch, style.stretch)
    angle = np.deg2rad(rng.uniform(-style.rotation, style.rotation))
    cos, sin = np.cos(angle), np.sin(angle)
    points = (points * [stretch, 1.0 / stretch]) @ np.array([[cos, -sin], [sin, cos]]).T * size
    low = FRAME_MARGIN * frame - points.min(axis=0)
    high = (1 - FRAME_MARGIN) * frame - points.max(axis=0)
    centre = np.where(high >= low, rng.uniform(np.minimum(low, high), np.maximum(low, high)),
                      (low + high) / 2)
    return points + centre


def _rest(point: np.ndarray, length: int, rng: np.random.Generator, style: WritingStyle):
    return point[None, :] + rng.normal(0.0, style.tremor, size=(length, 2))


def _idle(rng: np.random.Generator, length: int, before: np.ndarray | None,
          after: np.ndarray | None, style: WritingStyle) -> np.ndarray:
    """(length, 2) positions of an idle run after a shape ending at `before` (None: the stream
    starts) and before one starting at `after` (None: it ends): out of view (NaN), resting,
    or resting, moving quickly (2-5 frames) to the next start and resting there for at least
    MIN_SETTLE frames; a third each (no moving at a stream's edges or in short runs)."""
    move = int(rng.integers(2, 6))
    can_move = before is not None and after is not None and length >= move + 1 + MIN_SETTLE
    kind = rng.integers(3) if can_move else rng.integers(2)
    if kind == 0 or length == 0:
        return np.full((length, 2), np.nan)
    rest = before if before is not None else after
    if kind == 1:
        return _rest(rest, length, rng, style)
    first = int(rng.integers(1, length - move - MIN_SETTLE + 1))
    fraction = (1 - np.cos(np.pi * np.arange(1, move + 1) / (move + 1))) / 2
    path = before + fraction[:, None] * (after - before)[None, :]
    track = np.concatenate([np.repeat(before[None], first, 0), path,
                            np.repeat(after[None], length - first - move, 0)])
    return track + rng.normal(0.0, style.tremor, size=track.shape)


def _assemble(shapes: list[tuple[int, np.ndarray]], scene: HandScene,
              rng: np.random.Generator | None, style: WritingStyle, gaps: list[int],
              trail: int) -> AirwritingStream:
    """Shapes (label, track) with idle runs between them (gaps) and after (trail), a resting
    lead-in, missed frames at the start and throughout; then the tracker's landmarks."""
    parts, labels, events = [], [], []
    hold = 0 if rng is None else int(rng.integers(style.hold[0], style.hold[1] + 1))
    if hold:
        parts.append(_rest(shapes[0][1][0], hold, rng, style))
        labels.append(np.full(hold, -1))
    cursor = hold
    for k, (label, track) in enumerate(shapes):
        parts.append(track)
        labels.append(np.full(len(track), label))
        events.append(GestureSpan(label, cursor, cursor + len(track)))
        cursor += len(track)
        idle = gaps[k] if k < len(shapes) - 1 else trail
        following = shapes[k + 1][1][0] if k < len(shapes) - 1 else None
        if idle:
            parts.append(_idle(rng, idle, track[-1], following, style))
            labels.append(np.full(idle, -1))
            cursor += idle
    tips = np.concatenate(parts)
    if rng is not None:
        missed = int(rng.integers(0, min(style.lead_missing, hold + 3) + 1))
        tips[:missed] = np.nan
        drop = rng.uniform(*style.drop)
        tips[rng.random(len(tips)) < drop] = np.nan
    return AirwritingStream(landmarks=landmark_frames(tips, scene, rng), tips=tips,
                            frame_labels=np.concatenate(labels).astype(np.int32),
                            events=tuple(events), scene=scene)


def training_stream(seed: int, index: int, demos=SPLIT_DEMOS["train"],
                    style: WritingStyle = TRAIN_STYLE) -> AirwritingStream:
    """One training stream: 1-4 shapes (a single shape ending the stream a third of the time,
    the classifier's isolated case), random scene, TRAIN_STYLE."""
    rng = np.random.default_rng((seed, index))
    scene = random_scene(rng, style.scene)
    count = int(rng.integers(style.gestures[0], style.gestures[1] + 1))
    shapes = [_random_shape(rng, demos, scene, style) for _ in range(count)]
    gaps = [int(g) for g in rng.integers(GAP[0] - 2, GAP[1] + 3, size=count - 1)]
    trail = 0 if rng.random() < 0.35 else int(rng.integers(1, EDGE[1] + 1))
    return _assemble(shapes, scene, rng, style, gaps, trail)


def _random_shape(rng, demos, scene, style) -> tuple[int, np.ndarray]:
    label = int(rng.integers(len(gesture_labels())))
    demo = demos[int(rng.integers(len(demos)))]
    return label, shape_track(label, demo, scene, rng, style)


class AirwritingClips:
    """Isolated clips of a split: item i shows (shape, demo) pair i % pairs (label-major),
    copy i // pairs; copy 0 is clean, copies 1-4 vary with `style`."""

    def __init__(self, split: str = "test", *, style: WritingStyle = TEST_STYLE,
                 seed: int | None = None) -> None:
        if split not in SPLIT_DEMOS:
            raise ValueError(f"unknown split {split!r}; valid splits: {sorted(SPLIT_DEMOS)}")
        self.split, self.style = split, style
        self.demos = SPLIT_DEMOS[split]
        self.seed = SPLIT_SEEDS[split] if seed is None else operator.index(seed)
        self.pairs = len(gesture_labels()) * len(self.demos)
        self.size = self.pairs * EVAL_COPIES

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"AirwritingClips(split={self.split!r}, size={self.size}, seed={self.seed})"

    def __getitem__(self, index: int) -> AirwritingStream:
        i = _checked_index(index, self.size, self)
        pair, copy = i % self.pairs, i // self.pairs
        label, demo = divmod(pair, len(self.demos))
        demo = self.demos[demo]
        if copy == 0:
            return _assemble([(label, shape_track(label, demo, CLEAN_SCENE, None))],
                             CLEAN_SCENE, None, self.style, [], 0)
        rng = np.random.default_rng((self.seed, i))
        scene = random_scene(rng, self.style.scene)
        return _assemble([(label, shape_track(label, demo, scene, rng, self.style))], scene,
                         rng, self.style, [], 0)


class AirwritingStreams:
    """Continuous streams of a split: 3-5 shapes of its demonstrations in one scene, GAP idle
    frames between them and EDGE before and after."""

    GESTURES = (3, 5)

    def __init__(self, split: str = "test", *, count: int = STREAM_COUNT,
                 style: WritingStyle = TEST_STYLE, seed: int | None = None) -> None:
        if split not in SPLIT_DEMOS:
            raise ValueError(f"unknown split {split!r}; valid splits: {sorted(SPLIT_DEMOS)}")
        self.split, self.style, self.count = split, style, operator.index(count)
        self.demos = SPLIT_DEMOS[split]
        self.seed = SPLIT_SEEDS[split] if seed is None else operator.index(seed)

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"AirwritingStreams(split={self.split!r}, count={self.count}, seed={self.seed})"

    def __getitem__(self, index: int) -> AirwritingStream:
        i = _checked_index(index, self.count, self)
        rng = np.random.default_rng((self.seed, 1_000_000 + i))
        scene = random_scene(rng, self.style.scene)
        count = int(rng.integers(self.GESTURES[0], self.GESTURES[1] + 1))
        shapes = [_random_shape(rng, self.demos, scene, self.style) for _ in range(count)]
        gaps = [int(g) for g in rng.integers(GAP[0], GAP[1] + 1, size=count - 1)]
        trail = int(rng.integers(EDGE[0], EDGE[1] + 1))
        style = replace(self.style, hold=EDGE)
        return _assemble(shapes, scene, rng, style, gaps, trail)
