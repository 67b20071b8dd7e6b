"""`framescribe caption` (subtitles for a video) and `framescribe watch` (a live source's events
in the terminal). cli.py only registers the commands; everything else lives here.

Both read any source `open_source` accepts (a file, an image folder, a camera index, an RTSP or
HTTP URL, or "-" for raw frames on stdin) and stream it to a server (`--server`, the default,
localhost:50051 or $FRAMESCRIBE_SERVER). `caption --embedded` runs the models in this process
instead (needs the server extra: TensorFlow or LiteRT), with the same segmenting as a server
stream, so both modes give the same captions. Nothing here imports gRPC or the models until a
command runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from framescribe.plugin.cli_types import comma_subset, frame_size, positive_float, probability

DEFAULT_SERVER = "localhost:50051"
SERVER_ENV = "FRAMESCRIBE_SERVER"
TOKEN_ENV = "FRAMESCRIBE_TOKEN"
FORMATS = ("vtt", "srt", "json", "jsonl")
TASK_NAMES = ("captions", "gestures")
PLAIN_PROGRESS_EVERY_S = 30.0  # a progress line this often when stderr is not a terminal
# Frames per stream message for a file or an image folder (frames ready faster than real
# time): a gRPC message costs the server and the client ~50 µs of CPU each, so lists of 16
# cut that 16-fold; capped at the server's max_frames_per_message. Live sources (a camera, a
# URL, stdin) send 1 per message, so no frame waits for the next ones.
FILE_FRAMES_PER_MESSAGE = 16
EMBEDDED_MISSING = (
    "--embedded runs the models in this process and needs the model side ({missing}): "
    "pip install 'framescribe[server]', or caption through a running server with "
    "--server HOST:PORT")


# -- arguments -------------------------------------------------------------------------------
def _add_source_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(name, help="a video file, an image folder, a camera index (0), an "
                        "rtsp:// or http(s):// URL, or - for raw frames on stdin")
    raw = parser.add_argument_group("raw frames on stdin (SOURCE -)")
    raw.add_argument("--raw-size", type=frame_size, metavar="WxH", help="frame size, e.g. 320x240")
    raw.add_argument("--raw-fps", type=positive_float, default=30.0, metavar="N",
                     help="frames per second of the raw stream (default 30): frame i is at "
                          "i/N seconds")
    raw.add_argument("--raw-pixel-format", default="rgb24", metavar="FMT",
                     help="pixel layout as ffmpeg's -pix_fmt names it (default rgb24)")


def _add_server_arguments(parser) -> None:
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token", help=f"bearer token the server requires (or ${TOKEN_ENV})")
    token.add_argument("--token-file", metavar="FILE", help="read the bearer token from FILE")
    parser.add_argument("--tls", action="store_true",
                        help="connect with TLS, trusting the system's certificate authorities")
    parser.add_argument("--tls-ca", metavar="PEM",
                        help="connect with TLS, trusting this CA certificate (implies --tls)")
    parser.add_argument("--jpeg-quality", type=int, default=90, metavar="Q",
                        help="JPEG quality of the frames sent (1-100, default 90)")


def _add_model_options(parser) -> None:
    parser.add_argument("--tasks", type=comma_subset(TASK_NAMES, "tasks"), metavar="LIST",
                        help="captions, gestures or captions,gestures (default: every task the "
                             "model supports)")
    parser.add_argument("--segment-frames", type=int, default=0, metavar="N",
                        help="frames per caption segment, 2-1024 (default: the model's)")
    parser.add_argument("--beam-size", type=int, default=0, metavar="N",
                        help="caption beam width, 1-16 (default 3)")
    parser.add_argument("--min-confidence", type=probability, default=0.0, metavar="P",
                        help="drop gesture events below this confidence, 0-1 (default: the "
                             "model's tuned value)")


def server_default() -> str:
    return os.environ.get(SERVER_ENV) or DEFAULT_SERVER


def add_caption_arguments(parser: argparse.ArgumentParser) -> None:
    _add_source_arguments(parser, "input")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write here (atomically) instead of stdout; the extension picks "
                             "the format: .vtt, .srt, .json (one JSON array), .jsonl (JSON "
                             "Lines)")
    parser.add_argument("--format", choices=FORMATS,
                        help="output format (default: from --output's extension, else vtt)")
    parser.add_argument("--gestures-track", metavar="FILE",
                        help="write gesture events to this second file (format from its "
                             "extension) and keep only captions in the main output; by default "
                             "gestures are cues of their own, '[gesture: WShape 0.97]'")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--server", metavar="HOST:PORT",
                       help=f"stream to this server (default: ${SERVER_ENV} or {DEFAULT_SERVER})")
    where.add_argument("--embedded", action="store_true",
                       help="run the models in this process, no server (needs "
                            "pip install 'framescribe[server]')")
    _add_model_options(parser)
    _add_server_arguments(parser)
    embedded = parser.add_argument_group("--embedded")
    embedded.add_argument("--bundle", help="model bundle directory (default: the demo bundle)")
    embedded.add_argument("--runtime", choices=("tf", "litert"), default="tf",
                          help="tf (TensorFlow) or litert (the bundle's LiteRT files on CPU)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress and no summary on stderr")


def add_watch_arguments(parser: argparse.ArgumentParser) -> None:
    _add_source_arguments(parser, "source")
    parser.add_argument("--server", metavar="HOST:PORT",
                        help=f"the server (default: ${SERVER_ENV} or {DEFAULT_SERVER})")
    _add_model_options(parser)
    _add_server_arguments(parser)
    parser.add_argument("--realtime", action="store_true",
                        help="send a file's frames no faster than real time, as a camera would")
    parser.add_argument("--jsonl", action="store_true",
                        help="print each final event as a JSON line instead of text")
    parser.add_argument("--no-interim", action="store_true",
                        help="do not show the current gesture label on a terminal")


# -- annotators: a server stream, or the models in this process -----------------------------
def _token(args) -> str | None:
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as file:
            token = file.read().strip()
        if not token:
            raise ValueError(f"{args.token_file}: the token file is empty")
        return token
    return args.token or os.environ.get(TOKEN_ENV) or None


class ServerAnnotator:
    """Streams frames to a server; `frame_rate` and `tasks` come from its GetModelInfo."""

    def __init__(self, args):
        from framescribe.plugin.client import Client

        self.target = args.server or server_default()
        tls = args.tls_ca or (True if args.tls else None)
        self.client = Client(self.target, tls=tls, token=_token(args),
                             jpeg_quality=args.jpeg_quality)
        try:
            info = self.client.model_info()
        except BaseException:
            self.client.close()
            raise
        self.frame_rate = info.frame_rate
        self.tasks = info.tasks
        self.max_frames_per_message = info.max_frames_per_message  # 0: an older server
        self.description = f"server {self.target} ({info.bundle_name} v{info.bundle_version}, " \
                           f"{info.runtime})"

    def stream(self, frames: Iterable, config, frames_per_message: int = 1) -> Iterator[Any]:
        """Events of a stream of `frames`, sent in lists of `frames_per_message` capped at the
        server's limit (1 to a server that does not take lists)."""
        size = min(frames_per_message, self.max_frames_per_message) or 1
        return self.client.stream(frames, config, frames_per_message=size)

    def close(self) -> None:
        self.client.close()


