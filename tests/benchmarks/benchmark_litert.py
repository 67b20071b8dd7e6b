"""The LiteRT half of `make bench`, run by benchmark_speed in a TensorFlow-free child process.

    python -m benchmarks.benchmark_litert --bundle DIR --encoder-group NAME \
        [--mobilenet FILE.tflite --mobilenet-group NAME] [--quick]

Prints the measurements as a JSON list on stdout (the parent merges them into its report).
Same inputs and repetitions as the TensorFlow rows: the measuring functions are shared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from benchmarks.benchmark_speed import (
    QUICK,
    BenchmarkOptions,
    bundle_measurements,
    encode_measurements,
)


class _EncoderOnly:
    """The encode part of the runtime interface, for a lone .tflite encoder file."""

    name = "litert"

    def __init__(self, path: Path):
        from framescribe.models.runtimes.litert_runtime import open_signature

        self._run = open_signature(path, "encode")
        self.input_size = int(self._run.get_input_details()["frames"]["shape_signature"][1])

    def encode(self, frames):
        return self._run(frames=frames)["features"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.benchmark_litert")
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--encoder-group", required=True)
    parser.add_argument("--mobilenet", help="a .tflite MobileNetV3-Small encoder to time too")
    parser.add_argument("--mobilenet-group", default="encoder mobilenet_v3_small")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from framescribe.models.inference.pipeline import Pipeline

    options = QUICK if args.quick else BenchmarkOptions()
    pipeline = Pipeline.from_bundle(args.bundle, runtime="litert")

    def log(message: str) -> None:
        print(f"measuring {message} ...", file=sys.stderr, flush=True)

    rows = encode_measurements(pipeline.runtime, args.encoder_group, options)
    rows += bundle_measurements(pipeline, options, log)
    if args.mobilenet:
        rows += encode_measurements(_EncoderOnly(Path(args.mobilenet)), args.mobilenet_group,
                                    options)
    assert "tensorflow" not in sys.modules, "the LiteRT benchmark must not import TensorFlow"
    print(json.dumps([asdict(row) for row in rows]))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
