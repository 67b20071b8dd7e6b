"""The repaired clock: real containers' timestamps in, strictly increasing times out."""

from __future__ import annotations

import math

import pytest

from framescribe.models.video import FrameClock, nominal_period, repaired


def times(raw, period=0.04, reorder=8):
    return [round(t, 6) for t, _ in repaired(((r, i) for i, r in enumerate(raw)), period,
                                              reorder)]


def test_sane_timestamps_pass_unchanged_from_zero():
    assert times([0.0, 0.04, 0.08, 0.12]) == [0.0, 0.04, 0.08, 0.12]


def test_first_frame_is_time_zero():
    # Megamind.avi (opencv-doc): OpenCV reports 41.7 ms for the first frame.
    assert times([0.0417, 0.0834, 0.1251]) == [0.0, 0.042, 0.083]


def test_times_are_whole_milliseconds_and_still_increase():
    # Repeats 0.1 ms apart: rounded to milliseconds, each still comes after the one before.
    assert times([0.0, 0.0001, 0.0002, 0.0003]) == [0.0, 0.001, 0.002, 0.003]


def test_a_last_frame_that_reads_zero_continues_the_clock():
    assert times([0.0, 0.04, 0.08, 0.0]) == [0.0, 0.04, 0.08, 0.12]


def test_backwards_b_frame_times_are_put_in_order():
    assert times([0.0, 0.033, 0.101, 0.067, 0.134]) == [0.0, 0.033, 0.067, 0.101, 0.134]


def test_repeated_timestamps_are_spread_to_the_next_one():
    assert times([0.0, 0.0, 0.04, 0.04, 0.08, 0.08]) == [0.0, 0.02, 0.04, 0.06, 0.08, 0.12]


def test_missing_and_nonsense_timestamps_are_filled():
    out = times([0.0, math.nan, None, -1.0, 0.2])
    assert out == [0.0, 0.05, 0.1, 0.15, 0.2]


def test_variable_frame_rate_is_kept():
    raw = [0.0, 0.733, 1.133, 1.6, 2.067]  # tree.avi (opencv-doc)
    assert times(raw) == raw


def test_live_sources_are_not_held_back():
    clock = FrameClock(0.1, reorder=0)
    assert clock.push(5.0, "a") == [(0.0, "a")]
    assert clock.push(5.0, "b") == [(pytest.approx(0.1), "b")]
    assert clock.finish() == []


@pytest.mark.parametrize("fps, period", [(25.0, 0.04), (0.0, 0.04), (math.nan, 0.04),
                                         (1e6, 0.04), (10.0, 0.1)])
def test_nominal_period(fps, period):
    assert nominal_period(fps) == pytest.approx(period)
