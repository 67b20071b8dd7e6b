"""`framescribe batch`: caption a library of videos offline into a folder of subtitle files.

cli.py only registers the command; the arguments, the progress line and the summary live here,
the job itself in batch_job (engines: batch_local, batch_ray). Exit status: 0 when every file
is done, 1 when some failed (each is listed, with its reason, and recorded in the manifest), 2
for bad usage, 130 when interrupted (a rerun resumes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TextIO

from framescribe.plugin.cli_types import comma_subset, positive_int, probability, segment_frames

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
PLAIN_PROGRESS_EVERY_S = 30.0  # a progress line this often when stderr is not a terminal
DRAW_EVERY_S = 0.25
FAILURES_LISTED = 20

DESCRIPTION = (
    "Caption many videos offline. INPUTS are video files, folders (searched recursively for "
    "video extensions) or lists of paths (.txt: one per line; .jsonl: a JSON string or "
    "{\"path\": ...} per line). Every video gets OUTDIR/<its path under its folder>.<8 hex>."
    "<format> for each of --format (vtt, srt, json: the framescribe.events schema, jsonl), "
    "written atomically, and a record in OUTDIR/manifest.jsonl; "
    "a rerun skips the files already done with the same bundle and options, so an "
    "interrupted job (Ctrl-C, kill -9, a crash) finishes where it stopped. A file that cannot "
    "be read is recorded as failed and the job goes on. The local engine (default) decodes on "
    "--workers threads while the model runs batched across files; --engine ray runs the same "
    "job on Ray Data (pip install 'framescribe[ray]').")


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    from framescribe.plugin.batch_spec import DEFAULT_FORMATS, FORMATS, TASKS

    parser.add_argument("inputs", nargs="+", metavar="INPUTS",
                        help="video files, folders, or .txt/.jsonl lists of paths")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="folder for the outputs and manifest.jsonl (created if needed)")
    parser.add_argument("--bundle", help="model bundle directory (default: the demo bundle)")
    parser.add_argument("--tasks", type=comma_subset(TASKS, "tasks"), metavar="LIST",
                        help="captions, gestures or captions,gestures (default: every task "
                             "the bundle has a model for)")
    parser.add_argument("--format", dest="formats", type=comma_subset(FORMATS, "formats"),
                        default=DEFAULT_FORMATS, metavar="LIST",
                        help=f"the formats to write for each video, a comma list of "
                             f"{','.join(FORMATS)} (default {','.join(DEFAULT_FORMATS)}); json "
                             "is one framescribe.events document, jsonl one event per line")
    parser.add_argument("--workers", type=positive_int, default=min(4, os.cpu_count() or 1),
                        metavar="N", help="decode workers: threads (local) or concurrent "
                                          "decode tasks (ray); default min(4, CPUs)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this process (default); ray: Ray Data")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="skip files already done with the same bundle and options "
                             "(default); --no-resume does every file again")
    parser.add_argument("--runtime", choices=("tf", "litert"), default="tf",
                        help="tf: TensorFlow (GPU when present; default); litert: the "
                             "bundle's LiteRT files on CPU, without TensorFlow")
    parser.add_argument("--segment-frames", type=segment_frames, metavar="N",
                        help="frames per caption segment, counted at the model's frame rate, "
                             "2-1024 (default: the bundle's)")
    parser.add_argument("--beam-size", type=int, default=3, metavar="N",
                        help="caption beam width, 1-16 (default 3)")
    parser.add_argument("--min-confidence", type=probability, metavar="P",
                        help="drop gesture events below this confidence (default: the "
                             "bundle's tuned value)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress line (the summary is still printed)")
    ray = parser.add_argument_group("ray engine")
    ray.add_argument("--ray-address", metavar="ADDR",
                     help="join this cluster (auto: the one `ray start` runs here; or "
                          "ray://HOST:10001); default: start a local Ray for the job")
    ray.add_argument("--ray-actors", type=positive_int, metavar="N",
                     help="inference actors (default: one per GPU, else CPUs/4, at least 1)")
    ray.add_argument("--ray-num-cpus", type=positive_int, metavar="N",
                     help="CPUs of the local Ray started for the job (default: all)")


class BatchProgress:
    """A one-line progress display on stderr: files done/total, files/s, frames/s, ETA."""

    def __init__(self, stream: TextIO, enabled: bool = True):
        self.stream = stream
        self.enabled = enabled
        self.live = enabled and stream.isatty()
        self.total = self.finished = self.failed = self.frames = 0
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.first_done: float | None = None

    def begin(self, total: int, skipped: int, engine: str) -> None:
        self.total = total
        self.start = time.monotonic()
        self.last_draw = self.start
        if self.enabled:
            note = f" ({skipped} already done)" if skipped else ""
            self.stream.write(f"framescribe batch: {total} file{'' if total == 1 else 's'} to "
                              f"caption{note}, {engine} engine\n")
            self.stream.flush()

    def file_finished(self, path: str, frames: int, error: str | None) -> None:
        now = time.monotonic()
        if self.first_done is None:
            self.first_done = now
        self.finished += 1
        self.failed += error is not None
        self.frames += frames
        interval = DRAW_EVERY_S if self.live else PLAIN_PROGRESS_EVERY_S
        if self.enabled and (now - self.last_draw >= interval or self.finished == self.total):
            self.last_draw = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = max(now - self.start, 1e-9)
        files_s = self.finished / elapsed
        frames_s = self.frames / elapsed
        # ETA from the pace since the first file finished (model loading excluded)
        eta = "-"
        if self.first_done is not None and self.finished > 1 and now > self.first_done:
            pace = (self.finished - 1) / (now - self.first_done)
            eta = _clock((self.total - self.finished) / pace) if pace > 0 else "-"
        failed = f", {self.failed} failed" if self.failed else ""
        return (f"[{self.finished}/{self.total}] {files_s:.2f} files/s, {frames_s:.0f} "
                f"frames/s, ETA {eta}{failed}")

    def _draw(self, now: float) -> None:
        if self.live:
            self.stream.write("\r\033[K" + self.line(now))
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()

    def end(self) -> None:
        if self.enabled and self.live and self.finished:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def format_summary(summary) -> str:
    """The final report: done, skipped, failed (with reasons), speed, where things are."""
    parts = [f"{summary.done} done", f"{summary.skipped} skipped (already done)",
             f"{len(summary.failed)} failed"]
    speed = ""
    if summary.finished:
        speed = (f" ({summary.files_per_s:.2f} files/s, {summary.frames_per_s:.0f} frames/s, "
                 f"{summary.video_seconds:.0f} s of video)")
    head = "interrupted" if summary.interrupted else "finished"
    lines = [f"framescribe batch: {head} in {summary.elapsed_s:.1f} s{speed}: "
             f"{', '.join(parts)}"]
    if summary.resumed_in_flight:
        lines.append(f"  resumed {summary.resumed_in_flight} file(s) an earlier run left "
                     "unfinished")
    for path, error in summary.failed[:FAILURES_LISTED]:
        reason = error if path in error else f"{path}: {error}"
        lines.append(f"  failed: {reason}")
    if len(summary.failed) > FAILURES_LISTED:
        lines.append(f"  ... and {len(summary.failed) - FAILURES_LISTED} more failures "
                     f"(event \"failed\" in {summary.manifest})")
    if summary.interrupted:
        lines.append("  run the same command again to finish the job")
    lines.append(f"  outputs in {summary.outdir}, records in {summary.manifest}")
    return "\n".join(lines) + "\n"


def run_batch(args) -> int:
    """`framescribe batch`: see DESCRIPTION."""
    from framescribe.plugin.batch_inputs import InputError
    from framescribe.plugin.batch_job import run_job
    from framescribe.plugin.batch_spec import BatchOptions
    from framescribe.plugin.cli import default_bundle
    from framescribe.plugin.model_side import quiet_tensorflow, require_model_side

    try:
        options = BatchOptions(
            bundle=args.bundle or default_bundle(), tasks=args.tasks, formats=args.formats,
            runtime=args.runtime, segment_frames=args.segment_frames,
            beam_size=args.beam_size, min_confidence=args.min_confidence,
            engine=args.engine, workers=args.workers, resume=args.resume,
            ray_address=args.ray_address, ray_actors=args.ray_actors,
            ray_num_cpus=args.ray_num_cpus)
    except ValueError as error:
        print(f"framescribe batch: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    ray_only = [flag for flag, value in (("--ray-address", args.ray_address),
                                         ("--ray-actors", args.ray_actors),
                                         ("--ray-num-cpus", args.ray_num_cpus))
                if value is not None]
    if ray_only and args.engine != "ray":
        print(f"framescribe batch: error: {', '.join(ray_only)}: only with --engine ray",
              file=sys.stderr)
        return EXIT_USAGE
    require_model_side("batch", args.runtime)
    quiet_tensorflow()
    progress = BatchProgress(sys.stderr, enabled=not args.quiet)
    try:
        summary = run_job(args.inputs, args.output, options, progress)
    except InputError as error:
        print(f"framescribe batch: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    sys.stderr.write(format_summary(summary))
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if summary.failed else 0
