"""Where `framescribe caption` and `annotate` write their events, and in which format: one rule
for both (and the same writers batch uses): `-o FILE` picks the format from its extension,
`--format` overrides it, no `-o` (or `-o -`) writes to stdout.

Everything here is checked before any work (a bad extension, a missing directory), naming the
file, so minutes of captioning are never thrown away for a typo.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from typing import Any

from framescribe.models.inference.events import CaptionSegment, GestureEvent

FORMATS = ("vtt", "srt", "json", "jsonl")
FORMAT_HELP = ("vtt (WebVTT), srt, json (one document: {\"schema\": \"framescribe.events\", "
               "\"version\": 1, \"source\": ..., \"events\": [...]}) or jsonl (one event per "
               "line)")


def format_of(path: str | None, explicit: str | None, what: str, default: str = "vtt") -> str:
    """`explicit` if given, else the format `path`'s extension names (`default` for stdout)."""
    if explicit:
        return explicit
    if path is None or path == "-":
        return default
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    if extension not in FORMATS:
        raise ValueError(f"{path}: cannot tell the {what} format from the extension "
                         f"{('.' + extension) if extension else '(none)'}; use "
                         f"{', '.join('.' + f for f in FORMATS)}"
                         f"{' or --format' if what == 'output' else ''}")
    return extension


def check_writable(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{path}: cannot write, directory {directory} does not exist")


@dataclass(frozen=True)
class Outputs:
    main_format: str
    main_path: str | None  # None: stdout
    gestures_format: str | None = None
    gestures_path: str | None = None

    @property
    def destination(self) -> str:
        """Where the events went, for the summary line."""
        where = self.main_path or "stdout"
        if self.gestures_path:
            where += f", gestures -> {self.gestures_path}"
        return where


def plan_outputs(args) -> Outputs:
    """The outputs `args` ask for (-o, --format, --gestures-track), checked before any work.
    `args.default_format` is the format on stdout: vtt for caption, json for annotate."""
    path = None if args.output in (None, "-") else args.output
    main = format_of(path, args.format, "output", getattr(args, "default_format", "vtt"))
    if path is not None:
        check_writable(path)
    track = getattr(args, "gestures_track", None)
    if not track:
        return Outputs(main, path)
    if args.tasks is not None and "gestures" not in args.tasks:
        raise ValueError("--gestures-track needs the gestures task (--tasks ...,gestures)")
    gestures = format_of(track, None, "gestures track")
    check_writable(track)
    return Outputs(main, path, gestures, track)


def write_events(outputs: Outputs, events: list[Any], source: str | None) -> None:
    """Write `events` (captions and gesture events, in time order) as `outputs` says: gesture
    events in the main output as cues of their own, or in the gestures track."""
    from framescribe.plugin.subtitles import get_writer

    captions = [e for e in events if isinstance(e, CaptionSegment)]
    gestures = [e for e in events if isinstance(e, GestureEvent)]
    if outputs.gestures_path:
        get_writer(outputs.gestures_format, source).save(gestures, outputs.gestures_path)
    main = get_writer(outputs.main_format, source)
    main_events = captions if outputs.gestures_path else events
    if outputs.main_path:
        main.save(main_events, outputs.main_path)
    else:
        sys.stdout.write(main.to_string(main_events))
        sys.stdout.flush()


def end_at_next_caption(events: list) -> list:
    """A caption ends one frame period after its last frame, which can overlap the next
    caption's first frame by a few ms when the source's frames do not fall on the model's
    period (25 fps sampled to 10): end it where the next one starts, so no two captions are
    ever on screen together."""
    captions = sorted((e for e in events if isinstance(e, CaptionSegment)),
                      key=lambda e: e.start)
    trimmed = {}
    for caption, following in zip(captions, captions[1:], strict=False):
        if caption.start < following.start < caption.end:
            trimmed[id(caption)] = replace(caption, end=following.start)
    return [trimmed.get(id(e), e) for e in events]
