import numpy as np
import pytest

from framescribe.models.evaluation.gesture_metrics import (
    EventSpan,
    classification_metrics,
    event_metrics,
    match_events,
)


def test_classification_metrics_by_hand():
    truth = [0, 0, 1, 2, 2, 2]
    top_k = np.array(
        [
            [0, 1, 2, 3, 4, 5],
            [1, 0, 2, 3, 4, 5],  # top-1 wrong, top-5 right
            [1, 0, 2, 3, 4, 5],
            [2, 0, 1, 3, 4, 5],
            [0, 1, 3, 4, 5, 6],  # 2 not in top 5 (it is 6th would be; here absent)
            [2, 1, 0, 3, 4, 5],
        ]
    )
    result = classification_metrics(truth, top_k, num_labels=7)
    assert result["count"] == 6
    assert result["top1"] == pytest.approx(4 / 6)
    assert result["top5"] == pytest.approx(5 / 6)
    # top-1 confusion: label 0: tp 1, fn 1, fp 1 -> f1 0.5; label 1: tp 1, fp 1 -> 2/3;
    # label 2: tp 2, fn 1 -> 0.8; labels 3..6 absent from truth and predictions -> not averaged
    assert result["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    matrix = result["confusion_matrix"]
    assert len(matrix) == 7 and all(len(row) == 7 for row in matrix)
    assert matrix[0][:3] == [1, 1, 0]
    assert matrix[1][:3] == [0, 1, 0]
    assert matrix[2][:3] == [1, 0, 2]
    assert sum(map(sum, matrix)) == 6
    assert isinstance(matrix[0][0], int)


def test_classification_metrics_few_labels_and_empty():
    result = classification_metrics([0, 1], np.array([[0, 1], [0, 1]]), num_labels=2)
    assert result["top1"] == 0.5 and result["top5"] == 1.0
    empty = classification_metrics([], np.zeros((0, 5), dtype=np.int64), num_labels=5)
    assert empty["count"] == 0 and empty["top1"] is None
    assert empty["confusion_matrix"] == [[0] * 5] * 5


def test_classification_metrics_rejects_bad_input():
    with pytest.raises(ValueError, match="k >= 5"):
        classification_metrics([0], np.array([[0, 1, 2]]), num_labels=10)
    with pytest.raises(ValueError, match=r"shape \(N=2, k\)"):
        classification_metrics([0, 1], np.zeros((3, 5), dtype=np.int64), num_labels=10)
    with pytest.raises(ValueError, match="true_labels must lie in"):
        classification_metrics([10], np.zeros((1, 5), dtype=np.int64), num_labels=10)


@pytest.mark.parametrize(
    ("shift_start", "shift_end", "matched"),
    [(0, 0, 1), (4, 0, 1), (-4, 4, 1), (5, 0, 0), (0, -5, 0), (4, 5, 0)],
)
def test_match_tolerance_boundaries(shift_start, shift_end, matched):
    truth = [EventSpan(3, 20, 50)]
    predicted = [EventSpan(3, 20 + shift_start, 50 + shift_end)]
    assert match_events(predicted, truth, tolerance=4) == matched


def test_match_needs_same_label_and_is_one_to_one():
    truth = [EventSpan(1, 0, 30)]
    assert match_events([EventSpan(2, 0, 30)], truth) == 0
    assert match_events([EventSpan(1, 0, 30), EventSpan(1, 1, 31)], truth) == 1
    assert match_events([], truth) == 0 and match_events(truth, []) == 0


def test_match_is_maximal_where_greedy_by_offset_is_not():
    # the closest pair (p0, t1) would block p1, whose only candidate is t1
    truth = [EventSpan(0, 0, 30), EventSpan(0, 4, 34)]
    predicted = [EventSpan(0, 3, 33), EventSpan(0, 8, 38)]
    assert match_events(predicted, truth) == 2


def test_event_metrics_micro_over_streams():
    truth = [[EventSpan(0, 0, 30), EventSpan(1, 40, 70)], [EventSpan(2, 10, 40)]]
    predicted = [[EventSpan(0, 2, 31), EventSpan(1, 50, 70)], [EventSpan(2, 9, 41)]]
    result = event_metrics(predicted, truth)
    assert result["streams"] == 2
    assert result["true_events"] == 3 and result["predicted_events"] == 3
    assert result["matched_events"] == 2
    assert result["event_precision"] == pytest.approx(2 / 3)
    assert result["event_recall"] == pytest.approx(2 / 3)
    assert result["event_f1"] == pytest.approx(2 / 3)
    none = event_metrics([[]], [[EventSpan(0, 0, 10)]])
    assert none["event_precision"] == none["event_recall"] == none["event_f1"] == 0.0
    with pytest.raises(ValueError, match="1 predicted streams but 2"):
        event_metrics([[]], [[], []])


def test_event_span_validates():
    with pytest.raises(ValueError, match="end > start"):
        EventSpan(0, 5, 5)
