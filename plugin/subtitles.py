"""Writers for timed captions and gesture events: WebVTT, SRT, JSON and JSON Lines.

The subtitle writers differ only in class attributes, as whisper's do: one ``write`` drives both
formats. They take captions (anything with ``start``, ``end``, ``text``) and gesture events
(``start``, ``end``, ``label``, ``confidence``: each becomes its own cue, "[gesture: WShape
0.97]"); objects without an end time (interim labels) are not cues and are skipped. Writers keep
the order they are given; ``in_time_order`` sorts a stream's events by start time first.

The JSON writers write the one event schema every command uses (plugin/schemas/
events.schema.json, ``schema_path()``). A record per caption or gesture event, ``kind`` first:

    {"kind": "caption", "start": 0.0, "end": 1.6, "text": "...", "confidence": 0.91,
     "log_prob": -0.094}
    {"kind": "gesture", "start": 2.1, "end": 3.4, "label": "WShape", "confidence": 0.97}

``.json`` is one document that names the schema, its version and the source, the records in
``events`` (one per line)::

    {"schema": "framescribe.events", "version": 1, "source": "bikes.mp4", "events": [...]}

``.jsonl`` is JSON Lines: one record per line, nothing else (for streaming and ``jq``). Times
are seconds, rounded to the millisecond; text is kept exactly as the model wrote it (JSON needs
no sanitising).
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Protocol, TextIO

from framescribe.plugin.atomic_files import write_atomically

EVENTS_SCHEMA = "framescribe.events"  # the "schema" of a JSON document
EVENTS_VERSION = 1  # its "version": bumped on any incompatible change


def schema_path() -> str:
    """The JSON Schema of the documents and records (shipped with the package)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas",
                        "events.schema.json")


class TimedText(Protocol):
    """Anything with a start and end time in seconds and a text: a caption, a gesture event."""

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...

    @property
    def text(self) -> str: ...


