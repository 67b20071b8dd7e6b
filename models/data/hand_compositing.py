"""Pasting a cut-out hand into a video frame so that its index fingertip lands on a point.

A clip sizes the hand once (`scale_hand`: area-averaged, alpha premultiplied, so no fringe),
then each frame places it (`Placement`: the fingertip's position and the hand's tilt) and
`paste_hand` warps it there (bilinear, only the hand's box of the frame) and blends it over.

Coordinates are continuous pixels: pixel (row r, column c) covers [c, c+1) x [r, r+1), so its
centre is (c + 0.5, r + 0.5); angles are degrees, positive clockwise on screen (fingers lean
right).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from framescribe.models.data.hand_photo import HandCutout


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class ScaledHand:
    """A hand at its clip's size. layers: (h, w, 4) float32, RGB premultiplied by alpha (0-255)
    then alpha (0-1); tip: the fingertip (x, y) px; outline: (k, 2) its silhouette's convex
    hull, px relative to the tip."""

    layers: np.ndarray
    tip: tuple[float, float]
    outline: np.ndarray

    @property
    def height(self) -> int:
        return int(self.layers.shape[0])


@dataclass(frozen=True)
class Placement:
    """Where a frame shows the hand: its fingertip at (x, y) px, tilted `angle` degrees."""

    x: float
    y: float
    angle: float = 0.0


def scale_hand(cutout: HandCutout, height: float, gain: float = 1.0) -> ScaledHand:
    """The cut-out resized to `height` px (aspect kept), its colour multiplied by `gain`."""
    h = max(1, round(height))
    w = max(1, round(cutout.width * h / cutout.height))
    sx, sy = w / cutout.width, h / cutout.height
    layers = np.empty((*cutout.alpha.shape, 4), np.float32)
    layers[..., 3] = cutout.alpha
    layers[..., :3] = cutout.rgb * (cutout.alpha[..., None] * np.float32(gain))
    layers = cv2.resize(layers, (w, h), interpolation=cv2.INTER_AREA)
    np.clip(layers[..., :3], 0.0, 255.0, out=layers[..., :3])
    tip = (cutout.tip[0] * sx, cutout.tip[1] * sy)
    contours, _ = cv2.findContours((layers[..., 3] > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.convexHull(np.concatenate(contours)).reshape(-1, 2).astype(np.float64)
    outline = hull + 0.5 - np.array(tip)  # pixel centres, relative to the tip
    layers.flags.writeable = outline.flags.writeable = False
    return ScaledHand(layers, tip, outline)


def rotation(angle: float) -> np.ndarray:
    """(2, 2): turns image vectors `angle` degrees clockwise on screen (y grows downward)."""
    a = np.deg2rad(angle)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def hand_to_frame(hand: ScaledHand, placement: Placement) -> np.ndarray:
    """(2, 3) affine map of continuous px: the hand's -> the frame's (tip -> (x, y))."""
    turn = rotation(placement.angle)
    shift = np.array([placement.x, placement.y]) - turn @ np.array(hand.tip)
    return np.hstack([turn, shift[:, None]])


def outline_extent(hand: ScaledHand, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """The hand's (min, max) x and y relative to its tip when tilted `angle` degrees."""
    turned = hand.outline @ rotation(angle).T
    return turned.min(axis=0), turned.max(axis=0)


def _warped(hand: ScaledHand, placement: Placement, width: int, height: int
            ) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The hand's layers warped into its box of a width x height frame: ((x0, y0, x1, y1),
    (y1 - y0, x1 - x0, 4) float32), None when the hand is out of the frame."""
    affine = hand_to_frame(hand, placement)
    h, w = hand.layers.shape[:2]
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) @ affine[:, :2].T
    corners += affine[:, 2]
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, (width, height))
    if x1 <= x0 or y1 <= y0:
        return None
    # Pixel indices i (centre i + 0.5): j = A i + A 0.5 + b - 0.5, less the box's corner.
    index_affine = affine.copy()
    index_affine[:, 2] += affine[:, :2] @ [0.5, 0.5] - 0.5 - np.array([x0, y0])
    layers = cv2.warpAffine(hand.layers, index_affine, (int(x1 - x0), int(y1 - y0)),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=(0.0, 0.0, 0.0, 0.0))
    return (int(x0), int(y0), int(x1), int(y1)), layers


def paste_hand(frame: np.ndarray, hand: ScaledHand, placement: Placement) -> None:
    """Blend the hand over `frame` ((H, W, 3) uint8 RGB, changed in place)."""
    warped = _warped(hand, placement, frame.shape[1], frame.shape[0])
    if warped is None:
        return
    (x0, y0, x1, y1), layers = warped
    box = frame[y0:y1, x0:x1].astype(np.float32)
    box *= 1.0 - layers[..., 3:]
    box += layers[..., :3]
    frame[y0:y1, x0:x1] = np.clip(np.rint(box), 0, 255).astype(np.uint8)


def hand_alpha(width: int, height: int, hand: ScaledHand, placement: Placement) -> np.ndarray:
    """The hand's coverage of a width x height frame: (height, width) float32 in [0, 1]."""
    alpha = np.zeros((height, width), np.float32)
    warped = _warped(hand, placement, width, height)
    if warped is not None:
        (x0, y0, x1, y1), layers = warped
        alpha[y0:y1, x0:x1] = layers[..., 3]
    return alpha
