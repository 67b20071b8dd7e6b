import shutil

import pytest

from framescribe.models.evaluation import caption_metrics as cm
from framescribe.models.evaluation.caption_metrics import (
    CaptionSlot,
    caption_metrics,
    parse_caption,
)

ONE = "digit 3 is moving up and down"
TWO = "digit 3 is moving up and down and digit 8 is standing still"
TWO_SWAPPED_ORDER = "digit 8 is standing still and digit 3 is moving up and down"
METRIC_KEYS = {
    "count",
    "bleu4",
    "cider",
    "rouge_l",
    "meteor",
    "exact_match",
    "digit_accuracy",
    "motion_accuracy",
}


# .ci/run installs Java, and in CI a skip fails (tests/conftest.py).
needs_java = pytest.mark.skipif(shutil.which("java") is None,
                                reason="METEOR needs java (Debian: default-jre-headless)")


@pytest.fixture
def no_java(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)


def test_parse_two_slots_with_and_inside_motions():
    assert parse_caption(TWO) == (
        CaptionSlot(3, "moving up and down"),
        CaptionSlot(8, "standing still"),
    )
    assert parse_caption("digit 1 is moving left and right and digit 1 is moving diagonally") == (
        CaptionSlot(1, "moving left and right"),
        CaptionSlot(1, "moving diagonally"),
    )


def test_parse_normalises_case_punctuation_and_spaces():
    assert parse_caption("  Digit 3 IS moving up-and-down, and digit 8 is standing still. ") == (
        CaptionSlot(3, "moving up and down"),
        CaptionSlot(8, "standing still"),
    )


@pytest.mark.parametrize("text", ["", "   ", "the the the", "digit", "digit x is moving", "3 8"])
def test_parse_garbage_gives_no_slots(text):
    assert parse_caption(text) == ()


def test_parse_is_tolerant():
    # unrecognised motion keeps the digit with motion ""
    assert parse_caption("digit 5 is moving up and") == (CaptionSlot(5, ""),)
    assert parse_caption("digit 5 is flying") == (CaptionSlot(5, ""),)
    assert parse_caption("digit 5") == (CaptionSlot(5, ""),)
    # trailing garbage, missing "is", repeated "and", multi-digit numbers are not digits
    assert parse_caption("digit 5 is standing still the") == (CaptionSlot(5, "standing still"),)
    assert parse_caption("digit 5 moving diagonally") == (CaptionSlot(5, "moving diagonally"),)
    assert parse_caption("digit 2 is standing still and and digit 7 is moving diagonally") == (
        CaptionSlot(2, "standing still"),
        CaptionSlot(7, "moving diagonally"),
    )
    assert parse_caption("digit 12 is standing still") == ()


def test_exact_match_either_order(no_java):
    refs = [[TWO, TWO_SWAPPED_ORDER]] * 2
    result = caption_metrics([TWO, TWO_SWAPPED_ORDER.upper() + "."], refs)
    assert result["exact_match"] == 1.0
    result = caption_metrics([TWO.replace("8", "9")], [[TWO, TWO_SWAPPED_ORDER]])
    assert result["exact_match"] == 0.0


def test_swapped_motions_between_digits(no_java):
    hyp = "digit 3 is standing still and digit 8 is moving up and down"
    result = caption_metrics([hyp], [[TWO, TWO_SWAPPED_ORDER]])
    assert result["digit_accuracy"] == 1.0
    assert result["motion_accuracy"] == 0.0
    assert result["exact_match"] == 0.0


def test_hypothesis_order_does_not_matter_for_slots(no_java):
    result = caption_metrics([TWO_SWAPPED_ORDER], [[TWO, TWO_SWAPPED_ORDER]])
    assert result["digit_accuracy"] == 1.0
    assert result["motion_accuracy"] == 1.0


def test_one_slot_hypothesis_for_two_digit_clip(no_java):
    result = caption_metrics(["digit 8 is standing still"], [[TWO, TWO_SWAPPED_ORDER]])
    assert result["digit_accuracy"] == 0.5
    assert result["motion_accuracy"] == 0.5


