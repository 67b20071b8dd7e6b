"""Gesture metrics for the lasa-airwriting benchmark: isolated clips and continuous streams."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def classification_metrics(
    true_labels: Sequence[int], top_k_predictions: np.ndarray, num_labels: int
) -> dict:
    """Top-1, top-5, macro F1 and confusion matrix of ranked predictions.

    true_labels: (N,) ints in [0, num_labels). top_k_predictions: (N, k) ints, best first, with
    k >= min(5, num_labels). Macro F1 (from the top-1 predictions) averages over the labels that
    occur in the truth or the predictions, as scikit-learn does. The confusion matrix is
    num_labels x num_labels, rows = true label, columns = top-1 prediction. Rates are None when
    N == 0.
    """
    truth = np.asarray(true_labels, dtype=np.int64).reshape(-1)
    preds = np.asarray(top_k_predictions)
    if num_labels < 1:
        raise ValueError(f"num_labels must be >= 1, got {num_labels}")
    if preds.ndim != 2 or preds.shape[0] != truth.shape[0]:
        raise ValueError(
            f"top_k_predictions must have shape (N={truth.shape[0]}, k), got {preds.shape}"
        )
    if preds.shape[1] < min(5, num_labels):
        raise ValueError(
            f"top_k_predictions needs k >= {min(5, num_labels)} columns, got {preds.shape[1]}"
        )
    if not np.issubdtype(preds.dtype, np.integer):
        raise ValueError(f"top_k_predictions must hold ints, got dtype {preds.dtype}")
    for name, values in (("true_labels", truth), ("top_k_predictions", preds)):
        if values.size and (values.min() < 0 or values.max() >= num_labels):
            raise ValueError(
                f"{name} must lie in [0, {num_labels}), got range [{values.min()}, {values.max()}]"
            )

    count = int(truth.shape[0])
    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    if count:
        np.add.at(confusion, (truth, preds[:, 0]), 1)
    hits = np.diag(confusion)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    present = (support + predicted) > 0
    f1 = np.divide(2 * hits, support + predicted, out=np.zeros(num_labels), where=present)
    return {
        "count": count,
        "top1": float(np.mean(preds[:, 0] == truth)) if count else None,
        "top5": float(np.mean(np.any(preds[:, :5] == truth[:, None], axis=1))) if count else None,
        "macro_f1": float(f1[present].mean()) if count else None,
        "confusion_matrix": confusion.tolist(),
    }


@dataclass(frozen=True)
class EventSpan:
    """A gesture event: label, frames [start, end) and a confidence in [0, 1]."""

    label: int
    start: int
    end: int
    confidence: float = 1.0

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"EventSpan needs end > start, got start={self.start} end={self.end}")


def match_events(
    predicted: Sequence[EventSpan], truth: Sequence[EventSpan], tolerance: int = 4
) -> int:
    """Number of one-to-one matches: same label, |start diff| <= tolerance, |end diff| <= tolerance.

    Returns the maximum number of such pairs (augmenting-path matching; candidates are tried
    closest first).
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 frames, got {tolerance}")
    candidates: list[list[int]] = []
    for p in predicted:
        close = [
            (abs(p.start - t.start) + abs(p.end - t.end), j)
            for j, t in enumerate(truth)
            if p.label == t.label
            and abs(p.start - t.start) <= tolerance
            and abs(p.end - t.end) <= tolerance
        ]
        candidates.append([j for _, j in sorted(close)])

    owner: dict[int, int] = {}  # truth index -> predicted index

    def augment(i: int, seen: set[int]) -> bool:
        for j in candidates[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(candidates)) if candidates[i])


def event_metrics(
    predicted_per_stream: Sequence[Sequence[EventSpan]],
    truth_per_stream: Sequence[Sequence[EventSpan]],
    tolerance: int = 4,
) -> dict:
    """Event precision, recall and F1 over streams, summed over streams first (micro).

    A rate whose denominator is zero is 0.0.
    """
    if len(predicted_per_stream) != len(truth_per_stream):
        raise ValueError(
            f"got {len(predicted_per_stream)} predicted streams but {len(truth_per_stream)} "
            "truth streams"
        )
    matched = sum(
        match_events(p, t, tolerance)
        for p, t in zip(predicted_per_stream, truth_per_stream, strict=True)
    )
    true_events = sum(len(t) for t in truth_per_stream)
    predicted_events = sum(len(p) for p in predicted_per_stream)
    precision = matched / predicted_events if predicted_events else 0.0
    recall = matched / true_events if true_events else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "streams": len(truth_per_stream),
        "true_events": true_events,
        "predicted_events": predicted_events,
        "matched_events": matched,
        "event_precision": precision,
        "event_recall": recall,
        "event_f1": f1,
    }


def tracked_event_metrics(runs, options) -> dict:
    """event_metrics of streams' per-frame probabilities through the event tracker.

    runs: (probabilities (frames, 1 + labels), true EventSpans) per stream; options: the
    EventOptions the tracker runs with (a bundle's default_event_options, or candidates while
    tuning them)."""
    from framescribe.models.inference.gesture_events import extract_events

    predicted, truth = [], []
    for probabilities, spans in runs:
        predicted.append([EventSpan(e.label, e.start, e.end, e.confidence)
                          for e in extract_events(probabilities, options)])
        truth.append(spans)
    return event_metrics(predicted, truth)
