"""Caption windowing: one rule for whole videos and streams, whatever the push sizes."""

from __future__ import annotations

import numpy as np
import pytest

from framescribe.models.inference.caption_windows import CaptionWindower


def windows(frames: int, length: int, push: int):
    windower = CaptionWindower(length, 0.1)
    times = np.arange(frames) / 10.0
    features = np.arange(frames, dtype=np.float32)[:, None]
    out = []
    for start in range(0, frames, push):
        out += windower.add(times[start:start + push], features[start:start + push])
    out += windower.finish()
    return [(round(w.start, 3), round(w.end, 3), len(w.features)) for w in out]


@pytest.mark.parametrize("push", [1, 3, 16, 100])
def test_same_windows_for_any_push_size(push):
    # 37 frames of 16: 16, then 21 (a 5-frame tail, under half a segment, joins it).
    assert windows(37, 16, push) == [(0.0, 1.6, 16), (1.6, 3.7, 21)]
    # 40 frames: the 8-frame tail is half a segment: a window of its own.
    assert windows(40, 16, push) == [(0.0, 1.6, 16), (1.6, 3.2, 16), (3.2, 4.0, 8)]


def test_short_videos_make_one_window():
    assert windows(3, 16, 1) == [(0.0, 0.3, 3)]
    assert windows(0, 16, 1) == []


def test_features_stay_in_order():
    windower = CaptionWindower(2, 0.1)
    out = windower.add([0.0, 0.1, 0.2], np.arange(3.0)[:, None]) + windower.finish()
    assert [w.features[:, 0].tolist() for w in out] == [[0.0, 1.0], [2.0]]
