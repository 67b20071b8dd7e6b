"""A real hand photo cut out of its background, fingers up, with its index fingertip marked.

The photo is Debian opencv-doc's ``html/handSrc.jpg`` (640 x 480): an open hand lying on a
light grey table, palm towards the camera, fingers pointing right, thumb at the top, wrist cut
by the photo's left edge. `cut_out_hand` separates it from the table by skin colour (Cr of YCrCb:
the table sits near 123, skin at 140-150; Otsu's threshold falls at 132 between them), keeps
the largest blob with its holes filled, softens its edge, fades the wrist cut and turns it 90
degrees counter-clockwise, so the fingers point up and the wrist is at the bottom.

Coordinates are continuous pixels: pixel (row r, column c) covers [c, c+1) x [r, r+1).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

HAND_PHOTO = "opencv4/html/handSrc.jpg"  # in opencv-doc, under /usr/share/doc/opencv-doc/
# The index fingertip in handSrc.jpg (x, y), continuous px. Measured once on the cut-out mask:
# the index finger's midline (centres of the mask's column runs, x = 455-490) runs at y 143 ->
# 139.5 near the tip and leaves the mask at x = 496; the tip is taken 1 px inside that end.
PHOTO_TIP = (495.0, 140.0)
# Where MediaPipe HandLandmarker (hand_landmark_full, VIDEO mode) puts landmark 8 on this hand:
# 20 px further in along the finger, on the fingertip's pad rather than its end. Measured on
# the upright cut-out pasted over grey, vtest and bikes frames at 30, 35, 40 and 60% of the
# frame's height, tilted -15, 0 and 15 degrees: mean (475.0, 141.9), sd 1.7 px (36 renders);
# tests/test_airwriting_real.py checks it on generated clips.
PHOTO_LANDMARK8 = (475.0, 142.0)
FEATHER = 1.2  # px (Gaussian sigma) of the soft edge of the cut-out's alpha
WRIST_FADE = 24  # px of the photo's wrist cut (its left edge) over which alpha fades to 0
_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class HandCutout:
    """A hand with fingers up. rgb: (H, W, 3) uint8 RGB; alpha: (H, W) float32 in [0, 1];
    tip: the index fingertip (x, y), continuous px in the cut-out."""

    rgb: np.ndarray
    alpha: np.ndarray
    tip: tuple[float, float]

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


def skin_mask(bgr: np.ndarray) -> np.ndarray:
    """The hand's silhouette in a photo of a hand on a plain background: (H, W) bool.

    Otsu's threshold on the blurred Cr channel, a 7 px opening and closing, the largest blob,
    its holes filled."""
    cr = cv2.GaussianBlur(cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 1], (5, 5), 0)
    _, mask = cv2.threshold(cr, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(cv2.morphologyEx(mask, cv2.MORPH_OPEN, _KERNEL), cv2.MORPH_CLOSE,
                            _KERNEL)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if count < 2:
        raise ValueError("no skin-coloured region found in the hand photo")
    hand = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    outside = np.pad(~hand, 1, constant_values=True).astype(np.uint8)
    cv2.floodFill(outside, None, (0, 0), 2)  # background reachable from the border
    return outside[1:-1, 1:-1] != 2


def cut_out_hand(bgr: np.ndarray, tip: tuple[float, float] = PHOTO_TIP) -> HandCutout:
    """A photo (BGR, fingers pointing right, wrist at the left edge) -> the hand, fingers up,
    cropped to its silhouette."""
    mask = skin_mask(bgr)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), FEATHER) * mask  # no halo
    np.clip(alpha, 0.0, 1.0, out=alpha)
    fade = np.clip((np.arange(alpha.shape[1], dtype=np.float32) + 0.5) / WRIST_FADE, 0.0, 1.0)
    alpha *= fade[None, :]
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    # 90 degrees counter-clockwise: (x, y) -> (y, width - x) in continuous px.
    rgb = cv2.rotate(rgb, cv2.ROTATE_90_COUNTERCLOCKWISE)
    alpha = cv2.rotate(alpha, cv2.ROTATE_90_COUNTERCLOCKWISE)
    turned_tip = (tip[1], bgr.shape[1] - tip[0])
    rows, cols = np.nonzero(alpha > 0)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    rgb = np.ascontiguousarray(rgb[top:bottom, left:right])
    alpha = np.ascontiguousarray(alpha[top:bottom, left:right])
    rgb.flags.writeable = alpha.flags.writeable = False
    return HandCutout(rgb, alpha, (turned_tip[0] - float(left), turned_tip[1] - float(top)))


@functools.lru_cache(maxsize=4)
def load_hand_cutout(path: str | Path) -> HandCutout:
    """The hand cut out of a photo file (handSrc.jpg), cached per path."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"{path}: cannot read the hand photo")
    return cut_out_hand(bgr)
