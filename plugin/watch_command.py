"""`framescribe watch`: a live source's events in the terminal as they arrive (a server
stream; cli.py only registers the command)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from framescribe.models.inference.events import CaptionSegment, InterimGesture
from framescribe.plugin.caption_command import (
    ServerAnnotator,
    _client_errors,
    _client_message,
    _fail,
    _open_source,
    _stream_config,
)
from framescribe.plugin.progress import Progress


class LiveDisplay:
    """Final events as lines on `out`; on a terminal, the current gesture label on a line
    that is redrawn in place below them."""

    def __init__(self, out: TextIO, jsonl: bool, interim: bool):
        self.out = out
        self.jsonl = jsonl
        self.interim = interim
        self._status = ""

    def show(self, event: Any) -> None:
        if isinstance(event, InterimGesture):
            if self.interim:
                label = f"{event.label} {event.confidence:.2f}" if event.label else "(idle)"
                self._status = f"  {event.timestamp:8.2f} s  now: {label}"
                self.out.write("\r" + self._status + "\x1b[K")
                self.out.flush()
            return
        if self.jsonl:
            import json

            from framescribe.plugin.subtitles import event_record

            line = json.dumps(event_record(event), ensure_ascii=False)
        elif isinstance(event, CaptionSegment):
            line = f"[{event.start:8.2f} - {event.end:8.2f}] caption: {event.text}"
        else:
            line = (f"[{event.start:8.2f} - {event.end:8.2f}] gesture: {event.label} "
                    f"({event.confidence:.2f})")
        if self._status:
            self.out.write("\r\x1b[K")
        self.out.write(line + "\n")
        if self._status:
            self.out.write(self._status + "\x1b[K")
        self.out.flush()

    def close(self) -> None:
        if self._status:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._status = ""


def _paced(frames: Iterable) -> Iterator:
    """Frames released no faster than their timestamps (a file played like a camera)."""
    started = first = None
    for item in frames:
        timestamp = float(item[0])
        if started is None:
            started, first = time.monotonic(), timestamp
        delay = (timestamp - first) - (time.monotonic() - started)
        if delay > 0:
            time.sleep(delay)
        yield item

def run_watch(args) -> int:
    """`framescribe watch`: a source's events printed as they arrive."""
    out = sys.stdout
    show_interim = out.isatty() and not args.no_interim and not args.jsonl
    try:
        annotator = ServerAnnotator(args)
        try:
            tasks = args.tasks or annotator.tasks
            config = _stream_config(args, interim=show_interim and "gestures" in tasks)
            with _open_source(args, args.source) as source:
                print(f"framescribe: watching {source.description} via "
                      f"{annotator.description}; Ctrl-C stops", file=sys.stderr, flush=True)
                progress = Progress(sys.stderr, source.description, None, enabled=False)
                frames = progress.sample(source, annotator.frame_rate)
                display = LiveDisplay(out, args.jsonl, config.interim)
                try:
                    for event in annotator.stream(_paced(frames) if args.realtime else frames,
                                                  config):
                        progress.event(event)
                        display.show(event)
                finally:
                    display.close()
        finally:
            annotator.close()
    except _client_errors() as error:
        return _fail(_client_message(error, args))
    print(progress.summary("stdout"), file=sys.stderr)
    return 0
