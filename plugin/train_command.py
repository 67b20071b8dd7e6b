"""The research commands: `framescribe train`, `eval`, `export` and `data preview` (cli.py only
registers them). Each runs the models in this process: it checks for the model side first
(model_side), then imports TensorFlow/Keras lazily, so `--help` stays instant."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from framescribe.plugin.cli_types import positive_int
from framescribe.plugin.model_side import quiet_tensorflow, require_model_side

EXIT_USAGE = 2


def add_runtime_option(parser) -> None:
    parser.add_argument("--runtime", choices=("tf", "litert"), default="tf",
                        help="tf: TensorFlow (GPU when present); litert: the bundle's LiteRT "
                             "files on CPU, without TensorFlow (see `framescribe export`)")


# -- eval ----------------------------------------------------------------------------------
def run_eval(args) -> int:
    require_model_side("eval", args.runtime)
    quiet_tensorflow()
    from framescribe.models.evaluation.evaluation import EvaluationOptions, evaluate_bundle

    def progress(done: int, total: int) -> None:
        print(f"\r{args.benchmark} {args.split}: {done}/{total} clips", end="", file=sys.stderr)
        if done == total:
            print(file=sys.stderr)

    options = EvaluationOptions(split=args.split, limit=args.limit, beam_size=args.beam_size)
    metrics = evaluate_bundle(args.bundle, args.benchmark, options, runtime=args.runtime,
                              record=args.record, progress=progress)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            if not isinstance(value, dict | list):
                print(f"{key:>16}: {value}")
    return 0


# -- train ---------------------------------------------------------------------------------
def run_train(args) -> int:
    """Train on the bundled benchmarks, or with --data/--format on a dataset on disk."""
    require_model_side("train", "tf")
    quiet_tensorflow()
    if args.what == "airwriting":  # a landmark bundle with its own recipe
        return run_train_airwriting(args)
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
    benchmark_only = given({"--benchmark": args.benchmark,
                            "--pretrain-epochs": args.pretrain_epochs, "--clips": args.clips,
                            "--streams": args.streams, "--checkpoint-dir": args.checkpoint_dir,
                            "--eval-limit": args.eval_limit})
    fresh_encoder = given({"--backbone": args.backbone, "--input-size": args.input_size,
                           "--pooling": args.pooling, "--backbone-weights": args.backbone_weights,
                           "--backbone-preset": args.backbone_preset})
    if fresh_encoder and args.encoder_from is not None:
        return usage(f"{fresh_encoder}: not with --encoder-from (the bundle's encoder is reused "
                     "whole)")
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
                  "backbone": args.backbone, "input_size": args.input_size,
                  "pooling": args.pooling, "backbone_weights": args.backbone_weights,
                  "backbone_preset": args.backbone_preset,
                  "mixed_precision": args.mixed_precision or None,
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
    from framescribe.models.training.encoder_sources import default_backbone

    try:
        backbone = default_backbone(args.backbone, args.backbone_weights, args.backbone_preset,
                                    "tiny_cnn")
        options = TrainingOptions(
            output=args.output, tasks=tasks, name=args.name or Path(args.output).name,
            backbone=backbone, input_size=args.input_size or 64,
            pooling=args.pooling or ("spatial" if backbone == "tiny_cnn" else "avg"),
            encoder_from=args.encoder_from, backbone_weights=args.backbone_weights,
            backbone_preset=args.backbone_preset, mixed_precision=args.mixed_precision,
            checkpoint_dir=args.checkpoint_dir, evaluate=not args.no_eval,
            eval_limit=args.eval_limit, seed=args.seed,
            verbose=1 if sys.stderr.isatty() else 2)
    except ValueError as error:  # e.g. an unknown preset, or one for another backbone
        return usage(str(error))
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


AIRWRITING_FLAGS = ("epochs", "batch_size", "cell", "streams", "checkpoint_dir", "no_eval",
                    "seed", "name", "output", "what", "handler", "command")


def run_train_airwriting(args) -> int:
    """`train airwriting`: the fingertip-track LSTM on LASA shapes by a synthetic tracked hand
    (models/training/airwriting_recipe.py); takes --epochs, --batch-size, --cell, --streams,
    --checkpoint-dir, --no-eval, --seed and --name."""
    from dataclasses import replace

    from framescribe.models.training.airwriting_recipe import (
        AirwritingTrainingOptions,
        train_airwriting,
    )

    others = sorted(f"--{k.replace('_', '-')}" for k, v in vars(args).items()
                    if k not in AIRWRITING_FLAGS and v not in (None, False))
    if others:
        print(f"framescribe: error: {', '.join(others)}: not for train airwriting (it trains "
              "on LASA shapes written by a synthetic tracked hand)", file=sys.stderr)
        return EXIT_USAGE
    options = AirwritingTrainingOptions(output=args.output, checkpoint_dir=args.checkpoint_dir,
                                        evaluate=not args.no_eval, seed=args.seed,
                                        verbose=1 if sys.stderr.isatty() else 2)
    if args.name:
        options = replace(options, name=args.name)
    if args.streams is not None:
        options = replace(options, streams=args.streams)
    gestures = replace(options.gestures, cell=args.cell)
    for flag in ("epochs", "batch_size"):
        if getattr(args, flag) is not None:
            gestures = replace(gestures, **{flag: getattr(args, flag)})
    train_airwriting(replace(options, gestures=gestures))
    return 0


# -- export --------------------------------------------------------------------------------
def run_export(args) -> int:
    require_model_side("export", "tf")
    quiet_tensorflow()
    from framescribe.models.bundle.bundle_manifest import read_manifest
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


# -- data ----------------------------------------------------------------------------------
def run_data_preview(args) -> int:
    from framescribe.models.data.contact_sheet import write_contact_sheet

    path = write_contact_sheet(args.name, args.output or f"{args.name}-{args.split}.png",
                               split=args.split, clips=args.clips)
    print(path)
    return 0


# -- parsers -------------------------------------------------------------------------------
def add_model_parsers(commands, default_bundle: str) -> None:
    """eval, train, export and data: the parsers (nothing heavy is imported)."""
    evaluate = commands.add_parser(
        "eval", help="measure a bundle on a benchmark split",
        description="Evaluate a bundle; --json prints the metrics as one JSON object.")
    evaluate.add_argument("--bundle", default=default_bundle, help="model bundle directory")
    evaluate.add_argument("--benchmark", required=True,
                          choices=("moving-digits", "lasa-airwriting", "airwriting-lasa",
                                   "airwriting-real"),
                          help="airwriting-lasa, airwriting-real (test split only; video "
                               "generated into the cache on first use): for landmark bundles "
                               "(models/bundles/airwriting)")
    evaluate.add_argument("--split", default="test", choices=("train", "validation", "test"))
    evaluate.add_argument("--json", action="store_true", help="one JSON object on stdout")
    evaluate.add_argument("--limit", type=positive_int,
                          help="only the first N clips (quick check)")
    evaluate.add_argument("--beam-size", type=int, default=3, help="caption beam size")
    evaluate.add_argument("--record", action="store_true",
                          help="also store the metrics in the bundle's manifest.json")
    add_runtime_option(evaluate)
    evaluate.set_defaults(handler=run_eval)

    train = commands.add_parser(
        "train", help="train models on the bundled benchmarks or a dataset, write a bundle",
        description="Two modes. Without --data: train on the bundled benchmarks; 'demo' "
                    "trains the shared encoder and both heads (what `make train-demo` runs), "
                    "and interrupted runs resume from --checkpoint-dir. With --data PATH "
                    "--format FMT: train one head on a dataset on disk (captions: msvd, "
                    "msrvtt; gestures: wlasl, islr) over a frozen frame encoder: a fresh "
                    "backbone (pretrained with --backbone-weights or --backbone-preset, else "
                    "random) or a bundle's encoder (--encoder-from; islr reads hand/pose "
                    "landmarks and needs none); each video's frame features are computed once "
                    "and cached in --cache-dir. Either way the bundle gets LiteRT files and "
                    "its test-split metrics (unless --no-eval); --mixed-precision trains in "
                    "float16 on GPUs.")
    train.add_argument("what", choices=("captions", "gestures", "demo", "airwriting"),
                       help="airwriting: the landmark bundle of `make train-airwriting` (an "
                            "LSTM over the index fingertip's track)")
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
                       help="encoder backbone (benchmarks: default tiny_cnn, pretrained on "
                            "them; --data: default the one --backbone-weights/--backbone-preset "
                            "is for, else mobilenet_v3_small, frozen)")
    train.add_argument("--input-size", type=int, help="encoder input side, pixels (default: "
                       "64 on the benchmarks, 224 with --data)")
    train.add_argument("--pooling", choices=("avg", "spatial"),
                       help="encoder pooling (default: spatial for tiny_cnn, else avg)")
    train.add_argument("--backbone-weights", metavar="FILE|DIR",
                       help="pretrained weights for the encoder's backbone alone: its "
                            ".weights.h5, or a keras-cv/KerasHub preset folder (config.json + "
                            "model.weights.h5, e.g. downloaded from Kaggle)")
    train.add_argument("--backbone-preset", metavar="NAME",
                       help="a keras-cv preset with ImageNet weights, fetched from Kaggle "
                            "(e.g. mobilenet_v3_small_imagenet; an unknown name lists them); "
                            "offline it says what to fetch elsewhere and where to put it")
    train.add_argument("--mixed-precision", action="store_true",
                       help="Keras mixed_float16: float16 compute, float32 weights, outputs "
                            "and losses (for GPUs; on CPU it runs, slowly); the bundle is "
                            "saved and exported in float32")
    train.add_argument("--cell", default="lstm", choices=("lstm", "gru", "simple_rnn"),
                       help="gesture classifier recurrent cell")
    train.add_argument("--encoder-from", metavar="BUNDLE",
                       help="reuse this bundle's frame encoder whole, frozen; 'demo' names the "
                            "shipped demo bundle's 64 px digit encoder (never used unless named)")
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
    train.set_defaults(handler=run_train)

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
    export.set_defaults(handler=run_export)

    data = commands.add_parser("data", help="look at the benchmark data")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    preview = data_commands.add_parser("preview", help="write a contact-sheet PNG of clips")
    preview.add_argument("name", choices=("moving-digits", "lasa-airwriting"))
    preview.add_argument("--output", "-o", help="PNG path (default NAME-SPLIT.png)")
    preview.add_argument("--split", default="test", choices=("train", "validation", "test"))
    preview.add_argument("--clips", type=int, default=4)
    preview.set_defaults(handler=run_data_preview)
