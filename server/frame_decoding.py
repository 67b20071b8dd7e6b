"""Wire frames (framescribe.v1 Image/Landmarks/Frame) to numpy arrays, checked before decoding.

Every problem raises FrameError, whose message names the frame, what was wrong and what is
allowed; servicers send it as an INVALID_ARGUMENT detail. Encoded images (JPEG, PNG) have their
dimensions read from the header and checked against FrameLimits before anything is decoded, so a
small file claiming a huge picture (a decompression bomb) costs nothing. The functions are pure
and cv2 releases the GIL while decoding, so they can run in a thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from framescribe.models.data.islr_layout import ISLR_LANDMARKS
from framescribe.v1 import framescribe_service_pb2 as pb

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LANDMARK_VALUES = ISLR_LANDMARKS * 3  # x, y, z per point: 1629
_RAW_CHANNELS = {pb.IMAGE_FORMAT_RGB24: 3, pb.IMAGE_FORMAT_BGR24: 3, pb.IMAGE_FORMAT_GRAY8: 1}
_RAW_NAMES = {pb.IMAGE_FORMAT_RGB24: "RGB24", pb.IMAGE_FORMAT_BGR24: "BGR24",
              pb.IMAGE_FORMAT_GRAY8: "GRAY8"}
_FORMATS = "JPEG, PNG, RGB24, BGR24 or GRAY8"
# SOF0-SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM, RST0-RST7, SOI.
_JPEG_STANDALONE = frozenset([0x01, *range(0xD0, 0xD9)])
_JPEG_SOS, _JPEG_EOI = 0xDA, 0xD9


class FrameError(ValueError):
    """A frame cannot be used; the message says which frame, what was wrong and what is allowed."""


@dataclass(frozen=True)
class FrameLimits:
    """Largest images accepted: pixels per frame (width * height) and pixels per side."""

    max_pixels_per_frame: int = 3840 * 2160
    max_side: int = 8192

    def __post_init__(self) -> None:
        for name in ("max_pixels_per_frame", "max_side"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FrameLimits.{name} must be an integer >= 1, got {value!r}")


def decode_image(image: pb.Image, limits: FrameLimits = FrameLimits(),
                 where: str = "frame") -> np.ndarray:
    """An Image message as a new (height, width, 3) uint8 RGB array, or FrameError."""
    data = image.data
    if image.format == pb.IMAGE_FORMAT_UNSPECIFIED:
        raise FrameError(f"{where}: image format is not set; use {_FORMATS}")
    if not data:
        raise FrameError(f"{where}: image data is empty (0 bytes)")
    if image.format == pb.IMAGE_FORMAT_JPEG:
        return _decode_encoded(data, "JPEG", _jpeg_size, limits, where)
    if image.format == pb.IMAGE_FORMAT_PNG:
        return _decode_encoded(data, "PNG", _png_size, limits, where)
    if image.format in _RAW_CHANNELS:
        return _decode_raw(image, limits, where)
    raise FrameError(f"{where}: unknown image format {image.format}; use {_FORMATS}")


def decode_landmarks(landmarks: pb.Landmarks, where: str = "frame") -> np.ndarray:
    """Landmarks as (543, 3) float32 x, y, z; NaN (point not found) is kept, infinity is not."""
    count = len(landmarks.values)
    if count != LANDMARK_VALUES:
        raise FrameError(
            f"{where}: landmarks need {LANDMARK_VALUES} values ({ISLR_LANDMARKS} points x, y, z "
            f"in the ISLR layout), got {count}")
    points = np.asarray(landmarks.values, dtype=np.float32).reshape(ISLR_LANDMARKS, 3)
    infinite = np.flatnonzero(np.isinf(points))
    if infinite.size:
        index = int(infinite[0])
        raise FrameError(
            f"{where}: landmark value {index} (point {index // 3}, {'xyz'[index % 3]}) is "
            f"infinite; values must be finite, or NaN for a point that was not found")
    return points


def check_timestamp(frame: pb.Frame, where: str = "frame") -> int:
    """The frame's timestamp in milliseconds, or FrameError when it is negative."""
    if frame.timestamp_ms < 0:
        raise FrameError(f"{where}: timestamp_ms must be 0 or more, got {frame.timestamp_ms}")
    return frame.timestamp_ms


def frame_time_seconds(frame: pb.Frame, where: str = "frame") -> float:
    """The frame's (checked) timestamp in seconds."""
    return check_timestamp(frame, where) / 1000.0


def _check_size(width: int, height: int, limits: FrameLimits, what: str, where: str) -> None:
    """FrameError unless 1 <= each side <= max_side and width * height <= max_pixels_per_frame."""
    if not (1 <= width <= limits.max_side and 1 <= height <= limits.max_side):
        raise FrameError(
            f"{where}: {what} of {width}x{height} is out of range; width and height must be "
            f"1-{limits.max_side} pixels")
    if width * height > limits.max_pixels_per_frame:
        raise FrameError(
            f"{where}: {what} of {width}x{height} has {width * height} pixels; at most "
            f"{limits.max_pixels_per_frame} are allowed per frame")


