"""Inference speed of a bundle's models on this machine: one run, one table, ratios in-run.

    python -m benchmarks.benchmark_speed [--bundle DIR] [--quick] [--json PATH]

A benchmark, not a test: every number is the median of several repetitions (each function is
warmed up first), measured on the same random frames, and every ratio is against a baseline
measured in the same run, so the ratios are comparable across machines even where the absolute
numbers are not. Measured:

- frame encoder, frames/s: `TensorFlowRuntime.encode` (tf.function) at batch 1 and 64, against
  the naive baseline `model.predict(x, verbose=0)` one frame at a time, and eager `model(x)`
  one frame at a time; for the bundle's encoder and always for an untrained
  MobileNetV3-Small at 224x224 (random weights: speed does not depend on them);
- caption decoder: microseconds per `caption_step` at batch 1 and 32, and captions/s of
  `decode_captions` (a batch of segments) with beam 1 and beam 3;
- gesture classifier: microseconds per `gesture_step` at batch 1 and 32;
- `Pipeline.annotate`, frames/s, on a 20 s clip of random 320x240 frames at the bundle's rate;
- the same encoder, step, decode and pipeline rows on the LiteRT runtime (the bundle's .tflite
  files, and a LiteRT export of the untrained MobileNetV3-Small), measured in a child process
  (LiteRT cannot share a process with TensorFlow) on the same inputs, and printed side by side
  with the TensorFlow numbers.

Without --bundle, the shipped demo bundle is used when it exists, else a temporary bundle of
untrained models at the default sizes (which decode every caption to the maximum length, a
worst case for captions/s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DEMO_BUNDLE = Path(__file__).resolve().parents[2] / "models" / "bundles" / "demo"
ENCODER_BATCH = 64  # frames per call in the batched encoder measurement
STEP_BATCHES = (1, 32)  # sequences per caption_step / gesture_step call
CAPTION_SEGMENTS = 16  # segments decoded together in the decode_captions measurement
CLIP_SECONDS = 20.0
CLIP_WIDTH, CLIP_HEIGHT = 320, 240


@dataclass(frozen=True)
class BenchmarkOptions:
    """How much to repeat. Each measurement = warm-up + median of `repeats` timed runs."""

    repeats: int = 7
    single_frames: int = 32  # frames encoded one at a time per timed run (batch-1 rows)
    steps: int = 50  # caption_step / gesture_step calls per timed run
    pipeline_repeats: int = 5
    seed: int = 0


QUICK = BenchmarkOptions(repeats=3, single_frames=6, steps=15, pipeline_repeats=1)


@dataclass(frozen=True)
class Measurement:
    """One row of the table.

    value is in `unit` (frames/s, captions/s: higher is better; us/step: lower is better).
    ratio is value / the group's baseline row, measured in the same run (None: no baseline).
    """

    group: str
    name: str
    batch: int
    value: float
    unit: str
    ratio: float | None = None
    note: str = ""
    runtime: str = "tf"  # tf or litert


@dataclass(frozen=True)
class MachineInfo:
    cpu_count: int  # os.cpu_count(): logical CPUs of the machine
    usable_cpus: int  # CPUs this process may run on (affinity)
    load_average_1min: float  # other work competing for the CPUs at the start
    python: str
    tensorflow: str
    keras: str


@dataclass(frozen=True)
class BenchmarkReport:
    machine: MachineInfo
    bundle: str  # what was measured: a bundle path, or a description of the temporary one
    quick: bool
    measurements: tuple[Measurement, ...]
    elapsed_s: float  # wall time of the whole run, model building included


# -- timing --------------------------------------------------------------------------------
def median_seconds(function: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Call `function` `warmup` times untimed, then `repeats` times; median wall seconds."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def random_frames(count: int, height: int, width: int, seed: int) -> np.ndarray:
    """uint8 RGB frames (count, height, width, 3), reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)


