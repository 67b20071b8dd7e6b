"""`framescribe caption` (subtitles for a video) and `framescribe annotate` (the same with
`--embedded` forced on and JSON on stdout by default): one code path, `run_caption`. Its options
are in caption_arguments, its outputs in caption_output, its progress line in progress; `watch`
(watch_command) reuses the annotators below.

Both read any source `open_source` accepts (a file, an image folder, a camera index, an RTSP or
HTTP URL, or "-" for raw frames on stdin) and stream it to a server (`--server`, the default,
localhost:50051 or $FRAMESCRIBE_SERVER). `caption --embedded` runs the models in this process
instead (needs the server extra: TensorFlow or LiteRT), with the same segmenting as a server
stream, so both modes give the same captions. Nothing here imports gRPC or the models until a
command runs.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

DEFAULT_SERVER = "localhost:50051"
SERVER_ENV = "FRAMESCRIBE_SERVER"
TOKEN_ENV = "FRAMESCRIBE_TOKEN"
# Frames per stream message for a file or an image folder (frames ready faster than real
# time): a gRPC message costs the server and the client ~50 µs of CPU each, so lists of 16
# cut that 16-fold; capped at the server's max_frames_per_message. Live sources (a camera, a
# URL, stdin) send 1 per message, so no frame waits for the next ones.
FILE_FRAMES_PER_MESSAGE = 16
EMBEDDED_MISSING = (
    "--embedded runs the models in this process and needs the model side ({missing}): "
    "pip install 'framescribe[server]', or caption through a running server with "
    "--server HOST:PORT")


def server_default() -> str:
    return os.environ.get(SERVER_ENV) or DEFAULT_SERVER


# -- annotators: a server stream, or the models in this process -----------------------------
def _token(args) -> str | None:
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as file:
            token = file.read().strip()
        if not token:
            raise ValueError(f"{args.token_file}: the token file is empty")
        return token
    return os.environ.get(TOKEN_ENV) or None


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
        self.info = info
        self.local_landmarks = getattr(args, "local_landmarks", False)
        if self.local_landmarks and info.gesture_input != "landmarks":
            self.client.close()
            raise ValueError(f"--local-landmarks: the bundle at {self.target} reads images, "
                             "not landmarks; leave the flag out")
        self.frame_rate = info.frame_rate
        self.input_size = info.input_size
        self.tasks = info.tasks
        self.max_frames_per_message = info.max_frames_per_message  # 0: an older server
        self.description = f"server {self.target} ({info.bundle_name} v{info.bundle_version}, " \
                           f"{info.runtime})"

    def stream(self, frames: Iterable, config, frames_per_message: int = 1) -> Iterator[Any]:
        """Events of a stream of `frames`, sent in lists of `frames_per_message` capped at the
        server's limit (1 to a server that does not take lists)."""
        from framescribe.plugin.client_requests import extracted_landmarks, fitted_lossless

        size = min(frames_per_message, self.max_frames_per_message) or 1
        if self.local_landmarks:
            sent = extracted_landmarks(frames, self.info.landmark_kind)
        else:
            sent = fitted_lossless(frames, self.info)
            if self.info.gesture_input == "landmarks":
                size = 1  # whole frames, losslessly: a list of them could pass the message limit
        return self.client.stream(sent, config, frames_per_message=size)

    def close(self) -> None:
        self.client.close()


