"""The options of `framescribe caption`, `annotate` and `watch`, one vocabulary for all three
(and batch): `-o FILE` with the format from its extension and `--format` to override it,
`--segment-frames N` (frames at the model's rate), `--tasks LIST`, `--beam-size N`,
`--min-confidence P`; `--bundle` and `--runtime` where the models run in this process."""

from __future__ import annotations

import argparse

from framescribe.plugin.caption_command import DEFAULT_SERVER, SERVER_ENV, TOKEN_ENV
from framescribe.plugin.caption_output import FORMAT_HELP, FORMATS
from framescribe.plugin.cli_types import (
    beam_size,
    comma_subset,
    frame_size,
    positive_float,
    probability,
    segment_frames,
)

TASK_NAMES = ("captions", "gestures")
SEGMENT_FRAMES_HELP = ("frames per caption segment, counted at the model's frame rate, 2-1024 "
                       "(default: the bundle's; the demo bundle's 16 at 10 fps is 1.6 s)")
SOURCE_HELP = ("a video file, an image folder, a camera index (0), an rtsp:// or http(s):// "
               "URL, or - for raw frames on stdin")


def _add_source_arguments(parser: argparse.ArgumentParser, name: str,
                          metavar: str | None = None) -> None:
    parser.add_argument(name, metavar=metavar or name.upper(), help=SOURCE_HELP)
    raw = parser.add_argument_group("raw frames on stdin (SOURCE -)")
    raw.add_argument("--raw-size", type=frame_size, metavar="WxH", help="frame size, e.g. 320x240")
    raw.add_argument("--raw-fps", type=positive_float, default=30.0, metavar="N",
                     help="frames per second of the raw stream (default 30): frame i is at "
                          "i/N seconds")
    raw.add_argument("--raw-pixel-format", default="rgb24", metavar="FMT",
                     help="pixel layout as ffmpeg's -pix_fmt names it (default rgb24)")


def _add_output_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the events to FILE (atomically) instead of stdout; its "
                             "extension picks the format: .vtt, .srt, .json, .jsonl")
    parser.add_argument("--format", choices=FORMATS,
                        help=f"the output format, overriding -o's extension: {FORMAT_HELP}; "
                             f"default: from -o, else {default} on stdout")
    parser.set_defaults(default_format=default)


class _NoTokenInArgv(argparse.Action):
    """A token on the command line is visible to every user of the machine (ps, /proc)."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is not taken: a token in the command line is visible to "
                     f"other users (ps); use --token-file FILE or ${TOKEN_ENV}")


def _add_server_arguments(parser) -> None:
    parser.add_argument("--token-file", metavar="FILE",
                        help=f"read the bearer token the server requires from FILE (or set "
                             f"${TOKEN_ENV})")
    # Not a prefix of --token-file (which would read the token as a file name and echo it).
    parser.add_argument("--token", nargs="?", action=_NoTokenInArgv, help=argparse.SUPPRESS)
    parser.add_argument("--tls", action="store_true",
                        help="connect with TLS, trusting the system's certificate authorities")
    parser.add_argument("--tls-ca", metavar="PEM",
                        help="connect with TLS, trusting this CA certificate (implies --tls)")
    parser.add_argument("--jpeg-quality", type=int, default=90, metavar="Q",
                        help="JPEG quality of the frames sent (1-100, default 90)")
    parser.add_argument("--local-landmarks", action="store_true",
                        help="landmark bundles: extract the MediaPipe landmarks here and send "
                             "only those, so no pixels leave this machine (needs the model "
                             "side's MediaPipe: `make setup`, or pip install "
                             "'framescribe[server,landmarks]' and --no-deps mediapipe==1.2.3)")


def _add_model_options(parser) -> None:
    parser.add_argument("--tasks", type=comma_subset(TASK_NAMES, "tasks"), metavar="LIST",
                        help="captions, gestures or captions,gestures (default: every task the "
                             "model supports)")
    parser.add_argument("--segment-frames", type=segment_frames, default=0, metavar="N",
                        help=SEGMENT_FRAMES_HELP)
    parser.add_argument("--beam-size", type=beam_size, default=0, metavar="N",
                        help="caption beam width, 1-16 (default 3)")
    parser.add_argument("--min-confidence", type=probability, default=0.0, metavar="P",
                        help="drop gesture events below this confidence, 0-1 (default: the "
                             "model's tuned value)")


def _add_bundle_arguments(parser) -> None:
    parser.add_argument("--bundle", help="model bundle directory (default: the demo bundle)")
    parser.add_argument("--runtime", choices=("tf", "litert"), default="tf",
                        help="tf: TensorFlow (GPU when present; default); litert: the "
                             "bundle's LiteRT files on CPU, without TensorFlow")


def _add_quiet(parser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress and no summary on stderr")


def add_caption_arguments(parser: argparse.ArgumentParser) -> None:
    _add_source_arguments(parser, "input")
    _add_output_arguments(parser, "vtt")
    parser.add_argument("--gestures-track", metavar="FILE",
                        help="write gesture events to this second file (format from its "
                             "extension) and keep only captions in the main output; by default "
                             "gestures are cues of their own, '[gesture: WShape 0.97]'")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--server", metavar="HOST:PORT",
                       help=f"stream to this server (default: ${SERVER_ENV} or {DEFAULT_SERVER})")
    where.add_argument("--embedded", action="store_true",
                       help="run the models in this process, no server (needs "
                            "pip install 'framescribe[server]'); `framescribe annotate` is "
                            "this with JSON on stdout by default")
    _add_model_options(parser)
    _add_server_arguments(parser)
    _add_bundle_arguments(parser.add_argument_group("--embedded"))
    _add_quiet(parser)


def add_annotate_arguments(parser: argparse.ArgumentParser) -> None:
    """`annotate` is `caption --embedded` with JSON on stdout by default: caption's options
    for the models in this process, nothing of a server's."""
    _add_source_arguments(parser, "input", "VIDEO")
    _add_output_arguments(parser, "json")
    parser.add_argument("--gestures-track", metavar="FILE",
                        help="write gesture events to this second file (format from its "
                             "extension) and keep only captions in the main output")
    _add_model_options(parser)
    _add_bundle_arguments(parser)
    _add_quiet(parser)
    parser.set_defaults(embedded=True, server=None)


def add_watch_arguments(parser: argparse.ArgumentParser) -> None:
    _add_source_arguments(parser, "source")
    parser.add_argument("--server", metavar="HOST:PORT",
                        help=f"the server (default: ${SERVER_ENV} or {DEFAULT_SERVER})")
    _add_model_options(parser)
    _add_server_arguments(parser)
    parser.add_argument("--realtime", action="store_true",
                        help="send a file's frames no faster than real time, as a camera would")
    parser.add_argument("--jsonl", action="store_true",
                        help="print each final event as a JSON line (the record of "
                             "framescribe.events) instead of text")
    parser.add_argument("--no-interim", action="store_true",
                        help="do not show the current gesture label on a terminal")