def format_timestamp(seconds: float, decimal_marker: str = ".") -> str:
    """Format ``seconds`` as ``HH:MM:SS<marker>mmm`` (hours always present, rounded to 1 ms)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"timestamp must be a finite number of seconds >= 0, got {seconds!r}")
    milliseconds = round(seconds * 1000.0)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    secs, milliseconds = divmod(milliseconds, 1_000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{milliseconds:03d}"


def sanitize_cue_text(text: str) -> str:
    """Collapse all whitespace (newlines included) to single spaces and defuse ``-->``.

    A blank line would end a cue and ``-->`` would read as a timing line, so neither may survive.
    """
    text = " ".join(text.split())
    while "-->" in text:  # "--->" becomes "-->" after one pass, so repeat until none is left
        text = text.replace("-->", "->")
    return text


def gesture_cue_text(label: str, confidence: float) -> str:
    """The cue text of a gesture event: ``[gesture: WShape 0.97]``."""
    return f"[gesture: {label} {confidence:.2f}]"


def cue_text(event: Any) -> str | None:
    """A caption's text, a gesture event's ``[gesture: LABEL 0.97]``, or None for anything
    that is not a final timed event (an interim label has no end time)."""
    if not hasattr(event, "end"):
        return None
    text = getattr(event, "text", None)
    if text is not None:
        return text
    if hasattr(event, "label"):
        return gesture_cue_text(event.label, event.confidence)
    return None


def in_time_order(events: Iterable[Any]) -> list[Any]:
    """The final events (captions, gestures) sorted by start, then end; interim labels and
    other objects without an end time are dropped. Stable: ties keep their order."""
    return sorted((e for e in events if hasattr(e, "end")), key=lambda e: (e.start, e.end))


def _check_times(event: Any, what: str) -> None:
    if event.end < event.start:
        raise ValueError(
            f"segment ends before it starts: start={event.start!r}, end={event.end!r}, "
            f"{what}")


class EventWriter:
    """The writers' shared surface: ``write`` to an open file, ``to_string``, ``save``.
    ``source`` (the input's path or URL) is recorded where the format has room for it (JSON)."""

    extension: ClassVar[str]

    def __init__(self, source: str | os.PathLike[str] | None = None):
        self.source = None if source is None else os.fspath(source)

    def write(self, segments: Iterable[Any], file: TextIO) -> None:
        raise NotImplementedError

    def to_string(self, segments: Iterable[Any]) -> str:
        """Return the whole file as a string."""
        buffer = io.StringIO()
        self.write(segments, buffer)
        return buffer.getvalue()

    def save(self, segments: Iterable[Any], path: str | os.PathLike[str]) -> None:
        """Write the file to ``path`` atomically (UTF-8)."""
        write_atomically(path, self.to_string(segments))


class SubtitlesWriter(EventWriter):
    """Writes timed text as a subtitle file; subclasses only set the class attributes."""

    extension: ClassVar[str]
    header: ClassVar[str | None] = None  # a line written once before the first cue
    numbered_cues: ClassVar[bool] = False  # a 1-based cue number line before each timing line
    decimal_marker: ClassVar[str] = "."
    escape_markup: ClassVar[bool] = False  # escape &, <, > (cue text is markup in WebVTT)

    def cues(self, segments: Iterable[TimedText]) -> Iterator[tuple[str, str, str]]:
        """Yield ``(start, end, text)`` strings for every segment with non-empty text."""
        for segment in segments:
            raw = cue_text(segment)
            if raw is None:
                continue
            text = sanitize_cue_text(raw)
            if not text:
                continue
            _check_times(segment, f"text={text!r}")
            if self.escape_markup:
                text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            yield (
                format_timestamp(segment.start, self.decimal_marker),
                format_timestamp(segment.end, self.decimal_marker),
                text,
            )

    def write(self, segments: Iterable[TimedText], file: TextIO) -> None:
        """Write all cues of ``segments`` to the open text ``file``."""
        if self.header is not None:
            file.write(f"{self.header}\n\n")
        for number, (start, end, text) in enumerate(self.cues(segments), start=1):
            if self.numbered_cues:
                file.write(f"{number}\n")
            file.write(f"{start} --> {end}\n{text}\n\n")


class WebVTTWriter(SubtitlesWriter):
    extension = "vtt"
    header = "WEBVTT"
    decimal_marker = "."
    escape_markup = True


class SRTWriter(SubtitlesWriter):
    extension = "srt"
    numbered_cues = True
    decimal_marker = ","


def event_record(event: Any) -> dict[str, Any] | None:
    """One caption or gesture event as a JSON-ready dict (None for interim labels)."""
    if not hasattr(event, "end"):
        return None
    text = getattr(event, "text", None)
    if text is not None:
        _check_times(event, f"text={text!r}")
        record: dict[str, Any] = {"kind": "caption", "start": round(float(event.start), 3),
                                  "end": round(float(event.end), 3), "text": text}
        log_prob = getattr(event, "log_prob", None)
        if log_prob is not None:
            record["confidence"] = round(math.exp(min(0.0, log_prob)), 4)
            record["log_prob"] = round(float(log_prob), 4)
        return record
    if hasattr(event, "label"):
        _check_times(event, f"label={event.label!r}")
        return {"kind": "gesture", "start": round(float(event.start), 3),
                "end": round(float(event.end), 3),
                "label": event.label, "confidence": round(float(event.confidence), 4)}
    return None


class JSONWriter(EventWriter):
    """One JSON document (EVENTS_SCHEMA, EVENTS_VERSION): the records in ``events``, one per
    line; JSON Lines (``lines``): one record per line and nothing else."""

    extension = "json"
    lines: ClassVar[bool] = False

    def records(self, events: Iterable[Any]) -> Iterator[dict[str, Any]]:
        for event in events:
            record = event_record(event)
            if record is not None:
                yield record

    def write(self, segments: Iterable[Any], file: TextIO) -> None:
        rows = (json.dumps(r, ensure_ascii=False) for r in self.records(segments))
        if self.lines:
            for row in rows:
                file.write(row + "\n")
            return
        head = json.dumps({"schema": EVENTS_SCHEMA, "version": EVENTS_VERSION,
                           "source": self.source}, ensure_ascii=False)
        file.write(head[:-1] + ', "events": [')
        number = -1
        for number, row in enumerate(rows):
            file.write(("\n  " if number == 0 else ",\n  ") + row)
        file.write("\n]}\n" if number >= 0 else "]}\n")


class JSONLinesWriter(JSONWriter):
    extension = "jsonl"
    lines = True


WRITERS: dict[str, type[EventWriter]] = {
    writer.extension: writer for writer in (WebVTTWriter, SRTWriter, JSONWriter, JSONLinesWriter)
}


def get_writer(output_format: str,
               source: str | os.PathLike[str] | None = None) -> EventWriter:
    """Return a writer for ``"vtt"``, ``"srt"``, ``"json"`` or ``"jsonl"``; ``source`` names
    the input in a JSON document."""
    try:
        return WRITERS[output_format.lower().lstrip(".")](source)
    except KeyError:
        raise ValueError(
            f"unknown subtitle format {output_format!r}; expected one of {sorted(WRITERS)}"
        ) from None
