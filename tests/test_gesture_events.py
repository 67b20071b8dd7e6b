import dataclasses

import numpy as np
import pytest

from framescribe.models.inference.gesture_events import (
    EventOptions,
    FinalEvent,
    GestureEventTracker,
    InterimResult,
    extract_events,
)

NUM_LABELS = 4


def idle() -> np.ndarray:
    return np.array([0.9, 0.04, 0.03, 0.02, 0.01])


def active(label: int, p: float = 0.8, p_idle: float = 0.1) -> np.ndarray:
    """P(idle) = p_idle; gesture `label` gets p of the rest, the others share what is left."""
    row = np.full(1 + NUM_LABELS, (1.0 - p_idle) * (1.0 - p) / (NUM_LABELS - 1))
    row[0] = p_idle
    row[1 + label] = (1.0 - p_idle) * p
    return row


def stream() -> np.ndarray:
    """3 idle, 8 active (label 1 then drifting to 2 at the end), 3 idle, 2 active, 2 idle."""
    rows = [idle()] * 3
    rows += [active(1)] * 5 + [active(2, 0.6), active(2, 0.7), active(2, 0.8)]  # frames 3..10
    rows += [idle()] * 3  # 11..13: run ends at frame 12 (end_patience 2)
    rows += [active(3)] * 2 + [idle()] * 2  # 14..15: a 2-frame blip
    return np.stack(rows)


def test_interim_per_active_frame_and_final_event():
    tracker = GestureEventTracker()
    outputs = [tracker.update(row) for row in stream()]
    interims = [(i, r) for i, (r, _) in enumerate(outputs) if r is not None]
    assert [i for i, _ in interims] == [*range(3, 11), 14, 15]
    assert all(r.frame == i for i, r in interims)
    assert [r.label for _, r in interims[:8]] == [1] * 5 + [2] * 3
    assert interims[0][1] == InterimResult(3, 1, pytest.approx(0.8))
    finals = [(i, e) for i, (_, e) in enumerate(outputs) if e is not None]
    # the run closes at its 2nd idle frame; the label comes from the last 3 active frames
    assert len(finals) == 1
    frame, event = finals[0]
    assert frame == 12
    assert (event.label, event.start, event.end) == (2, 3, 11)
    assert event.confidence == pytest.approx((0.6 + 0.7 + 0.8) / 3)
    assert tracker.flush() is None


def test_short_idle_gap_does_not_end_a_run():
    rows = [active(0)] * 4 + [idle()] + [active(0)] * 4 + [idle()] * 2
    events = extract_events(np.stack(rows))
    assert [(e.start, e.end) for e in events] == [(0, 9)]


def test_min_frames_drops_short_blips():
    assert [e.label for e in extract_events(stream())] == [2]
    keep_blips = extract_events(stream(), EventOptions(min_frames=1))
    assert [(e.label, e.start, e.end) for e in keep_blips] == [(2, 3, 11), (3, 14, 16)]


def test_min_confidence_drops_uncertain_events():
    options = EventOptions(min_confidence=0.75)
    assert extract_events(stream(), options) == []
    assert len(extract_events(stream(), dataclasses.replace(options, min_confidence=0.65))) == 1


def test_flush_closes_open_run():
    tracker = GestureEventTracker()
    for row in [idle()] + [active(1)] * 7 + [idle()]:
        assert tracker.update(row)[1] is None
    event = tracker.flush()
    assert event == FinalEvent(1, 1, 8, pytest.approx(0.8))
    assert tracker.flush() is None


def test_extract_events_equals_feeding_the_tracker():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, NUM_LABELS, size=6)
    rows = []
    for label in labels:
        rows += [idle()] * int(rng.integers(1, 12))
        rows += [active(int(label), rng.uniform(0.4, 0.9))] * int(rng.integers(3, 20))
    probs = np.stack(rows)
    tracker = GestureEventTracker()
    fed = [e for row in probs if (e := tracker.update(row)[1]) is not None]
    last = tracker.flush()
    fed += [last] if last is not None else []
    assert extract_events(probs) == fed
    assert len(fed) >= 1


def test_leads_move_final_events_earlier_but_not_into_the_previous_one():
    rows = [idle()] * 3 + [active(0)] * 8 + [idle()] + [active(1)] * 8 + [idle()] * 2
    probs = np.stack(rows)
    as_seen = [(e.start, e.end) for e in extract_events(probs, EventOptions(end_patience=1))]
    assert as_seen == [(3, 11), (12, 20)]
    led = extract_events(probs, EventOptions(end_patience=1, start_lead=2, end_lead=1))
    # The second event would start at 10, inside the first (which now ends at 10): it starts
    # where the first ended. At the stream's start a lead stops at frame 0.
    assert [(e.label, e.start, e.end) for e in led] == [(0, 1, 10), (1, 10, 19)]
    early = extract_events(probs[3:], EventOptions(end_patience=1, start_lead=3))
    assert [(e.start, e.end) for e in early] == [(0, 8), (8, 17)]
    # min_frames judges the run as seen; interim labels are not moved.
    kept = extract_events(probs, EventOptions(end_patience=1, min_frames=8, end_lead=5))
    assert [(e.start, e.end) for e in kept] == [(3, 6), (12, 15)]
    tracker = GestureEventTracker(EventOptions(start_lead=3))
    assert [i.frame for row in probs if (i := tracker.update(row)[0]) is not None][:2] == [3, 4]
    with pytest.raises(ValueError, match="start_lead must be >= 0"):
        EventOptions(start_lead=-1)


def test_idle_threshold_and_renormalisation():
    row = np.array([0.45, 0.05, 0.5, 0.0, 0.0])  # active at the default threshold 0.5
    interim, _ = GestureEventTracker().update(row)
    assert interim == InterimResult(0, 1, pytest.approx(0.5 / 0.55))
    interim, _ = GestureEventTracker(EventOptions(idle_threshold=0.4)).update(row)
    assert interim is None


def test_bad_input_raises():
    tracker = GestureEventTracker()
    tracker.update(idle())
    with pytest.raises(ValueError, match="earlier frames had 5"):
        tracker.update(np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(N, 1 \+ num_labels\)"):
        extract_events(idle())
    with pytest.raises(ValueError, match="end_patience"):
        EventOptions(end_patience=0)


def test_empty_sequence():
    assert extract_events(np.zeros((0, 5))) == []
