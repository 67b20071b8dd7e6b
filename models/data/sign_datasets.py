"""Sign language datasets on disk: what the WLASL and ISLR loaders share.

The clip and dataset types both loaders return, and (from islr_layout.py) the layout of ISLR's
543 landmarks per frame (read by islr_landmarks.read_landmarks, turned into features by
landmark_features.py). The loaders: wlasl_dataset.py (WLASL, videos), islr_dataset.py (Kaggle
ISLR "asl-signs", landmarks). Labels are shared by all splits (computed from the whole
annotation file) so ids are stable. Problems raise DatasetError naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from framescribe.models.data.islr_layout import (  # noqa: F401 - re-exported
    ISLR_HAND_LANDMARKS,
    ISLR_LANDMARKS,
    ISLR_PARTS,
)


@dataclass(frozen=True)
class SignVideoClip:
    """One signed gloss in a video: frames [frame_start, frame_end) (0-based; end None = to the
    end of the video) of ``path``; split is one of SPLITS."""

    video_id: str
    path: Path
    gloss: str
    frame_start: int
    frame_end: int | None
    split: str


@dataclass(frozen=True)
class LandmarkClip:
    """One ISLR sequence: a landmark parquet (read_landmarks), its signer, sign and split."""

    path: Path
    participant_id: int
    sequence_id: int
    sign: str
    split: str


ClipT = TypeVar("ClipT", SignVideoClip, LandmarkClip)


@dataclass(frozen=True)
class SignDataset(Generic[ClipT]):
    """Usable clips, the label names (label id = index) and how many clips were skipped.

    missing_videos: annotated clips of the requested split skipped because their media file
    (video, or landmark parquet for ISLR) does not exist.
    source: the annotation file read.
    """

    clips: tuple[ClipT, ...]
    labels: tuple[str, ...]
    missing_videos: int
    source: Path

    def label_id(self, name: str) -> int:
        """The id of label ``name`` (its index in ``labels``)."""
        try:
            return self.labels.index(name)
        except ValueError:
            raise KeyError(f"{self.source}: unknown label {name!r}") from None