class EmbeddedAnnotator:
    """The models in this process, segmenting like a server stream: the same frame sampling,
    one caption per `segment_frames` sampled frames (a short last segment is captioned on its
    own), each ending one frame period after its last frame; gesture events of the whole clip
    once the source ends."""

    def __init__(self, args):
        from framescribe.plugin.cli import _quiet_tensorflow, default_bundle

        _quiet_tensorflow()
        try:
            importlib.import_module("tensorflow" if args.runtime == "tf" else "ai_edge_litert")
            from framescribe.models.inference.pipeline import Pipeline
        except ImportError as error:
            raise RuntimeError(EMBEDDED_MISSING.format(missing=error)) from None
        bundle = args.bundle or default_bundle()
        self.pipeline = Pipeline.from_bundle(bundle, runtime=args.runtime)
        manifest = self.pipeline.manifest
        self.frame_rate = manifest.frame_rate
        self.tasks = tuple(t for t, model in (("captions", self.pipeline.vocabulary),
                                               ("gestures", self.pipeline.labels))
                           if model is not None)
        if self.pipeline.reads_landmarks:
            self.tasks = tuple(t for t in self.tasks if t != "gestures")
        self.description = f"embedded ({manifest.name} v{manifest.version}, {args.runtime})"

    def _options(self, config):
        from dataclasses import replace

        from framescribe.models.inference.caption_search import DecodingOptions
        from framescribe.models.inference.pipeline import PipelineOptions

        tasks = config.tasks or self.tasks
        missing = [t for t in tasks if t not in self.tasks]
        if missing:
            raise ValueError(f"the bundle has no {missing[0]} model for video frames "
                             f"(it supports: {', '.join(self.tasks) or 'nothing'})")
        manifest = self.pipeline.manifest
        events = None
        if config.min_confidence:
            events = replace(self.pipeline.default_event_options,
                             min_confidence=config.min_confidence)
        return PipelineOptions(
            tasks=tasks, segment_frames=config.segment_frames or manifest.caption_segment_frames,
            decoding=DecodingOptions(beam_size=config.beam_size or 3,
                                     max_length=manifest.caption_max_length),
            events=events)

    def stream(self, frames: Iterable, config, frames_per_message: int = 1) -> Iterator[Any]:
        """Events of `frames` (frames_per_message is a wire setting: ignored here)."""
        import numpy as np

        from framescribe.models.inference.pipeline import CaptionSegment
        from framescribe.models.inference.video_frames import FrameSampler

        options = self._options(config)
        pipeline, period = self.pipeline, 1.0 / self.frame_rate
        sampler = FrameSampler(self.frame_rate)
        times: list[float] = []
        images: list = []
        features: list = []

        def segment() -> Iterator[CaptionSegment]:
            encoded = pipeline.encode(images)
            segment_times = times[-len(images):]
            images.clear()
            features.append(encoded)
            if "captions" in options.tasks:
                [(text, log_prob)] = pipeline.caption(encoded[None], options.decoding)
                yield CaptionSegment(segment_times[0], segment_times[-1] + period, text,
                                     log_prob)

        for timestamp, image in frames:
            if not sampler.accept(timestamp):
                continue
            times.append(float(timestamp))
            images.append(image)
            if len(images) == options.segment_frames:
                yield from segment()
        if images:
            yield from segment()
        if times and "gestures" in options.tasks:
            yield from pipeline.gesture_events(np.concatenate(features), np.asarray(times),
                                               options)

    def close(self) -> None:
        pass