def test_slot_accuracy_is_a_multiset_and_per_true_digit(no_java):
    refs = [["digit 4 is standing still and digit 4 is moving diagonally"], [ONE]]
    hyps = ["digit 4 is moving diagonally and digit 4 is moving diagonally", "garbage"]
    result = caption_metrics(hyps, refs)
    # true digits: 4, 4, 3 -> digit hits 2 + 0; motion hits: one of the 4s + 0
    assert result["digit_accuracy"] == pytest.approx(2 / 3)
    assert result["motion_accuracy"] == pytest.approx(1 / 3)
    assert result["by_digit_count"]["2"]["digit_accuracy"] == 1.0
    assert result["by_digit_count"]["2"]["motion_accuracy"] == 0.5
    assert result["by_digit_count"]["1"]["digit_accuracy"] == 0.0


def test_best_alignment_prefers_digit_then_full_match(no_java):
    # extra hypothesis slots: the aligned pair for digit 3 must be the one with the right motion
    hyp = (
        "digit 3 is standing still and digit 3 is moving up and down and digit 8 is standing still"
    )
    result = caption_metrics([hyp], [[TWO]])
    assert result["digit_accuracy"] == 1.0
    assert result["motion_accuracy"] == 1.0


def test_perfect_hypotheses_and_groups(no_java):
    hyps = [ONE, TWO, "digit 0 is moving diagonally"]
    refs = [[ONE], [TWO, TWO_SWAPPED_ORDER], ["digit 0 is moving diagonally"]]
    result = caption_metrics(hyps, refs)
    assert set(result) == METRIC_KEYS | {"by_digit_count"}
    assert result["count"] == 3
    assert result["bleu4"] == pytest.approx(1.0)
    assert result["rouge_l"] == pytest.approx(1.0)
    assert result["cider"] > 0.0
    assert result["meteor"] is None
    assert result["exact_match"] == 1.0
    assert result["digit_accuracy"] == result["motion_accuracy"] == 1.0
    groups = result["by_digit_count"]
    assert set(groups) == {"1", "2"}
    assert groups["1"]["count"] == 2 and groups["2"]["count"] == 1
    for group in groups.values():
        assert set(group) == METRIC_KEYS
        assert group["bleu4"] == pytest.approx(1.0)
        assert all(isinstance(group[k], float) for k in METRIC_KEYS - {"count", "meteor"})


def test_empty_group_and_empty_input(no_java):
    result = caption_metrics([ONE], [[ONE]])
    assert result["by_digit_count"]["2"] == {"count": 0, **dict.fromkeys(METRIC_KEYS - {"count"})}
    empty = caption_metrics([], [])
    assert empty["count"] == 0 and empty["bleu4"] is None


def test_without_java_on_path(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert caption_metrics([ONE], [[ONE]])["meteor"] is None


def test_meteor_failure_gives_none(monkeypatch):
    class Broken:
        def __init__(self):
            raise OSError("no jvm")

    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: "/usr/bin/java")
    monkeypatch.setattr(cm, "Meteor", Broken)
    assert caption_metrics([ONE], [[ONE]])["meteor"] is None


def test_mismatched_lengths_raise(no_java):
    with pytest.raises(ValueError, match="2 hypotheses but 1"):
        caption_metrics([ONE, ONE], [[ONE]])
    with pytest.raises(ValueError, match="non-empty list"):
        caption_metrics([ONE], [ONE])


@pytest.mark.slow  # starts a JVM that loads METEOR's paraphrase table (5-15 s)
@needs_java
def test_meteor_with_java():
    hyps = [ONE, "digit 3 is standing still"]
    result = caption_metrics(hyps, [[ONE], [TWO, TWO_SWAPPED_ORDER]])
    assert result["meteor"] is not None
    assert 0.0 < result["meteor"] <= 1.0
    assert result["by_digit_count"]["1"]["meteor"] == pytest.approx(1.0, abs=1e-6)
    assert result["by_digit_count"]["2"]["meteor"] < 1.0


@needs_java
def test_hung_meteor_is_killed_and_gives_none(monkeypatch):
    # the watchdog kills the JVM long before it has loaded; nothing blocks or leaks
    monkeypatch.setattr(cm, "METEOR_TIMEOUT_S", 0.2)
    result = caption_metrics([ONE], [[ONE]])
    assert result["meteor"] is None
    assert result["bleu4"] == pytest.approx(1.0)
