"""The `framescribe` command: one entry point that registers the commands and dispatches.

Each command lives in its own module (caption_command + caption_arguments: caption, annotate;
watch_command; batch_command; serve_command; train_command: train, eval, export, data;
landmarks_command), imported
only when it is registered or runs. Model code (TensorFlow) is imported only by the commands
that run the models, after `require_model_side` has checked it is installed, so `--help` is
instant and the client install (`pip install .`) answers those commands with one line.

One vocabulary across commands: `-o FILE` (format from the extension, `--format` to override;
batch: `-o OUTDIR --format vtt,srt,json`), `--segment-frames N` (frames at the model's rate),
`--tasks`, `--beam-size`, `--min-confidence`, `--bundle`, `--runtime`; JSON is always the
framescribe.events schema (plugin/schemas/events.schema.json).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from framescribe.plugin.model_side import INSTALL, ModelSideMissing, quiet_tensorflow

EXIT_USAGE = 2
EXIT_FAILED = 1
_quiet_tensorflow = quiet_tensorflow  # the name caption_command and batch_command import


def default_bundle() -> str:
    """The shipped demo bundle (inside the installed package)."""
    import importlib.util

    spec = importlib.util.find_spec("framescribe.models")
    if spec is None or not spec.submodule_search_locations:
        return "models/bundles/demo"
    return str(Path(list(spec.submodule_search_locations)[0]) / "bundles" / "demo")


class Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (what was wrong, where the help is), exit 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")

    def parse_known_args(self, args=None, namespace=None):
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and " " in self.prog:  # a command's parser: name its own --help
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


# -- handlers: each imports its command's module only when it runs ---------------------------
def _caption(args) -> int:
    from framescribe.plugin.caption_command import run_caption

    return run_caption(args)


def _watch(args) -> int:
    from framescribe.plugin.watch_command import run_watch

    return run_watch(args)


def _batch(args) -> int:
    from framescribe.plugin.batch_command import run_batch

    return run_batch(args)


def _serve(args) -> int:
    from framescribe.plugin.serve_command import run_serve

    return run_serve(args)


# -- parsers ---------------------------------------------------------------------------------
CAPTION_DESCRIPTION = (
    "Caption a video file, image folder, camera, RTSP/HTTP URL or raw frames on stdin (-): "
    "stream it to a framescribe server (--server, default ${env} or {server}) or run the "
    "models in this process (--embedded), then write its captions and gesture events timed by "
    "the video's own timestamps: WebVTT on stdout by default, or -o FILE in the format of its "
    "extension (.vtt, .srt, .json, .jsonl; --format overrides it). JSON is the "
    "framescribe.events schema (plugin/schemas/events.schema.json). Progress goes to stderr "
    "while it runs, then one summary line.")
ANNOTATE_DESCRIPTION = (
    "Caption a video and find its gestures with the models in this process: the same as "
    "`framescribe caption --embedded`, but JSON (the framescribe.events schema) on stdout by "
    "default. -o FILE writes the format of its extension (.vtt, .srt, .json, .jsonl), "
    "--format overrides it. Needs the model side: pip install 'framescribe[server]'.")


def _add_caption_parsers(commands) -> None:
    from framescribe.plugin import caption_arguments, caption_command

    caption = commands.add_parser(
        "caption", help="captions and gestures of a video (WebVTT, SRT, JSON), via a server "
                        "or in-process",
        description=CAPTION_DESCRIPTION.format(env=caption_command.SERVER_ENV,
                                               server=caption_command.DEFAULT_SERVER))
    caption_arguments.add_caption_arguments(caption)
    caption.set_defaults(handler=_caption)
    annotate = commands.add_parser(
        "annotate", help="caption --embedded, JSON on stdout by default",
        description=ANNOTATE_DESCRIPTION)
    caption_arguments.add_annotate_arguments(annotate)
    annotate.set_defaults(handler=_caption)
    watch = commands.add_parser(
        "watch", help="show a live source's captions and gestures as they arrive",
        description="Stream a camera, URL, file or stdin to a framescribe server and print "
                    "each caption and gesture event the moment it arrives; on a terminal the "
                    "current gesture label is shown on a line updated in place.")
    caption_arguments.add_watch_arguments(watch)
    watch.set_defaults(handler=_watch)


def _add_batch_parser(commands) -> None:
    from framescribe.plugin import batch_command

    batch = commands.add_parser(
        "batch", help="caption a library of videos offline (resumable; local or Ray)",
        description=batch_command.DESCRIPTION)
    batch_command.add_batch_arguments(batch)
    batch.set_defaults(handler=_batch)


def build_parser() -> argparse.ArgumentParser:
    from framescribe.plugin.landmarks_command import add_landmarks_parser
    from framescribe.plugin.serve_command import add_serve_parser
    from framescribe.plugin.train_command import add_model_parsers

    parser = Parser(
        prog="framescribe",
        description="Timed captions and sign/gesture events from video. "
                    "Run `framescribe COMMAND --help` for each command's options.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_caption_parsers(commands)
    _add_batch_parser(commands)
    add_serve_parser(commands)
    add_model_parsers(commands, default_bundle())
    add_landmarks_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("framescribe: interrupted", file=sys.stderr)
        return 130
    except ModelSideMissing as error:  # a client install: what to install, exit 2
        print(f"framescribe: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as error:  # a part of an extra that require_model_side did not name
        print(f"framescribe: error: {error} (the model side: {INSTALL})", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, FileNotFoundError, OSError, RuntimeError) as error:
        # Our errors (BundleError, VideoError, bad options) subclass ValueError and already
        # name the file and the problem: one line, no traceback. RuntimeError: a runtime that
        # cannot run here (e.g. LiteRT next to TensorFlow) or a failed child step.
        print(f"framescribe: error: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
