"""Tests for the moving-digits captioning benchmark generator."""

from __future__ import annotations

import re

import numpy as np
import pytest

from framescribe.models.data.moving_digits import (
    CLIP_FRAMES,
    DIGIT_SIZE,
    FRAME_SIZE,
    MOTIONS,
    SPLIT_SEEDS,
    SPLIT_SIZES,
    CaptionClip,
    DigitTrack,
    MovingDigits,
    caption_for,
    digit_bank,
)

CAPTION = re.compile(r"digit (\d) is (" + "|".join(MOTIONS) + r")")
LO, HI = DIGIT_SIZE / 2, FRAME_SIZE - DIGIT_SIZE / 2


@pytest.fixture(scope="module")
def test_clips() -> list[CaptionClip]:
    dataset = MovingDigits("test")
    return [dataset[i] for i in range(200)]


def test_split_sizes_and_seeds() -> None:
    assert SPLIT_SIZES == {"train": 40_000, "validation": 1_000, "test": 2_000}
    for split, size in SPLIT_SIZES.items():
        dataset = MovingDigits(split)
        assert len(dataset) == size
        assert dataset.seed == SPLIT_SEEDS[split]
    assert SPLIT_SEEDS["test"] == 1234
    assert len(MovingDigits("train", size=10)) == 10


def test_bad_split_names_valid_ones() -> None:
    with pytest.raises(ValueError, match="validation"):
        MovingDigits("dev")


def test_index_out_of_range() -> None:
    dataset = MovingDigits("validation", size=3)
    with pytest.raises(IndexError):
        dataset[3]
    np.testing.assert_array_equal(dataset[-1].frames, dataset[2].frames)


def test_shapes_and_dtypes(test_clips: list[CaptionClip]) -> None:
    for clip in test_clips[:10]:
        assert clip.frames.shape == (CLIP_FRAMES, FRAME_SIZE, FRAME_SIZE, 3)
        assert clip.frames.dtype == np.uint8
        assert len(clip.tracks) in (1, 2)
        for track in clip.tracks:
            assert track.centers.shape == (CLIP_FRAMES, 2)
            assert track.centers.dtype == np.float32
        # grey on black: all three channels equal
        np.testing.assert_array_equal(clip.frames[..., 0], clip.frames[..., 1])
        np.testing.assert_array_equal(clip.frames[..., 0], clip.frames[..., 2])


def test_deterministic() -> None:
    a, b = MovingDigits("train")[123], MovingDigits("train")[123]
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.references == b.references
    assert not np.array_equal(a.frames, MovingDigits("train", seed=7)[123].frames)
    assert not np.array_equal(a.frames, MovingDigits("train")[125].frames)


def test_frames_batch_matches_items() -> None:
    dataset = MovingDigits("validation")
    batch = dataset.frames_batch([4, 0, 9])
    assert batch.shape == (3, CLIP_FRAMES, FRAME_SIZE, FRAME_SIZE, 3)
    assert batch.dtype == np.uint8
    for row, index in zip(batch, [4, 0, 9], strict=True):
        np.testing.assert_array_equal(row, dataset[index].frames)


def test_half_one_digit_half_two(test_clips: list[CaptionClip]) -> None:
    counts = [len(clip.tracks) for clip in test_clips]
    assert counts.count(1) == counts.count(2) == len(test_clips) // 2


def test_caption_format() -> None:
    c = np.zeros((CLIP_FRAMES, 2), np.float32)
    three = DigitTrack(digit=3, motion="moving up and down", centers=c)
    eight = DigitTrack(digit=8, motion="standing still", centers=c)
    assert caption_for([three]) == "digit 3 is moving up and down"
    assert (
        caption_for((three, eight)) == "digit 3 is moving up and down and digit 8 is standing still"
    )
    with pytest.raises(ValueError):
        caption_for(())


def test_references_are_both_orders(test_clips: list[CaptionClip]) -> None:
    for clip in test_clips:
        if len(clip.tracks) == 1:
            assert clip.references == (caption_for(clip.tracks),)
        else:
            assert clip.references == (
                caption_for(clip.tracks),
                caption_for(clip.tracks[::-1]),
            )
        for reference in clip.references:
            parts = reference.split(" and digit ")
            assert CAPTION.fullmatch(parts[0])
            assert all(CAPTION.fullmatch("digit " + p) for p in parts[1:])


def test_motions_behave(test_clips: list[CaptionClip]) -> None:
    seen = set()
    for clip in test_clips:
        for track in clip.tracks:
            seen.add(track.motion)
            step = np.abs(np.diff(track.centers, axis=0))
            assert track.centers.min() >= LO - 1e-4 and track.centers.max() <= HI + 1e-4
            moves = {
                "moving left and right": (True, False),
                "moving up and down": (False, True),
                "moving diagonally": (True, True),
                "standing still": (False, False),
            }[track.motion]
            for axis, moving in enumerate(moves):
                if moving:  # a bounce shortens one step, so the longest step is the speed
                    assert 2.0 - 1e-4 <= step[:, axis].max() <= 4.0 + 1e-4
                    assert (step[:, axis] > 0).all()
                else:
                    assert (step[:, axis] == 0).all()
    assert seen == set(MOTIONS)


def test_bounces_stay_in_frame() -> None:
    dataset = MovingDigits("train", size=400)
    bounced = 0
    for i in range(len(dataset)):
        for track in dataset.tracks(i):
            assert track.centers.min() >= LO - 1e-4 and track.centers.max() <= HI + 1e-4
            velocity = np.diff(track.centers, axis=0)
            bounced += int((np.diff(np.sign(velocity), axis=0) != 0).any())
    assert bounced > 0


def test_digits_come_from_the_split_sources(test_clips: list[CaptionClip]) -> None:
    images, labels = digit_bank()
    assert images.shape == (1797, DIGIT_SIZE, DIGIT_SIZE) and images.dtype == np.uint8
    for clip in test_clips:
        for track in clip.tracks:
            assert 1400 <= track.source_index <= 1796
            assert track.digit == labels[track.source_index]
    train = MovingDigits("train")
    validation = MovingDigits("validation")
    for i in range(100):
        for track in train.tracks(i) + validation.tracks(i):
            assert 0 <= track.source_index < 1400


def test_frames_show_the_digit_in_its_box() -> None:
    images, _ = digit_bank()
    dataset = MovingDigits("test")
    for i in range(0, 40, 2):  # one-digit clips
        clip = dataset[i]
        (track,) = clip.tracks
        for f in range(CLIP_FRAMES):
            x, y = np.rint(track.centers[f] - DIGIT_SIZE / 2).astype(int)
            grey = clip.frames[f, ..., 0]
            np.testing.assert_array_equal(
                grey[y : y + DIGIT_SIZE, x : x + DIGIT_SIZE], images[track.source_index]
            )
            outside = grey.copy()
            outside[y : y + DIGIT_SIZE, x : x + DIGIT_SIZE] = 0
            assert not outside.any()  # black background


def test_two_digits_are_max_composited() -> None:
    images, _ = digit_bank()
    clip = MovingDigits("test")[1]
    expected = np.zeros((CLIP_FRAMES, FRAME_SIZE, FRAME_SIZE), np.uint8)
    for track in clip.tracks:
        for f in range(CLIP_FRAMES):
            x, y = np.rint(track.centers[f] - DIGIT_SIZE / 2).astype(int)
            box = expected[f, y : y + DIGIT_SIZE, x : x + DIGIT_SIZE]
            np.maximum(box, images[track.source_index], out=box)
    np.testing.assert_array_equal(clip.frames[..., 0], expected)