# -- encoder -------------------------------------------------------------------------------
def encoder_measurements(runtime, group: str, options: BenchmarkOptions) -> list[Measurement]:
    """frames/s of one encoder: predict per frame (baseline), eager per frame, tf.function at
    batch 1 and ENCODER_BATCH. All rows encode the same frames."""
    encoder = runtime.encoder
    size = encoder.input_size
    frames = random_frames(ENCODER_BATCH, size, size, options.seed)
    singles = [frames[i : i + 1] for i in range(options.single_frames)]

    def per_frame(call: Callable[[np.ndarray], object]) -> Callable[[], None]:
        def run() -> None:
            for x in singles:
                call(x)

        return run

    single_rows = (
        ("model.predict per frame", per_frame(lambda x: encoder.predict(x, verbose=0))),
        ("eager model(x) per frame", per_frame(lambda x: encoder(x, training=False))),
    )
    rows = []
    for name, run in single_rows:
        seconds = median_seconds(run, options.repeats)
        rows.append((name, 1, len(singles) / seconds))
    baseline = rows[0][2]
    return [Measurement(group, name, batch, fps, "frames/s", fps / baseline)
            for name, batch, fps in rows] + encode_measurements(runtime, group, options,
                                                                baseline)


def encode_measurements(runtime, group: str, options: BenchmarkOptions,
                        baseline: float | None = None) -> list[Measurement]:
    """frames/s of `runtime.encode` (either runtime) at batch 1 and ENCODER_BATCH, on the same
    frames as encoder_measurements; ratio against `baseline` frames/s when given."""
    size = runtime.input_size
    frames = random_frames(ENCODER_BATCH, size, size, options.seed)
    singles = [frames[i : i + 1] for i in range(options.single_frames)]

    def one_at_a_time() -> None:
        for x in singles:
            runtime.encode(x)

    rows = [(1, len(singles) / median_seconds(one_at_a_time, options.repeats)),
            (ENCODER_BATCH,
             ENCODER_BATCH / median_seconds(lambda: runtime.encode(frames), options.repeats))]
    return [Measurement(group, "encode", batch, fps, "frames/s",
                        None if baseline is None else fps / baseline, runtime=runtime.name)
            for batch, fps in rows]


def mobilenet_runtime():
    """A TensorFlowRuntime around an untrained MobileNetV3-Small encoder, 224x224, avg-pooled."""
    from framescribe.models.networks.frame_encoder import FrameEncoder
    from framescribe.models.runtimes.tf_runtime import TensorFlowRuntime

    return TensorFlowRuntime(FrameEncoder("mobilenet_v3_small", 224, "avg", None), None, None)


# -- caption decoder -----------------------------------------------------------------------
def _step_latencies(group: str, name: str, per: str, step, make_inputs,
                    options: BenchmarkOptions, runtime: str) -> list[Measurement]:
    """Microseconds per `step(inputs, state) -> (_, state)` call, state fed back, for each batch
    of STEP_BATCHES; make_inputs(batch) -> (inputs, initial state)."""
    rows = []
    for batch in STEP_BATCHES:
        inputs, initial = make_inputs(batch)

        def run(state=initial, inputs=inputs) -> None:
            for _ in range(options.steps):
                _, state = step(inputs, state)

        seconds = median_seconds(run, options.repeats) / options.steps
        rows.append(Measurement(group, name, batch, seconds * 1e6, "us/step",
                                note=f"{seconds * 1e6 / batch:.0f} us/{per}", runtime=runtime))
    return rows


def caption_step_measurements(runtime, segment_frames: int, options: BenchmarkOptions,
                              start_id: int) -> list[Measurement]:
    """Microseconds per caption_step call (one word for `batch` sequences), state fed back."""
    dim = runtime.feature_dim

    def make_inputs(batch: int):
        features = _random_features(batch, segment_frames, dim, options.seed)
        return np.full(batch, start_id, np.int32), runtime.caption_init(features)

    return _step_latencies("caption decoder", "caption_step", "sequence", runtime.caption_step,
                           make_inputs, options, runtime.name)


