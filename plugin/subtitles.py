"""Subtitle writers (WebVTT, SRT) for timed text segments.

The writers differ only in class attributes, as whisper's do: one ``write`` drives both formats.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Iterator
from typing import ClassVar, Protocol, TextIO

from framescribe.plugin.atomic_files import write_atomically


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


class SubtitlesWriter:
    """Writes timed text as a subtitle file; subclasses only set the class attributes."""

    extension: ClassVar[str]
    header: ClassVar[str | None] = None  # a line written once before the first cue
    numbered_cues: ClassVar[bool] = False  # a 1-based cue number line before each timing line
    decimal_marker: ClassVar[str] = "."
    escape_markup: ClassVar[bool] = False  # escape &, <, > (cue text is markup in WebVTT)

    def cues(self, segments: Iterable[TimedText]) -> Iterator[tuple[str, str, str]]:
        """Yield ``(start, end, text)`` strings for every segment with non-empty text."""
        for segment in segments:
            text = sanitize_cue_text(segment.text)
            if not text:
                continue
            if segment.end < segment.start:
                raise ValueError(
                    f"segment ends before it starts: start={segment.start!r}, "
                    f"end={segment.end!r}, text={text!r}"
                )
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

    def to_string(self, segments: Iterable[TimedText]) -> str:
        """Return the whole subtitle file as a string."""
        buffer = io.StringIO()
        self.write(segments, buffer)
        return buffer.getvalue()

    def save(self, segments: Iterable[TimedText], path: str | os.PathLike[str]) -> None:
        """Write the subtitle file to ``path`` atomically (UTF-8)."""
        write_atomically(path, self.to_string(segments))


class WebVTTWriter(SubtitlesWriter):
    extension = "vtt"
    header = "WEBVTT"
    decimal_marker = "."
    escape_markup = True


class SRTWriter(SubtitlesWriter):
    extension = "srt"
    numbered_cues = True
    decimal_marker = ","


WRITERS: dict[str, type[SubtitlesWriter]] = {
    writer.extension: writer for writer in (WebVTTWriter, SRTWriter)
}


def get_writer(output_format: str) -> SubtitlesWriter:
    """Return a writer for ``"vtt"`` or ``"srt"``."""
    try:
        return WRITERS[output_format.lower().lstrip(".")]()
    except KeyError:
        raise ValueError(
            f"unknown subtitle format {output_format!r}; expected one of {sorted(WRITERS)}"
        ) from None
