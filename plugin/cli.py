"""The `framescribe` command: annotate videos, train and evaluate models, look at the data.

Model code (TensorFlow) is imported only by the subcommands that need it, so `--help` is
instant and the client install works without TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from framescribe.plugin.cli_types import positive_float, positive_int

EXIT_USAGE = 2
EXIT_FAILED = 1


def default_bundle() -> str:
    """The shipped demo bundle (inside the installed package)."""
    import importlib.util

    spec = importlib.util.find_spec("framescribe.models")
    if spec is None or not spec.submodule_search_locations:
        return "models/bundles/demo"
    return str(Path(list(spec.submodule_search_locations)[0]) / "bundles" / "demo")


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# -- annotate ------------------------------------------------------------------------------
def _annotate(args) -> int:
    _quiet_tensorflow()
    from framescribe.models.inference.caption_search import DecodingOptions
    from framescribe.models.inference.pipeline import Pipeline, PipelineOptions

    if args.output:
        _check_output_directory(args.output)  # before minutes of work, and naming the file
    pipeline = Pipeline.from_bundle(args.bundle, runtime=args.runtime)
    tasks = tuple(args.tasks.split(","))
    segment = args.segment_seconds
    segment_frames = None if segment is None else max(
        2, round(segment * pipeline.manifest.frame_rate))
    options = PipelineOptions(tasks=tasks, segment_frames=segment_frames,
                              decoding=DecodingOptions(beam_size=args.beam_size))
    result = pipeline.annotate(args.video, options)
    if args.format == "json":
        text = json.dumps(_annotation_json(args.video, result), indent=2) + "\n"
    elif args.format in ("vtt", "srt"):
        from framescribe.plugin.subtitles import get_writer, in_time_order

        # The writers take captions and gesture events ("[gesture: LABEL 0.97]" cues) as is.
        text = get_writer(args.format).to_string(
            in_time_order([*result.captions, *result.gestures]))
    else:
        text = _annotation_text(result, tasks)
    if args.output:
        from framescribe.plugin.atomic_files import write_atomically

        write_atomically(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _check_output_directory(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{path}: cannot write, directory {directory} does not exist")


def _annotation_json(video, result) -> dict:
    return {
        "video": str(video),
        "frames": result.frames,
        "duration": round(result.duration, 3),
        "captions": [{"start": round(c.start, 3), "end": round(c.end, 3), "text": c.text}
                     for c in result.captions],
        "gestures": [{"label": g.label, "start": round(g.start, 3), "end": round(g.end, 3),
                      "confidence": round(g.confidence, 4)} for g in result.gestures],
    }


def _annotation_text(result, tasks: tuple[str, ...]) -> str:
    lines = [f"{result.frames} frames, {result.duration:.2f} s"]
    for c in result.captions:
        lines.append(f"[{c.start:7.2f} -> {c.end:7.2f}] caption: {c.text}")
    for g in result.gestures:
        lines.append(f"[{g.start:7.2f} -> {g.end:7.2f}] gesture: {g.label} ({g.confidence:.2f})")
    if "gestures" in tasks and not result.gestures:
        lines.append("(no gesture events)")
    return "\n".join(lines) + "\n"


# -- caption, watch (plugin/caption_command.py) ------------------------------------------------
def _caption(args) -> int:
    from framescribe.plugin.caption_command import run_caption

    return run_caption(args)


def _watch(args) -> int:
    from framescribe.plugin.caption_command import run_watch

    return run_watch(args)


def _add_caption_parsers(commands) -> None:
    from framescribe.plugin import caption_command

    caption = commands.add_parser(
        "caption", help="subtitles (WebVTT, SRT, JSON) for a video, via a server or in-process",
        description="Caption a video file, image folder, camera, RTSP/HTTP URL or raw frames "
                    "on stdin (-): stream it to a framescribe server (--server, default "
                    f"${caption_command.SERVER_ENV} or {caption_command.DEFAULT_SERVER}) or "
                    "run the models in this process (--embedded), then write WebVTT (default, "
                    "to stdout), SRT, JSON or JSON Lines timed by the video's own timestamps. "
                    "Progress goes to stderr while it runs, then one summary line.")
    caption_command.add_caption_arguments(caption)
    caption.set_defaults(handler=_caption)
    watch = commands.add_parser(
        "watch", help="show a live source's captions and gestures as they arrive",
        description="Stream a camera, URL, file or stdin to a framescribe server and print "
                    "each caption and gesture event the moment it arrives; on a terminal the "
                    "current gesture label is shown on a line updated in place.")
    caption_command.add_watch_arguments(watch)
    watch.set_defaults(handler=_watch)


# -- batch (plugin/batch_command.py) -------------------------------------------------------
def _batch(args) -> int:
    from framescribe.plugin.batch_command import run_batch

    return run_batch(args)


def _add_batch_parser(commands) -> None:
    from framescribe.plugin import batch_command

    batch = commands.add_parser(
        "batch", help="caption a library of videos offline (resumable; local or Ray)",
        description=batch_command.DESCRIPTION)
    batch_command.add_batch_arguments(batch)
    batch.set_defaults(handler=_batch)


# -- eval ----------------------------------------------------------------------------------
def _eval(args) -> int:
    _quiet_tensorflow()
    from framescribe.models.bundle.model_bundle import update_metrics
    from framescribe.models.evaluation.evaluation import EvaluationOptions, evaluate
    from framescribe.models.inference.pipeline import Pipeline

    pipeline = Pipeline.from_bundle(args.bundle, runtime=args.runtime)

    def progress(done: int, total: int) -> None:
        print(f"\r{args.benchmark} {args.split}: {done}/{total} clips", end="", file=sys.stderr)
        if done == total:
            print(file=sys.stderr)

    options = EvaluationOptions(split=args.split, limit=args.limit, beam_size=args.beam_size)
    metrics = evaluate(pipeline, args.benchmark, options, progress)
    if args.record:
        recorded = {k: v for k, v in metrics.items() if k != "examples"}
        update_metrics(args.bundle, args.benchmark, recorded, runtime=args.runtime)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            if not isinstance(value, dict | list):
                print(f"{key:>16}: {value}")
    return 0


# -- train ---------------------------------------------------------------------------------
def _train(args) -> int:
    """Train on the bundled benchmarks, or with --data/--format on a dataset on disk."""
    _quiet_tensorflow()
    from dataclasses import replace

    from framescribe.models.training.caption_training import CaptionTrainingOptions
    from framescribe.models.training.gesture_training import GestureTrainingOptions

    def usage(message: str) -> int:  # bad usage: one line, exit 2, before any work
        print(f"framescribe: error: {message}", file=sys.stderr)
        return EXIT_USAGE

    def heads(captions: CaptionTrainingOptions, gestures: GestureTrainingOptions):
        gestures = replace(gestures, cell=args.cell)
        for flag, value in (("epochs", args.epochs), ("batch_size", args.batch_size)):
            if value is not None:
                captions, gestures = (replace(captions, **{flag: value}),
                                      replace(gestures, **{flag: value}))
        return {"captions": captions, "gestures": gestures}

    def given(flags: dict) -> str:
        return ", ".join(flag for flag, value in flags.items() if value is not None)

    dataset_only = given({"--data": args.data, "--format": args.format,
                          "--cache-dir": args.cache_dir, "--frame-rate": args.frame_rate,
                          "--segment-frames": args.segment_frames})
    benchmark_only = given({"--benchmark": args.benchmark, "--backbone": args.backbone,
                            "--input-size": args.input_size, "--pooling": args.pooling,
                            "--pretrain-epochs": args.pretrain_epochs, "--clips": args.clips,
                            "--streams": args.streams, "--checkpoint-dir": args.checkpoint_dir,
                            "--eval-limit": args.eval_limit})
    if dataset_only and args.what == "demo":
        return usage(f"{dataset_only}: train demo trains on the bundled benchmarks; train a "
                     "dataset with train captions or train gestures --data PATH --format FMT")
    if dataset_only and args.data is None and args.format is None:
        return usage(f"{dataset_only}: only with --data PATH --format FMT")
    if dataset_only and (args.data is None or args.format is None):
        return usage(f"{'--format' if args.data else '--data'} missing: a dataset needs both "
                     "--data PATH and --format (captions: msvd, msrvtt; gestures: wlasl, islr)")
    if dataset_only:
        from framescribe.models.training.dataset_recipes import (
            DatasetTrainingOptions,
            train_from_dataset,
        )

        if benchmark_only:
            return usage(f"{benchmark_only}: only for the bundled benchmarks, not with --data")
        if args.segment_frames is not None and args.what != "captions":
            return usage("--segment-frames: only for train captions (the caption window)")
        chosen = {"name": args.name, "encoder_from": args.encoder_from,
                  "frame_rate": args.frame_rate, "segment_frames": args.segment_frames,
                  "cache_dir": args.cache_dir}
        try:
            options = DatasetTrainingOptions(
                data=args.data, format=args.format, output=args.output, task=args.what,
                evaluate=not args.no_eval, seed=args.seed,
                verbose=1 if sys.stderr.isatty() else 2,
                **{key: value for key, value in chosen.items() if value is not None})
        except ValueError as error:  # e.g. a gestures format for train captions
            return usage(str(error))
        train_from_dataset(replace(options, **heads(options.captions, options.gestures)))
        return 0
    from framescribe.models.training.training_recipes import TrainingOptions, train

    tasks = {"captions": ("captions",), "gestures": ("gestures",),
             "demo": ("captions", "gestures")}[args.what]
    available = {"captions": "moving-digits", "gestures": "lasa-airwriting"}
    for task in tasks:
        if args.benchmark and args.benchmark != available[task]:
            raise ValueError(f"--benchmark {args.benchmark}: {task} train on "
                             f"{available[task]} (the only {task} benchmark bundled)")
    backbone = args.backbone or "tiny_cnn"
    options = TrainingOptions(output=args.output, tasks=tasks, name=args.name or
                              Path(args.output).name, backbone=backbone,
                              input_size=args.input_size or 64,
                              pooling=args.pooling or ("spatial" if backbone == "tiny_cnn"
                                                       else "avg"),
                              encoder_from=args.encoder_from, checkpoint_dir=args.checkpoint_dir,
                              evaluate=not args.no_eval, eval_limit=args.eval_limit,
                              seed=args.seed, verbose=1 if sys.stderr.isatty() else 2)
    if args.pretrain_epochs is not None:
        options = replace(options, pretrain_epochs=args.pretrain_epochs)
    if args.clips is not None:
        options = replace(options, caption_clips=args.clips, pretrain_caption_clips=min(
            options.pretrain_caption_clips, args.clips))
    if args.streams is not None:
        options = replace(options, gesture_streams=args.streams, pretrain_gesture_streams=min(
            options.pretrain_gesture_streams, args.streams))
    train(replace(options, **heads(CaptionTrainingOptions(), GestureTrainingOptions())))
    return 0


# -- export --------------------------------------------------------------------------------
def _export(args) -> int:
    _quiet_tensorflow()
    from framescribe.models.bundle.model_bundle import read_manifest
    from framescribe.models.evaluation.evaluation import BENCHMARKS
    from framescribe.models.runtimes.litert_export import export_litert, record_litert_metrics

    def log(line: str) -> None:
        print(f"export: {line}", file=sys.stderr)

    read_manifest(args.bundle)  # a bad bundle is reported before TensorFlow loads
    export_litert(args.bundle, quantize=args.quantize, log=log)
    if not args.no_eval:
        record_litert_metrics(
            args.bundle, [b for b in read_manifest(args.bundle).metrics if b in BENCHMARKS], log)
    return 0


# -- serve ---------------------------------------------------------------------------------
SERVE_HELP = {
    "host": "address to listen on (default 127.0.0.1; 0.0.0.0 for all interfaces)",
    "port": "TCP port (default 50051; 0 picks a free one)",
    "runtime": "tf (TensorFlow, GPU when present) or litert (CPU, no TensorFlow)",
    "max_batch_size": "frames per encoder call (default 32)",
    "max_queue_delay_ms": "ms a frame may wait for a fuller batch (default 5)",
    "max_streams": "StreamAnnotate calls served at once (default 64)",
    "idle_timeout_s": "seconds without a message before a stream is closed (default 60)",
    "max_message_bytes": "largest gRPC message, bytes (default 32 MiB)",
    "max_pixels_per_frame": "largest image, width * height (default 3840*2160)",
    "max_frames_per_clip": "frames in one AnnotateClip request (default 3000)",
    "max_frames_per_message": "frames in one StreamAnnotate FrameList message (default 64)",
    "max_clip_bytes": "largest video file in AnnotateClip, bytes (default 32 MiB)",
    "max_queued_frames": "frames waiting for the encoder before RESOURCE_EXHAUSTED (2048)",
    "decode_threads": "threads decoding images in the server process (default 2)",
    "encoder_processes": "LiteRT encoder worker processes that decode and encode frames "
                         "(default -1: the cores + 1, at most 8, with --runtime litert; 0 = in "
                         "the server process)",
    "metrics_port": "serve Prometheus metrics on this HTTP port (default off)",
    "tls_cert": "PEM certificate chain; with --tls-key the server speaks TLS",
    "tls_key": "PEM private key for --tls-cert",
    "token_file": "file with the bearer token clients must send (or set FRAMESCRIBE_TOKEN)",
    "grace_period_s": "seconds in-flight calls may finish after SIGTERM (default 10)",
    "mixed_precision": "float16 compute on GPU (runtime tf)",
    "litert_threads": "threads per LiteRT interpreter (default: the cores, at most 4)",
}


def _serve(args) -> int:
    _quiet_tensorflow()
    import asyncio
    import logging

    from framescribe.server.app import serve
    from framescribe.server.server_options import load_server_options

    overrides = {name: getattr(args, name) for name in SERVE_HELP}
    overrides["bundle"] = args.bundle
    environ = dict(os.environ)
    if args.bundle is None and "FRAMESCRIBE_BUNDLE" not in environ and args.config is None:
        overrides["bundle"] = default_bundle()
    options = load_server_options(overrides, environ, args.config)
    logging.basicConfig(level=logging.INFO, format="framescribe: %(message)s")

    def ready(running) -> None:
        secure = "TLS" if options.tls_cert else "plaintext"
        pool = running.model.encoder_pool
        workers = f", {pool.processes} encoder processes" if pool is not None else ""
        print(f"framescribe: serving {options.bundle} on {options.host}:{running.port} "
              f"(runtime {running.servicer.pipeline.runtime.name}{workers}, {secure}"
              f"{', token required' if running.servicer.requires_token else ''})",
              file=sys.stderr, flush=True)
        if running.metrics_http is not None:
            print(f"framescribe: metrics on http://{options.host}:{running.metrics_http.port}"
                  "/metrics", file=sys.stderr, flush=True)

    asyncio.run(serve(options, ready))
    print("framescribe: stopped", file=sys.stderr)
    return 0


def _add_serve_parser(commands) -> None:
    from dataclasses import MISSING, fields

    from framescribe.server.server_options import ServerOptions

    serve = commands.add_parser(
        "serve", help="serve a bundle over gRPC",
        description="Serve a bundle's models over gRPC (framescribe.v1.FrameScribeService, "
                    "plus grpc.health.v1 and server reflection). Every option can also come "
                    "from a TOML config file (--config; keys are the option names with "
                    "underscores) or an environment variable FRAMESCRIBE_<OPTION> (e.g. "
                    "FRAMESCRIBE_MAX_STREAMS); flags win over variables, variables over the "
                    "file. SIGTERM or Ctrl-C drains in-flight calls, then exits.")
    serve.add_argument("--bundle", help="model bundle directory (default: the demo bundle)")
    serve.add_argument("--config", help="TOML file of server options")
    for spec in fields(ServerOptions):
        if spec.name == "bundle":
            continue
        flag = "--" + spec.name.replace("_", "-")
        if spec.name == "mixed_precision":
            serve.add_argument(flag, action="store_const", const=True, default=None,
                               help=SERVE_HELP[spec.name])
            continue
        default = None if spec.default is MISSING else spec.default
        kind = {int: int, float: float}.get(type(default), str)
        choices = ("tf", "litert") if spec.name == "runtime" else None
        serve.add_argument(flag, type=kind, choices=choices, help=SERVE_HELP[spec.name])
    serve.set_defaults(handler=_serve)


# -- data ----------------------------------------------------------------------------------
def _data_preview(args) -> int:
    from framescribe.models.data.contact_sheet import write_contact_sheet

    path = write_contact_sheet(args.name, args.output or f"{args.name}-{args.split}.png",
                               split=args.split, clips=args.clips)
    print(path)
    return 0


# -- parser --------------------------------------------------------------------------------
def _add_runtime_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime", choices=("tf", "litert"), default="tf",
                        help="tf: TensorFlow (GPU when present); litert: the bundle's LiteRT "
                             "files on CPU, without TensorFlow (see `framescribe export`)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="framescribe",
        description="Timed captions and sign/gesture events from video. "
                    "Run `framescribe COMMAND --help` for each command's options.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    annotate = commands.add_parser(
        "annotate", help="caption a video file and find gestures in it",
        description="Annotate a video file (any resolution/codec OpenCV reads) in-process.")
    annotate.add_argument("video", help="path of the video file")
    annotate.add_argument("--bundle", default=default_bundle(),
                          help="model bundle directory (default: the shipped demo bundle)")
    output = annotate.add_mutually_exclusive_group()
    for fmt in ("json", "vtt", "srt"):
        output.add_argument(f"--{fmt}", dest="format", action="store_const", const=fmt,
                            help=f"print {fmt.upper()} instead of text")
    annotate.add_argument("--output", "-o", help="write to this file (atomically), not stdout")
    annotate.add_argument("--tasks", default="captions,gestures",
                          help="comma-separated: captions, gestures (default both)")
    annotate.add_argument("--segment-seconds", type=positive_float,
                          help="caption segment length in seconds (default: the bundle's)")
    annotate.add_argument("--beam-size", type=int, default=3, help="caption beam size (1-16)")
    _add_runtime_option(annotate)
    annotate.set_defaults(handler=_annotate, format="text")

    evaluate = commands.add_parser(
        "eval", help="measure a bundle on a benchmark split",
        description="Evaluate a bundle; --json prints the metrics as one JSON object.")
    evaluate.add_argument("--bundle", default=default_bundle(), help="model bundle directory")
    evaluate.add_argument("--benchmark", required=True,
                          choices=("moving-digits", "lasa-airwriting"))
    evaluate.add_argument("--split", default="test", choices=("train", "validation", "test"))
    evaluate.add_argument("--json", action="store_true", help="one JSON object on stdout")
    evaluate.add_argument("--limit", type=positive_int,
                          help="only the first N clips (quick check)")
    evaluate.add_argument("--beam-size", type=int, default=3, help="caption beam size")
    evaluate.add_argument("--record", action="store_true",
                          help="also store the metrics in the bundle's manifest.json")
    _add_runtime_option(evaluate)
    evaluate.set_defaults(handler=_eval)

    train = commands.add_parser(
        "train", help="train models on the bundled benchmarks or a dataset, write a bundle",
        description="Two modes. Without --data: train on the bundled benchmarks; 'demo' "
                    "trains the shared encoder and both heads (what `make train-demo` runs), "
                    "and interrupted runs resume from --checkpoint-dir. With --data PATH "
                    "--format FMT: train one head on a dataset on disk (captions: msvd, "
                    "msrvtt; gestures: wlasl, islr), reusing a bundle's frame encoder frozen "
                    "(--encoder-from, default the shipped demo bundle; islr reads hand/pose "
                    "landmarks and needs none); each video's frame features are computed once "
                    "and cached in --cache-dir. Either way the bundle gets LiteRT files and "
                    "its test-split metrics (unless --no-eval).")
    train.add_argument("what", choices=("captions", "gestures", "demo"))
    train.add_argument("--output", required=True, help="bundle directory to write")
    train.add_argument("--name", help="bundle name (default: the output folder's name)")
    train.add_argument("--data", metavar="PATH",
                       help="a dataset folder (or its annotation file) to train on instead of "
                            "the benchmarks; needs --format")
    train.add_argument("--format", choices=("msvd", "msrvtt", "wlasl", "islr"),
                       help="the layout of --data: captions msvd or msrvtt, gestures wlasl "
                            "(videos) or islr (Kaggle ISLR landmarks)")
    train.add_argument("--cache-dir", help="with --data: where per-video frame features are "
                       "cached (default .cache/features)")
    train.add_argument("--frame-rate", type=float, help="with --data: frames per second to "
                       "sample (default: the encoder bundle's; islr: 30, the capture rate)")
    train.add_argument("--segment-frames", type=int, help="with train captions --data: frames "
                       "per caption window, the centre of each video (default 16; the bundle "
                       "then captions long videos window by window)")
    train.add_argument("--benchmark", help="benchmark (captions: moving-digits; gestures: "
                       "lasa-airwriting); the only ones available here")
    train.add_argument("--epochs", type=positive_int, help="epochs of the recurrent heads")
    train.add_argument("--batch-size", type=positive_int, help="batch size of the recurrent heads")
    train.add_argument("--backbone",
                       choices=("tiny_cnn", "mobilenet_v3_small", "mobilenet_v3_large",
                                "efficientnet_v2_b0", "resnet18", "resnet50"),
                       help="encoder backbone to pretrain (default tiny_cnn)")
    train.add_argument("--input-size", type=int, help="encoder input side, pixels (default 64)")
    train.add_argument("--pooling", choices=("avg", "spatial"),
                       help="encoder pooling (default: spatial for tiny_cnn, else avg)")
    train.add_argument("--cell", default="lstm", choices=("lstm", "gru", "simple_rnn"),
                       help="gesture classifier recurrent cell")
    train.add_argument("--encoder-from", help="reuse this bundle's encoder, frozen (with --data "
                       "default: the shipped demo bundle)")
    train.add_argument("--pretrain-epochs", type=positive_int, help="encoder pretraining epochs")
    train.add_argument("--clips", type=positive_int,
                       help="caption training clips (default: the recipe's 20000)")
    train.add_argument("--streams", type=positive_int,
                       help="gesture training streams (default: the recipe's 2000)")
    train.add_argument("--checkpoint-dir", help="where checkpoints and feature caches live "
                       "(default .cache/checkpoints/<output name>)")
    train.add_argument("--no-eval", action="store_true", help="skip the test-split evaluation")
    train.add_argument("--eval-limit", type=positive_int,
                       help="evaluate on the first N test clips only")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(handler=_train)

    export = commands.add_parser(
        "export", help="(re)create a bundle's LiteRT files",
        description="Convert the bundle's Keras models to LiteRT (.tflite) files in "
                    "BUNDLE/litert and record them in its manifest; then measure them on the "
                    "benchmarks the bundle has metrics for and record that too.")
    export.add_argument("--bundle", required=True, help="model bundle directory")
    export.add_argument("--quantize", choices=("none", "dynamic"), default="none",
                        help="dynamic: int8 dynamic-range weights for each model where that "
                             "is faster on this CPU (timed here); default none (float32)")
    export.add_argument("--no-eval", action="store_true",
                        help="skip measuring the LiteRT files' accuracy")
    export.set_defaults(handler=_export)

    _add_caption_parsers(commands)
    _add_batch_parser(commands)
    _add_serve_parser(commands)

    data = commands.add_parser("data", help="look at the benchmark data")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    preview = data_commands.add_parser("preview", help="write a contact-sheet PNG of clips")
    preview.add_argument("name", choices=("moving-digits", "lasa-airwriting"))
    preview.add_argument("--output", "-o", help="PNG path (default NAME-SPLIT.png)")
    preview.add_argument("--split", default="test", choices=("train", "validation", "test"))
    preview.add_argument("--clips", type=int, default=4)
    preview.set_defaults(handler=_data_preview)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("framescribe: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, OSError, RuntimeError) as error:
        # Our errors (BundleError, VideoError, bad options) subclass ValueError and already
        # name the file and the problem: one line, no traceback. RuntimeError: a runtime that
        # cannot run here (e.g. LiteRT next to TensorFlow) or a failed child step.
        print(f"framescribe: error: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