def _decode_raw(image: pb.Image, limits: FrameLimits, where: str) -> np.ndarray:
    name, channels = _RAW_NAMES[image.format], _RAW_CHANNELS[image.format]
    width, height = image.width, image.height
    if width == 0 or height == 0:
        raise FrameError(f"{where}: raw {name} images need width and height (1 or more), "
                         f"got {width}x{height}")
    _check_size(width, height, limits, f"raw {name} image", where)
    expected = width * height * channels
    if len(image.data) != expected:
        raise FrameError(
            f"{where}: raw {name} image of {width}x{height} needs {expected} bytes, "
            f"got {len(image.data)}")
    pixels = np.frombuffer(image.data, np.uint8).reshape(height, width, channels)
    if image.format == pb.IMAGE_FORMAT_BGR24:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    if image.format == pb.IMAGE_FORMAT_GRAY8:
        return cv2.cvtColor(pixels[:, :, 0], cv2.COLOR_GRAY2RGB)
    return pixels.copy()  # own the memory: the message's bytes may go away


def _decode_encoded(data: bytes, name: str, read_size: Callable[[bytes], tuple[int, int]],
                    limits: FrameLimits, where: str) -> np.ndarray:
    """Check the signature and header size of a JPEG/PNG, then decode it with OpenCV."""
    try:
        width, height = read_size(data)
    except FrameError as error:
        raise FrameError(f"{where}: {error}") from None
    _check_size(width, height, limits, f"{name} image", where)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise FrameError(f"{where}: not a valid {name}: OpenCV could not decode it "
                         "(corrupt or unsupported data)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _sniff(data: bytes) -> str:
    """Words for what the data looks like, for error messages."""
    start = " ".join(f"{byte:02X}" for byte in data[:8])
    kind = "JPEG" if data.startswith(JPEG_MAGIC) else "PNG" if data.startswith(PNG_MAGIC) else None
    return f"starts with {start}" + (f"; it looks like {kind}" if kind else "")


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if not data.startswith(PNG_MAGIC):
        raise FrameError("declared PNG but the data does not start with the PNG signature "
                         f"89 50 4E 47 0D 0A 1A 0A ({_sniff(data)})")
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise FrameError("not a valid PNG: the IHDR header chunk is missing or truncated")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's first SOF marker; also checks the data is not truncated."""
    if not data.startswith(JPEG_MAGIC):
        raise FrameError("declared JPEG but the data does not start with the JPEG signature "
                         f"FF D8 FF ({_sniff(data)})")
    position = 2
    size = None
    while size is None:
        marker, position = _next_jpeg_marker(data, position)
        if marker in (_JPEG_SOS, _JPEG_EOI):
            raise FrameError("not a valid JPEG: no frame header (SOF marker) before the image "
                             "data")
        if marker in _JPEG_STANDALONE:
            continue
        length = _segment_length(data, position)
        if marker in _JPEG_SOF:
            size = _sof_size(data, position, length)
        position += length
    _check_jpeg_complete(data, position)
    return size


def _next_jpeg_marker(data: bytes, position: int) -> tuple[int, int]:
    """(marker byte, position after it) of the marker at `position`; fill bytes are skipped."""
    if position >= len(data) or data[position] != 0xFF:
        raise FrameError(f"not a valid JPEG: expected a marker at byte {position}"
                         + (" (the data is truncated)" if position >= len(data) else ""))
    while position < len(data) and data[position] == 0xFF:
        position += 1
    if position >= len(data):
        raise FrameError("not a valid JPEG: the data is truncated inside a marker")
    return data[position], position + 1


def _segment_length(data: bytes, position: int) -> int:
    """The length field (itself included) of the marker segment starting at `position`."""
    if position + 2 > len(data):
        raise FrameError("not a valid JPEG: the data is truncated inside a marker segment")
    length = int.from_bytes(data[position:position + 2], "big")
    if length < 2 or position + length > len(data):
        raise FrameError(f"not a valid JPEG: marker segment at byte {position} has a bad "
                         f"length {length} or is truncated")
    return length


def _sof_size(data: bytes, position: int, length: int) -> tuple[int, int]:
    """(width, height) from a SOF segment: precision (1 byte), height (2), width (2)."""
    if length < 8:
        raise FrameError(f"not a valid JPEG: frame header too short ({length} bytes)")
    height = int.from_bytes(data[position + 3:position + 5], "big")
    width = int.from_bytes(data[position + 5:position + 7], "big")
    return width, height


def _check_jpeg_complete(data: bytes, position: int) -> None:
    """FrameError unless an end-of-image marker follows the frame header.

    Entropy-coded data never contains FF D9 (FF bytes are stuffed), so a missing EOI after the
    header means the file was cut short; OpenCV would otherwise decode it with a grey bottom.
    """
    if data.find(b"\xff\xd9", position) < 0:
        raise FrameError("not a valid JPEG: the data is truncated (no end-of-image marker "
                         "FF D9 after the frame header)")