def _stream_config(args, *, interim: bool = False):
    from framescribe.plugin.client import StreamConfig

    return StreamConfig(tasks=args.tasks, segment_frames=args.segment_frames,
                        beam_size=args.beam_size, min_confidence=args.min_confidence,
                        interim=interim)


def _open_source(args, spec: str):
    """The source, with the CLI's own words for what it needs; FFmpeg's log lines (e.g. "moov
    atom not found" for a broken file) are silenced: the error line says what went wrong."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL; read at first open
    from framescribe.plugin.video_sources import open_source

    if spec == "-" and args.raw_size is None:
        raise ValueError("raw frames on stdin (-) need --raw-size WxH (and --raw-fps N, "
                         "default 30), e.g. what ffmpeg's -s and -r were given")
    return open_source(spec, raw_size=args.raw_size,
                       raw_pixel_format=args.raw_pixel_format, raw_fps=args.raw_fps)


def _frames_per_message(spec: str) -> int:
    """FILE_FRAMES_PER_MESSAGE for a video file or an image folder, 1 for a live source (a
    camera index, an rtsp/http(s) URL, "-" for stdin)."""
    from framescribe.plugin.video_sources import is_live

    return 1 if is_live(spec) else FILE_FRAMES_PER_MESSAGE


# -- progress --------------------------------------------------------------------------------
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
        from framescribe.models.inference.video_frames import (
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
        if hasattr(event, "text"):
            self.captions += 1
        elif hasattr(event, "end"):
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
        return (f"framescribe: {_plural(self.captions, 'caption')}, "
                f"{_plural(self.gestures, 'gesture')} from {_plural(self.frames, 'frame')} "
                f"({self.media_seconds:.1f} s of video) in {self.wall_seconds:.1f} s "
                f"({self.speed():.1f}x real time) -> {destination}")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# -- caption ---------------------------------------------------------------------------------
def _format_of(path: str | None, explicit: str | None, what: str) -> str:
    if explicit:
        return explicit
    if path is None or path == "-":
        return "vtt"
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    if extension not in FORMATS:
        raise ValueError(f"{path}: cannot tell the {what} format from the extension "
                         f"{('.' + extension) if extension else '(none)'}; use "
                         f"{', '.join('.' + f for f in FORMATS)}"
                         f"{' or --format' if what == 'output' else ''}")
    return extension


def _check_writable(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{path}: cannot write, directory {directory} does not exist")


@dataclass(frozen=True)
class _Outputs:
    main_format: str
    main_path: str | None  # None: stdout
    gestures_format: str | None
    gestures_path: str | None


def _outputs(args) -> _Outputs:
    path = None if args.output in (None, "-") else args.output
    main = _format_of(path, args.format, "output")
    gestures = None
    if args.gestures_track:
        if args.tasks is not None and "gestures" not in args.tasks:
            raise ValueError("--gestures-track needs the gestures task (--tasks ...,gestures)")
        gestures = _format_of(args.gestures_track, None, "gestures track")
        _check_writable(args.gestures_track)
    if path is not None:
        _check_writable(path)
    return _Outputs(main, path, gestures, args.gestures_track)


def _connect(args):
    return EmbeddedAnnotator(args) if getattr(args, "embedded", False) else ServerAnnotator(args)


def _client_errors() -> tuple[type[BaseException], ...]:
    from framescribe.plugin.client import FramescribeError

    return (FramescribeError,)


def run_caption(args) -> int:
    """`framescribe caption`: a source -> subtitles (or JSON) on stdout or in a file."""
    from framescribe.plugin.subtitles import get_writer, in_time_order

    outputs = _outputs(args)  # before any work, naming the file
    config = _stream_config(args)
    try:
        annotator = _connect(args)
        try:
            with _open_source(args, args.input) as source:
                label = os.path.basename(args.input) if os.path.isfile(args.input) \
                    else source.description
                progress = Progress(sys.stderr, label, source.frame_count,
                                    enabled=not args.quiet)
                frames = progress.sample(source, annotator.frame_rate)
                events = []
                try:
                    for event in annotator.stream(frames, config,
                                                  _frames_per_message(args.input)):
                        progress.event(event)
                        events.append(event)
                finally:
                    progress.close()
                if not progress.frames:
                    raise ValueError(f"{source.description}: no frames to caption")
        finally:
            annotator.close()
    except _client_errors() as error:
        return _fail(_client_message(error, args))
    events = in_time_order(_end_at_next_caption(events))
    captions = [e for e in events if hasattr(e, "text")]
    gestures = [e for e in events if not hasattr(e, "text")]
    main_events = captions if outputs.gestures_path else events
    text = get_writer(outputs.main_format).to_string(main_events)
    if outputs.gestures_path:
        get_writer(outputs.gestures_format).save(gestures, outputs.gestures_path)
    if outputs.main_path:
        from framescribe.plugin.atomic_files import write_atomically

        write_atomically(outputs.main_path, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if not args.quiet:
        where = outputs.main_path or "stdout"
        if outputs.gestures_path:
            where += f", gestures -> {outputs.gestures_path}"
        print(progress.summary(where), file=sys.stderr)
    return 0


def _end_at_next_caption(events: list) -> list:
    """A caption ends one frame period after its last frame, which can overlap the next
    caption's first frame by a few ms when the source's frames do not fall on the model's
    period (25 fps sampled to 10): end it where the next one starts, so no two captions are
    ever on screen together."""
    from dataclasses import replace

    captions = sorted((e for e in events if hasattr(e, "text")), key=lambda e: e.start)
    trimmed = {}
    for caption, following in zip(captions, captions[1:], strict=False):
        if caption.start < following.start < caption.end:
            trimmed[id(caption)] = replace(caption, end=following.start)
    return [trimmed.get(id(e), e) for e in events]


def _fail(message: str) -> int:
    print(f"framescribe: error: {message}", file=sys.stderr)
    return 1


def _client_message(error, args) -> str:
    """One actionable line for a failed call."""
    import grpc

    details = error.details
    if error.code == grpc.StatusCode.UNAUTHENTICATED:
        return (f"the server refused the token ({details}); pass the right one with --token, "
                f"--token-file or ${TOKEN_ENV}")
    if error.code == grpc.StatusCode.UNAVAILABLE:
        return (f"{details} (is `framescribe serve` running there? pick a server with "
                f"--server HOST:PORT{', or use --embedded' if hasattr(args, 'embedded') else ''})")
    return f"{error.code.name}: {details}"


# -- watch -----------------------------------------------------------------------------------
class LiveDisplay:
    """Final events as lines on `out`; on a terminal, the current gesture label on a line
    that is redrawn in place below them."""

    def __init__(self, out: TextIO, jsonl: bool, interim: bool):
        self.out = out
        self.jsonl = jsonl
        self.interim = interim
        self._status = ""

    def show(self, event: Any) -> None:
        if not hasattr(event, "end"):  # an interim label
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
        elif hasattr(event, "text"):
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