def decode_measurements(runtime, segment_frames: int, max_length: int, vocabulary,
                        options: BenchmarkOptions) -> list[Measurement]:
    """captions/s of decode_captions on CAPTION_SEGMENTS segments, beam 1 (baseline) and 3."""
    from framescribe.models.inference.caption_search import DecodingOptions, decode_captions

    features = _random_features(CAPTION_SEGMENTS, segment_frames, runtime.feature_dim,
                                options.seed)
    rows = []
    for beam in (1, 3):
        decoding = DecodingOptions(beam_size=beam, max_length=max_length)
        words = []

        def run(decoding=decoding, words=words) -> None:
            decoded = decode_captions(runtime, features, decoding,
                                      start_id=vocabulary.start_id, end_id=vocabulary.end_id)
            words.append(np.mean([len(d.tokens) for d in decoded]))

        seconds = median_seconds(run, options.repeats)
        rows.append((beam, CAPTION_SEGMENTS / seconds, f"{words[-1]:.1f} words/caption"))
    baseline = rows[0][1]
    return [Measurement("caption decoder", f"decode_captions beam {beam}", CAPTION_SEGMENTS,
                        rate, "captions/s", rate / baseline, note, runtime.name)
            for beam, rate, note in rows]


def _random_features(batch: int, frames: int, dim: int, seed: int) -> np.ndarray:
    """float32 (batch, frames, dim) features on the scale of a Dense layer's outputs."""
    return np.random.default_rng(seed).standard_normal((batch, frames, dim)).astype(np.float32)


# -- gesture classifier --------------------------------------------------------------------
def gesture_step_measurements(runtime, options: BenchmarkOptions) -> list[Measurement]:
    """Microseconds per gesture_step call (one frame for `batch` streams), states fed back."""
    dim = runtime.feature_dim

    def make_inputs(batch: int):
        features = _random_features(batch, 1, dim, options.seed)[:, 0, :]
        return features, runtime.gesture_initial_state(batch)

    return _step_latencies("gesture classifier", "gesture_step", "stream", runtime.gesture_step,
                           make_inputs, options, runtime.name)


# -- whole pipeline ------------------------------------------------------------------------
def pipeline_measurement(pipeline, options: BenchmarkOptions) -> Measurement:
    """frames/s of Pipeline.annotate (both tasks, default options) on a random 20 s clip."""
    rate = pipeline.manifest.frame_rate
    count = round(CLIP_SECONDS * rate)
    clip = random_frames(count, CLIP_HEIGHT, CLIP_WIDTH, options.seed)
    seconds = median_seconds(lambda: pipeline.annotate(clip), options.pipeline_repeats)
    return Measurement("pipeline", "Pipeline.annotate", count, count / seconds, "frames/s",
                       note=f"{CLIP_SECONDS:.0f} s {CLIP_WIDTH}x{CLIP_HEIGHT} at {rate:g} fps; "
                            f"{CLIP_SECONDS / seconds:.1f}x real time",
                       runtime=pipeline.runtime.name)


# -- bundles -------------------------------------------------------------------------------
@contextmanager
def default_size_bundle() -> Iterator[Path]:
    """A temporary bundle of untrained models at the training recipe's default sizes."""
    from framescribe.models.bundle.bundle_manifest import BundleManifest, ModelEntry
    from framescribe.models.bundle.bundle_writer import save_bundle
    from framescribe.models.data.lasa_airwriting_paths import gesture_labels
    from framescribe.models.data.moving_digits import MOTIONS
    from framescribe.models.networks.caption_decoder import CaptionDecoder
    from framescribe.models.networks.caption_vocabulary import CaptionVocabulary
    from framescribe.models.networks.frame_encoder import FrameEncoder
    from framescribe.models.networks.gesture_classifier import GestureClassifier
    from framescribe.models.training.training_recipes import BENCHMARK_FRAME_RATE

    vocabulary = CaptionVocabulary.from_captions(
        [f"digit {d} is {m}" for d in range(10) for m in MOTIONS])
    encoder = FrameEncoder("tiny_cnn", 64, "spatial", 256)
    decoder = CaptionDecoder(len(vocabulary), 256)
    labels = gesture_labels()
    classifier = GestureClassifier(len(labels), 256)
    manifest = BundleManifest(name="untrained-default-sizes", version="0",
                              frame_rate=BENCHMARK_FRAME_RATE, caption_segment_frames=16,
                              encoder=ModelEntry("", {}))
    with tempfile.TemporaryDirectory(prefix="framescribe-bench-") as directory:
        path = Path(directory) / "bundle"
        save_bundle(path, manifest, encoder=encoder, caption_decoder=decoder,
                    vocabulary=vocabulary, gesture_classifier=classifier, labels=labels)
        yield path


