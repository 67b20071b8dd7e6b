"""The per-frame feature functions a landmark bundle can read, by the name its manifest gives
(`landmark_features`). Each turns ISLR-layout landmarks (frames, 543, 3), NaN = missing, into
(frames, dim) float32 features, every row from its own frame alone, numpy only.

| name | module | what | dim | from video |
| --- | --- | --- | --- | --- |
| hand_pose (default) | landmark_features.py | both hands' 21 points, upper body | 153 | holistic |
| fingertip | fingertip_features.py | one index fingertip, in hand sizes (air-writing) | 3 | hands |

"from video" is the MediaPipe landmarker (models/landmarks, LANDMARK_KINDS) that gives a video's
frames the points the set reads.

Importing this module is cheap (the functions load on first use), so manifests validate names
with it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

DEFAULT_FEATURE_SET = "hand_pose"
# name -> (module, function, dimension constant, landmarker kind for video)
_FEATURE_SETS = {
    "hand_pose": ("framescribe.models.inference.landmark_features", "landmark_features",
                  "LANDMARK_FEATURE_DIM", "holistic"),
    "fingertip": ("framescribe.models.inference.fingertip_features", "fingertip_features",
                  "FINGERTIP_FEATURE_DIM", "hands"),
}
FEATURE_SETS = tuple(_FEATURE_SETS)


def _entry(name: str) -> tuple[str, str, str, str]:
    if name not in _FEATURE_SETS:
        raise ValueError(f"unknown landmark feature set {name!r}; available: "
                         f"{', '.join(FEATURE_SETS)}")
    return _FEATURE_SETS[name]


def feature_function(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The feature function of `name`: landmarks (frames, 543, 3) -> (frames, dim)."""
    module, function, _, _ = _entry(name)
    return getattr(importlib.import_module(module), function)


def feature_dim(name: str) -> int:
    """Features per frame of `name`."""
    module, _, dim, _ = _entry(name)
    return int(getattr(importlib.import_module(module), dim))


def landmark_kind(name: str) -> str:
    """The MediaPipe landmarker ("holistic" or "hands") whose points `name` reads from video."""
    return _entry(name)[3]