class EmbeddedAnnotator:
    """The models in this process: the streaming core's live mode (Pipeline.stream), fed the
    frames in groups of `frames_per_message`, so it segments and times exactly as a server
    stream does."""

    def __init__(self, args):
        from framescribe.plugin.cli import _quiet_tensorflow, default_bundle

        _quiet_tensorflow()
        try:
            importlib.import_module("tensorflow" if args.runtime == "tf" else "ai_edge_litert")
            from framescribe.models.inference.pipeline import Pipeline
            from framescribe.models.inference.pipeline_options import video_tasks
        except ImportError as error:
            raise RuntimeError(EMBEDDED_MISSING.format(missing=error)) from None
        bundle = args.bundle or default_bundle()
        self.pipeline = Pipeline.from_bundle(bundle, runtime=args.runtime)
        manifest = self.pipeline.manifest
        self.frame_rate = manifest.frame_rate
        self.tasks = video_tasks(manifest)
        self.description = f"embedded ({manifest.name} v{manifest.version}, {args.runtime})"

    def stream(self, frames: Iterable, config, frames_per_message: int = 1) -> Iterator[Any]:
        """Events of `frames`, pushed into one session frames_per_message at a time."""
        from framescribe.models.inference.caption_search import DecodingOptions
        from framescribe.models.inference.pipeline_options import PipelineOptions

        session = self.pipeline.stream(PipelineOptions(
            tasks=config.tasks or None, segment_frames=config.segment_frames or None,
            decoding=DecodingOptions(beam_size=config.beam_size or DecodingOptions.beam_size),
            min_confidence=config.min_confidence or None, interim=config.interim))
        group: list = []
        for frame in frames:
            group.append(frame)
            if len(group) >= frames_per_message:
                yield from session.push(group)
                group = []
        yield from session.push(group)
        yield from session.flush()

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
    from framescribe.models.video import open_source

    if spec == "-" and args.raw_size is None:
        raise ValueError("raw frames on stdin (-) need --raw-size WxH (and --raw-fps N, "
                         "default 30), e.g. what ffmpeg's -s and -r were given")
    return open_source(spec, raw_size=args.raw_size,
                       raw_pixel_format=args.raw_pixel_format, raw_fps=args.raw_fps)


def _frames_per_message(spec: str) -> int:
    """FILE_FRAMES_PER_MESSAGE for a video file or an image folder, 1 for a live source (a
    camera index, an rtsp/http(s) URL, "-" for stdin)."""
    from framescribe.models.video import is_live

    return 1 if is_live(spec) else FILE_FRAMES_PER_MESSAGE


# -- caption ---------------------------------------------------------------------------------
def _connect(args):
    if not getattr(args, "embedded", False):
        return ServerAnnotator(args)
    from framescribe.plugin.model_side import require_model_side

    command = "annotate" if getattr(args, "command", None) == "annotate" else "caption --embedded"
    require_model_side(command, args.runtime,
                       alternative="or caption through a running server: "
                                   "framescribe caption INPUT --server HOST:PORT")
    return EmbeddedAnnotator(args)


def _client_errors() -> tuple[type[BaseException], ...]:
    from framescribe.plugin.client import FramescribeError

    return (FramescribeError,)


def run_caption(args) -> int:
    """`framescribe caption` and `annotate`: a source -> its events (WebVTT, SRT, JSON, JSON
    Lines) on stdout or in a file, a progress line and a summary on stderr."""
    from framescribe.plugin.caption_output import end_at_next_caption, plan_outputs, write_events
    from framescribe.plugin.progress import Progress
    from framescribe.plugin.subtitles import in_time_order

    outputs = plan_outputs(args)  # before any work, naming the file
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
    write_events(outputs, in_time_order(end_at_next_caption(events)), source=args.input)
    if not args.quiet:
        print(progress.summary(outputs.destination), file=sys.stderr)
    return 0


def _fail(message: str) -> int:
    print(f"framescribe: error: {message}", file=sys.stderr)
    return 1


def _client_message(error, args) -> str:
    """One actionable line for a failed call."""
    import grpc

    details = error.details
    if error.code == grpc.StatusCode.UNAUTHENTICATED:
        return (f"the server refused the token ({details}); pass the right one with "
                f"--token-file FILE or ${TOKEN_ENV}")
    if error.code == grpc.StatusCode.UNAVAILABLE:
        return (f"{details} (is `framescribe serve` running there? pick a server with "
                f"--server HOST:PORT{', or use --embedded' if hasattr(args, 'embedded') else ''})")
    return f"{error.code.name}: {details}"
