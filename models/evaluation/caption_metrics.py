"""Caption metrics for the moving-digits benchmark.

Corpus metrics (BLEU-4, CIDEr-D, ROUGE-L, METEOR) come from pycocoevalcap; slot metrics (digit
identity and motion per true digit, order-free) come from parsing the captions. Text is lowercased,
stripped of punctuation and whitespace-tokenised here, so the Java PTB tokenizer is never needed.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import shutil
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge

MOTIONS: tuple[str, ...] = (
    "moving left and right",
    "moving up and down",
    "moving diagonally",
    "standing still",
)
UNKNOWN_MOTION = ""
METEOR_TIMEOUT_S = 120.0  # base watchdog for the METEOR subprocess; grows by 0.05 s per caption

_NON_WORD = re.compile(r"[\W_]+")
_SLOT_ANCHOR = re.compile(r"\bdigit (\d)\b(?: is\b)?")
_METRIC_KEYS = (
    "bleu4",
    "cider",
    "rouge_l",
    "meteor",
    "exact_match",
    "digit_accuracy",
    "motion_accuracy",
)


@dataclass(frozen=True)
class CaptionSlot:
    """One digit of a caption and its motion (one of MOTIONS, or "" when unrecognised)."""

    digit: int
    motion: str


def normalize_caption(text: str) -> str:
    """Lowercase, replace punctuation by spaces, collapse whitespace."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def parse_caption(text: str) -> tuple[CaptionSlot, ...]:
    """Parse "digit D is MOTION [and digit D is MOTION ...]" into slots, tolerantly.

    Every "digit D [is]" gives a slot; its motion is the known motion phrase that follows, or ""
    when what follows is not one. Text that has no "digit D" gives an empty tuple.
    """
    norm = normalize_caption(text)
    anchors = list(_SLOT_ANCHOR.finditer(norm))
    slots = []
    for i, anchor in enumerate(anchors):
        stop = anchors[i + 1].start() if i + 1 < len(anchors) else len(norm)
        phrase = norm[anchor.end() : stop].strip()
        motion = next(
            (m for m in MOTIONS if phrase == m or phrase.startswith(m + " ")), UNKNOWN_MOTION
        )
        slots.append(CaptionSlot(int(anchor.group(1)), motion))
    return tuple(slots)


def _best_alignment(hyp: Sequence[CaptionSlot], true: Sequence[CaptionSlot]) -> tuple[int, int]:
    """(digit matches, digit+motion matches) of the best one-to-one alignment hyp <-> true."""
    if len(hyp) >= len(true):
        pairings = (
            list(zip(perm, range(len(true)), strict=True))
            for perm in itertools.permutations(range(len(hyp)), len(true))
        )
    else:
        pairings = (
            list(zip(range(len(hyp)), perm, strict=True))
            for perm in itertools.permutations(range(len(true)), len(hyp))
        )
    best = (0, 0)
    for pairs in pairings:
        digits = sum(hyp[h].digit == true[t].digit for h, t in pairs)
        full = sum(hyp[h] == true[t] for h, t in pairs)
        best = max(best, (digits, full))
    return best


@dataclass(frozen=True)
class _ClipScore:
    true_slots: int
    digit_hits: int  # multiset intersection of hypothesis and true digits
    motion_hits: int  # true slots whose aligned hypothesis slot has the same digit and motion
    exact: bool


