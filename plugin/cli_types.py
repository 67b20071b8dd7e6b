"""argparse `type=` converters shared by every `framescribe` command: each turns one option's
text into a value or raises ArgumentTypeError saying what it expected and what it got."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def positive_int(text: str) -> int:
    """An integer >= 1 (a limit of 0 would otherwise silently mean "all")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds, frames per second)."""
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def probability(text: str) -> float:
    """A number from 0 to 1."""
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be 0-1, got {text}")
    return value


def comma_subset(choices: tuple[str, ...], what: str = "") -> Callable[[str], tuple[str, ...]]:
    """A converter for "a,b": a non-empty subset of `choices`, in the given order, no repeats."""

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
        if not names or any(n not in choices for n in names):
            kind = f" ({what})" if what else ""
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated subset of {','.join(choices)}{kind}, got {text!r}")
        return names

    return parse


def frame_size(text: str) -> tuple[int, int]:
    """WIDTHxHEIGHT in pixels, e.g. 320x240."""
    width, _, height = text.lower().partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT, e.g. 320x240, got {text!r}") from None
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"width and height must be >= 1, got {text!r}")
    return size


def _int_between(text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer {low}-{high}, got {text!r}") \
            from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be {low}-{high}, got {value}")
    return value


def segment_frames(text: str) -> int:
    """Frames per caption segment, counted at the model's frame rate: 2-1024."""
    return _int_between(text, 2, 1024)


def beam_size(text: str) -> int:
    """A caption beam width: 1-16."""
    return _int_between(text, 1, 16)
