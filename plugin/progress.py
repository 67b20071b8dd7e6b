"""The progress line `framescribe caption` and `annotate` draw on stderr while a source is read,
and the summary line they print at the end."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from framescribe.models.inference.events import CaptionSegment, GestureEvent

PLAIN_PROGRESS_EVERY_S = 30.0  # a progress line this often when stderr is not a terminal


class Progress:
    """Frames sent, media seconds and speed on `stream`: a line redrawn in place on a
    terminal; elsewhere a plain line every PLAIN_PROGRESS_EVERY_S seconds, or nothing.
    `total_frames` (the source's frame count, before sampling) adds a percentage."""

    def __init__(self, stream: TextIO, label: str, total_frames: int | None, enabled: bool):
        self.stream = stream
        self.label = label
        self.total = total_frames
        self.enabled = enabled
        self.tty = enabled and stream.isatty()
        self.read = 0  # frames taken from the source
        self.frames = 0  # frames sent: sampled to the model's frame rate
        self.first: float | None = None
        self.last = 0.0
        self.captions = 0
        self.gestures = 0
        self.started = time.monotonic()
        self._drawn = 0.0
        self._line_open = False

    @property
    def media_seconds(self) -> float:
        return 0.0 if self.first is None else self.last - self.first

    @property
    def wall_seconds(self) -> float:
        return time.monotonic() - self.started

    def speed(self) -> float:
        wall = self.wall_seconds
        return self.media_seconds / wall if wall > 0 else 0.0

    def sample(self, source: Iterable, frame_rate: float) -> Iterator:
        """The source's frames sampled to `frame_rate` (as the server samples them: sending
        the rest would only cost bandwidth), counted as they are read and sent."""
        from framescribe.models.video import (
            FrameSampler,  # numpy only, no TensorFlow
        )

        sampler = FrameSampler(frame_rate)
        for item in source:
            timestamp = float(item[0])
            if self.first is None:
                self.first = timestamp
            self.last = max(self.last, timestamp)
            self.read += 1
            if sampler.accept(timestamp):
                self.frames += 1
                self._maybe_draw()
                yield item

    def event(self, event: Any) -> None:
        if isinstance(event, CaptionSegment):
            self.captions += 1
        elif isinstance(event, GestureEvent):
            self.gestures += 1

    def _maybe_draw(self) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty and now - self._drawn >= 0.1:
            self._drawn = now
            width = shutil.get_terminal_size().columns - 1  # one line, or \r cannot redraw it
            self.stream.write("\r" + self.line()[:max(20, width)] + "\x1b[K")
            self.stream.flush()
            self._line_open = True
        elif not self.tty and now - self._drawn >= PLAIN_PROGRESS_EVERY_S:
            if self._drawn:  # not at the very start
                self.stream.write(f"framescribe: {self.line()}\n")
                self.stream.flush()
            self._drawn = now

    def line(self) -> str:
        bar = ""
        if self.total:
            share = min(1.0, self.read / self.total)
            filled = round(share * 20)
            bar = f"[{'#' * filled}{'.' * (20 - filled)}] {share:4.0%} "
        return (f"{self.label}: {bar}{self.frames} frames sent, {self.media_seconds:.1f} s "
                f"of video, "
                f"{self.speed():.1f}x real time, {self.captions} captions, "
                f"{self.gestures} gestures")

    def close(self) -> None:
        if self._line_open:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._line_open = False

    def summary(self, destination: str) -> str:
        return (f"framescribe: {plural(self.captions, 'caption')}, "
                f"{plural(self.gestures, 'gesture')} from {plural(self.frames, 'frame')} "
                f"({self.media_seconds:.1f} s of video) in {self.wall_seconds:.1f} s "
                f"({self.speed():.1f}x real time) -> {destination}")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