@contextmanager
def bundle_to_measure(requested: str | None) -> Iterator[tuple[Path, str]]:
    """(bundle directory, description): --bundle, else the demo bundle, else a temporary one."""
    if requested is not None:
        yield Path(requested), str(requested)
    elif (DEMO_BUNDLE / "manifest.json").is_file():
        yield DEMO_BUNDLE, str(DEMO_BUNDLE)
    else:
        with default_size_bundle() as path:
            yield path, ("temporary untrained bundle at default sizes (no models/bundles/demo "
                         "yet): tiny_cnn 64x64 spatial 256, decoder 256, classifier 256")


# -- the run -------------------------------------------------------------------------------
def machine_info() -> MachineInfo:
    import keras
    import tensorflow as tf

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return MachineInfo(os.cpu_count() or 0, usable or os.cpu_count() or 0, round(load, 2),
                       platform.python_version(), tf.__version__, keras.__version__)


def run_benchmark(bundle: str | None, options: BenchmarkOptions, quick: bool,
                  log: Callable[[str], None] = lambda message: None) -> BenchmarkReport:
    """Measure everything in one process and return the report (nothing is printed here)."""
    from framescribe.models.inference.pipeline import Pipeline

    started = time.perf_counter()
    machine = machine_info()
    rows: list[Measurement] = []
    with bundle_to_measure(bundle) as (directory, description), \
            tempfile.TemporaryDirectory(prefix="framescribe-bench-") as work:
        pipeline = Pipeline.from_bundle(directory)
        manifest = pipeline.manifest
        size = manifest.input_size
        encoder_group = f"encoder {manifest.backbone} {size}x{size}"
        log(encoder_group)
        rows += encoder_measurements(pipeline.runtime, encoder_group, options)
        rows += bundle_measurements(pipeline, options, log)
        log(MOBILENET_GROUP)
        mobilenet = mobilenet_runtime()
        rows += encoder_measurements(mobilenet, MOBILENET_GROUP, options)
        mobilenet_file = Path(work) / "mobilenet_v3_small.tflite"
        if manifest.litert is not None:
            from framescribe.models.runtimes.litert_export import export_encoder

            export_encoder(mobilenet.encoder, mobilenet_file)
            log("the same on LiteRT (child process)")
            rows += litert_measurements(directory, encoder_group, mobilenet_file, quick)
    return BenchmarkReport(machine, description, quick, tuple(rows),
                           round(time.perf_counter() - started, 1))


MOBILENET_GROUP = "encoder mobilenet_v3_small 224x224 (untrained)"


def bundle_measurements(pipeline, options: BenchmarkOptions,
                        log: Callable[[str], None]) -> list[Measurement]:
    """Step, decode and pipeline rows of one pipeline (either runtime)."""
    manifest, runtime = pipeline.manifest, pipeline.runtime
    rows = []
    if manifest.caption_decoder is not None:
        log(f"caption decoder ({runtime.name})")
        segment = manifest.caption_segment_frames
        rows += caption_step_measurements(runtime, segment, options,
                                          pipeline.vocabulary.start_id)
        rows += decode_measurements(runtime, segment, manifest.caption_max_length,
                                    pipeline.vocabulary, options)
    if manifest.gesture_classifier is not None:
        log(f"gesture classifier ({runtime.name})")
        rows += gesture_step_measurements(runtime, options)
    log(f"pipeline ({runtime.name})")
    rows.append(pipeline_measurement(pipeline, options))
    return rows


