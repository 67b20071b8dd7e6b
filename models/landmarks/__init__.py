"""The landmark stage: MediaPipe hand or holistic landmarks of video frames, in Kaggle ISLR's
543-point layout (islr_layout), for landmark gesture bundles and ISLR-style datasets.

- landmark_extractor: LandmarkExtractor(kind).extract(frame_rgb, timestamp_ms) -> (543, 3)
- video_landmarks: extract_video_landmarks(source, kind, frame_rate=...) -> VideoLandmarks
- mediapipe_tasks: the .task model files (built from PyPI's mediapipe 0.10.14 wheel by
  `python -m framescribe.models.landmarks.mediapipe_tasks`, part of `make setup`), task_path
- mediapipe_import: MediaPipe itself, imported only when an extractor is made

The names below are imported on first use (so `python -m ...mediapipe_tasks` and importing this
package load nothing but this file).
"""

from importlib import import_module

_EXPORTS = {
    "LANDMARK_KINDS": "landmark_extractor",
    "LandmarkExtractor": "landmark_extractor",
    "LandmarkOptions": "landmark_extractor",
    "VideoLandmarks": "video_landmarks",
    "extract_video_landmarks": "video_landmarks",
    "BUILD_COMMAND": "mediapipe_tasks",
    "TaskFilesMissing": "mediapipe_tasks",
    "task_path": "mediapipe_tasks",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