def _score_clip(hypothesis: str, references: Sequence[str]) -> _ClipScore:
    hyp = normalize_caption(hypothesis)
    refs = [normalize_caption(r) for r in references]
    hyp_slots = parse_caption(hypothesis)
    true_slots = parse_caption(references[0])
    common = Counter(s.digit for s in hyp_slots) & Counter(s.digit for s in true_slots)
    _, full = _best_alignment(hyp_slots, true_slots)
    return _ClipScore(len(true_slots), sum(common.values()), full, hyp in refs)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _meteor_scores(
    gts: dict[int, list[str]], res: dict[int, list[str]], groups: dict[str, list[int]]
) -> dict[str, float | None]:
    """METEOR per group ("all" plus the given ids) from one java process; None on any failure."""
    out: dict[str, float | None] = dict.fromkeys(["all", *groups])
    if shutil.which("java") is None or not gts:
        return out
    try:
        meteor = Meteor()
    except Exception:
        return out
    process = meteor.meteor_p
    # A hung or chatty JVM (its stderr pipe is never read) must not block forever: kill it, which
    # turns the pending read into an error handled below.
    watchdog = threading.Timer(METEOR_TIMEOUT_S + 0.05 * len(gts), process.kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        out["all"] = float(meteor.compute_score(gts, res)[0])
        for name, ids in groups.items():
            if ids:
                sub_gts = {i: gts[i] for i in ids}
                out[name] = float(meteor.compute_score(sub_gts, {i: res[i] for i in ids})[0])
    except Exception:
        out = dict.fromkeys(out)
    finally:
        watchdog.cancel()
        # Meteor.__del__ takes this lock; a failure inside compute_score leaves it held.
        if meteor.lock.locked():
            meteor.lock.release()
        process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):  # unflushed stdin of a dead JVM
                    stream.close()
    return out


def _group_metrics(
    ids: Sequence[int],
    gts: dict[int, list[str]],
    res: dict[int, list[str]],
    clips: Sequence[_ClipScore],
    meteor: float | None,
) -> dict:
    if not ids:
        return {"count": 0, **dict.fromkeys(_METRIC_KEYS)}
    sub_gts = {i: gts[i] for i in ids}
    sub_res = {i: res[i] for i in ids}
    bleu, _ = Bleu(4).compute_score(sub_gts, sub_res, verbose=0)
    cider, _ = Cider().compute_score(sub_gts, sub_res)
    rouge, _ = Rouge().compute_score(sub_gts, sub_res)
    true_slots = sum(clips[i].true_slots for i in ids)
    return {
        "count": len(ids),
        "bleu4": float(bleu[3]),
        "cider": float(cider),
        "rouge_l": float(rouge),
        "meteor": meteor,
        "exact_match": sum(clips[i].exact for i in ids) / len(ids),
        "digit_accuracy": _ratio(sum(clips[i].digit_hits for i in ids), true_slots),
        "motion_accuracy": _ratio(sum(clips[i].motion_hits for i in ids), true_slots),
    }


def caption_metrics(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict:
    """Score N hypotheses against N reference lists (the first reference gives the true slots).

    Returns a JSON-ready dict: count, bleu4, cider (CIDEr-D), rouge_l, meteor (None without Java
    or on failure), exact_match (vs any reference), digit_accuracy and motion_accuracy (per true
    slot; None with no parseable true slot), and by_digit_count {"1", "2", ...}: the same keys for
    clips grouped by their number of true slots. Metrics of an empty group are None.
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses but {len(references)} reference lists")
    for i, refs in enumerate(references):
        if isinstance(refs, str) or len(refs) == 0:
            raise ValueError(f"references[{i}] must be a non-empty list of strings, got {refs!r}")
    gts = {i: [normalize_caption(r) for r in refs] for i, refs in enumerate(references)}
    res = {i: [normalize_caption(h)] for i, h in enumerate(hypotheses)}
    clips = [_score_clip(h, refs) for h, refs in zip(hypotheses, references, strict=True)]

    groups: dict[str, list[int]] = {"1": [], "2": []}
    for i, clip in enumerate(clips):
        if clip.true_slots:
            groups.setdefault(str(clip.true_slots), []).append(i)
    meteor = _meteor_scores(gts, res, groups)

    result = _group_metrics(range(len(clips)), gts, res, clips, meteor["all"])
    result["by_digit_count"] = {
        name: _group_metrics(ids, gts, res, clips, meteor[name])
        for name, ids in sorted(groups.items())
    }
    return result