def litert_measurements(bundle: Path, encoder_group: str, mobilenet_file: Path,
                        quick: bool) -> list[Measurement]:
    """The LiteRT rows, measured by benchmark_litert in a TensorFlow-free child process."""
    import subprocess

    command = [sys.executable, "-m", "benchmarks.benchmark_litert", "--bundle",
               str(bundle), "--encoder-group", encoder_group, "--mobilenet", str(mobilenet_file),
               "--mobilenet-group", MOBILENET_GROUP] + (["--quick"] if quick else [])
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the LiteRT measurements failed: {result.stderr.strip()[-500:]}")
    return [Measurement(**row) for row in json.loads(result.stdout)]


def side_by_side(rows) -> list[str]:
    """Lines comparing each row measured on both runtimes: TF, LiteRT, LiteRT's speed-up."""
    tf_rows = {(r.group, r.name, r.batch): r for r in rows if r.runtime == "tf"}
    lines = [f"{'TF vs LiteRT':<44} {'batch':>5} {'TF':>10} {'LiteRT':>10} {'unit':<10} "
             f"{'LiteRT speed-up':>15}"]
    for lite in (r for r in rows if r.runtime == "litert"):
        tf = tf_rows.get((lite.group, lite.name, lite.batch))
        if tf is None:
            continue
        faster = tf.value / lite.value if lite.unit == "us/step" else lite.value / tf.value
        label = f"{lite.group.split(' (')[0]}: {lite.name}"
        lines.append(f"  {label:<42} {lite.batch:>5} {_number(tf.value):>10} "
                     f"{_number(lite.value):>10} {lite.unit:<10} {faster:>14.2f}x")
    return lines if len(lines) > 1 else []


def format_report(report: BenchmarkReport) -> str:
    """The report as a plain-text table."""
    m = report.machine
    lines = [
        f"framescribe speed benchmark{' (--quick)' if report.quick else ''}",
        f"CPUs: {m.cpu_count} (usable {m.usable_cpus}), load average {m.load_average_1min}; "
        f"Python {m.python}, TensorFlow {m.tensorflow}, Keras {m.keras}",
        f"bundle: {report.bundle}",
        "values are medians; ratio = value / the first row of its group, same run",
        "",
        f"{'measurement':<30} {'batch':>5} {'value':>11} {'unit':<10} {'ratio':>7}  note",
    ]
    group = None
    for row in report.measurements:
        if row.group != group:
            group = row.group
            lines.append(f"-- {group}")
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        name = f"{row.name} [{row.runtime}]" if row.runtime != "tf" or row.name == "encode" \
            else row.name
        lines.append(f"  {name:<28} {row.batch:>5} {_number(row.value):>11} {row.unit:<10} "
                     f"{ratio:>7}  {row.note}".rstrip())
    comparison = side_by_side(report.measurements)
    if comparison:
        lines += ["", *comparison]
    lines.append(f"\ntotal {report.elapsed_s:.0f} s")
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def write_json(path: str, report: BenchmarkReport) -> None:
    """The report as JSON, written atomically (a temporary file beside it, then renamed)."""
    from framescribe.plugin.atomic_files import write_atomically

    write_atomically(path, json.dumps(asdict(report), indent=2) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.benchmark_speed",
        description="Measure inference speed of a bundle's models on this machine.")
    parser.add_argument("--bundle", help="bundle directory (default: models/bundles/demo if "
                        "it exists, else a temporary untrained bundle at default sizes)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (noisier)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    options = QUICK if args.quick else BenchmarkOptions()
    if args.json and not Path(args.json).resolve().parent.is_dir():
        print(f"benchmark_speed: error: {args.json}: its directory does not exist",
              file=sys.stderr)
        return 1

    def log(message: str) -> None:
        print(f"measuring {message} ...", file=sys.stderr, flush=True)

    try:
        report = run_benchmark(args.bundle, options, args.quick, log)
    except ValueError as error:  # BundleError names the bad file
        print(f"benchmark_speed: error: {error}", file=sys.stderr)
        return 1
    print(format_report(report))
    if args.json:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

