"""Export a bundle's Keras models to LiteRT (.tflite) files for the TensorFlow-free runtime.

Each model becomes one file with one signature (a flat list of named arrays in and out):

| file | signature | inputs -> outputs |
| --- | --- | --- |
| frame_encoder.tflite | encode | frames uint8 (n, size, size, 3) -> features (n, D) |
| caption_init.tflite | caption_init | features (1, frames, D) -> h, c, context, keys[, tracks..] |
| caption_step.tflite | caption_step | tokens (n,), h, c, context, keys[, ...] -> log_probs, h, c |
| gesture_step.tflite | gesture_step | features (n, D), states_0..k -> probabilities, state_0..k |

Path: `keras.export.ExportArchive` (a SavedModel endpoint per function) then
`TFLiteConverter.from_saved_model`; converting from concrete functions drops Keras 3 weights.
caption_init is exported for one segment at a time (the keypoint-track GRU's loop needs a
static batch to convert); the runtime loops over segments, which costs ~0.5 ms each.

`quantize="dynamic"` converts every model a second time with int8 dynamic-range weights, times
both versions here on CPU and keeps the int8 one only where it is faster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from framescribe.models.bundle.bundle_manifest import (
    LITERT_DIR,
    LITERT_FILES,
    LITERT_SOURCES,
    MANIFEST,
    file_sha256,
    read_manifest,
)
from framescribe.models.bundle.bundle_writer import write_json_atomically

QUANTIZATIONS = ("none", "dynamic")


@dataclass(frozen=True)
class ExportedModel:
    """One LiteRT file: role (encoder, caption_init, ...), size, and what was kept."""

    role: str
    file: str
    bytes: int
    quantized: bool
    float_ms: float | None = None  # median latency of the float32 file (quantize="dynamic")
    int8_ms: float | None = None  # ... and of the int8 file


def _endpoints(runtime) -> dict[str, tuple[object, Callable, list]]:
    """role -> (Keras model to track, function, input signature) for each model present."""
    import tensorflow as tf

    endpoints = {}
    if runtime.encoder is not None:
        endpoints["encoder"] = _encoder_endpoint(runtime.encoder)
    decoder = runtime.caption_decoder
    if decoder is not None:
        shapes = decoder.state_shapes()
        names = list(shapes)
        endpoints["caption_init"] = (
            decoder,
            lambda features: decoder.init(features),
            [tf.TensorSpec((1, None, decoder.feature_dim), tf.float32, name="features")],
        )

        def caption_step(tokens, *state_values):
            state = dict(zip(names, state_values, strict=True))
            logits, new_state, _ = decoder.step(tokens, state)
            return {"log_probs": tf.nn.log_softmax(logits), "h": new_state["h"],
                    "c": new_state["c"]}

        endpoints["caption_step"] = (
            decoder,
            caption_step,
            [tf.TensorSpec((None,), tf.int32, name="tokens")]
            + [tf.TensorSpec((None, *shapes[n]), tf.float32, name=n) for n in names],
        )
    classifier = runtime.gesture_classifier
    if classifier is not None:

        def gesture_step(features, *states):
            logits, new_states = classifier.step(features, list(states))
            outputs = {"probabilities": tf.nn.softmax(logits)}
            outputs.update({f"state_{i}": s for i, s in enumerate(new_states)})
            return outputs

        endpoints["gesture_step"] = (
            classifier,
            gesture_step,
            [tf.TensorSpec((None, classifier.input_dim), tf.float32, name="features")]
            + [tf.TensorSpec((None, classifier.units), tf.float32, name=f"states_{i}")
               for i in range(classifier.state_count)],
        )
    return endpoints


def export_encoder(encoder, path: str | os.PathLike) -> None:
    """One FrameEncoder alone to a .tflite file (e.g. to time a backbone without a bundle)."""
    with tempfile.TemporaryDirectory(prefix="framescribe-export-") as work:
        data = _convert(*_encoder_endpoint(encoder), "encoder", Path(work), False)
    Path(path).write_bytes(data)


def _encoder_endpoint(encoder) -> tuple[object, Callable, list]:
    import tensorflow as tf

    size = encoder.input_size
    return (encoder, lambda frames: {"features": encoder(frames, training=False)},
            [tf.TensorSpec((None, size, size, 3), tf.uint8, name="frames")])


def _convert(model, function, signature, role: str, work: Path, quantize: bool) -> bytes:
    import keras
    import tensorflow as tf

    saved_model = work / f"{role}_savedmodel"
    if not saved_model.exists():
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(LITERT_FILES[role][1], function, input_signature=signature)
        archive.write_out(os.fspath(saved_model), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(
        os.fspath(saved_model), signature_keys=[LITERT_FILES[role][1]])
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no dataset: dynamic range
    return converter.convert()


def _median_ms(path: Path, role: str) -> float:
    """Batch-1 latency measured in a child process (LiteRT cannot run next to TensorFlow)."""
    result = subprocess.run(
        [sys.executable, "-m", "framescribe.models.runtimes.litert_runtime", os.fspath(path),
         LITERT_FILES[role][1]], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"timing {path} failed: {result.stderr.strip()[-300:]}")
    return float(result.stdout.strip().splitlines()[-1])


def export_litert(bundle: str | os.PathLike, quantize: str = "none",
                  log: Callable[[str], None] = print) -> list[ExportedModel]:
    """(Re)create the bundle's LiteRT files and record them in its manifest. Atomic: the
    previous files stay in place until the new set is complete."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}")
    from framescribe.models.bundle.bundle_loader import load_tensorflow_runtime

    bundle = Path(bundle)
    _, runtime = load_tensorflow_runtime(bundle)
    staging = Path(tempfile.mkdtemp(prefix=".litert-", dir=bundle))
    exported: list[ExportedModel] = []
    try:
        with tempfile.TemporaryDirectory(prefix="framescribe-export-") as work:
            for role, (model, function, signature) in _endpoints(runtime).items():
                file = staging / LITERT_FILES[role][0]
                file.write_bytes(_convert(model, function, signature, role, Path(work), False))
                result = ExportedModel(role, f"{LITERT_DIR}/{file.name}", file.stat().st_size,
                                       quantized=False)
                if quantize == "dynamic":
                    result = _keep_faster(model, function, signature, role, Path(work), file,
                                          result)
                log(f"{role}: {result.file} {result.bytes / 1e6:.1f} MB"
                    + (" (int8 weights)" if result.quantized else ""))
                exported.append(result)
        _publish(bundle, staging, exported, quantize)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return exported


def _keep_faster(model, function, signature, role: str, work: Path, file: Path,
                 result: ExportedModel) -> ExportedModel:
    """Convert with int8 weights too; keep whichever is faster at batch 1 on this CPU."""
    int8_file = file.with_suffix(".int8.tflite")
    int8_file.write_bytes(_convert(model, function, signature, role, work, True))
    # Rounded as recorded in the manifest (0.1 µs), so the choice and the record agree on a tie.
    float_ms, int8_ms = round(_median_ms(file, role), 4), round(_median_ms(int8_file, role), 4)
    if int8_ms < float_ms:
        os.replace(int8_file, file)
        return ExportedModel(role, result.file, file.stat().st_size, True, float_ms, int8_ms)
    int8_file.unlink()
    return ExportedModel(role, result.file, result.bytes, False, float_ms, int8_ms)


def _publish(bundle: Path, staging: Path, exported: list[ExportedModel], quantize: str) -> None:
    """Swap the staged files in as <bundle>/litert and rewrite the manifest's litert section."""
    path = bundle / MANIFEST
    raw = json.loads(path.read_text("utf-8"))
    models, timings = {}, {}
    for e in exported:
        models[e.role] = {"file": e.file, "signature": LITERT_FILES[e.role][1],
                          "sha256": file_sha256(staging / Path(e.file).name),
                          "source_sha256": raw[LITERT_SOURCES[e.role]]["sha256"],
                          "quantized": e.quantized}
        if e.float_ms is not None:
            timings[e.role] = {"float32_ms": round(e.float_ms, 4), "int8_ms": round(e.int8_ms, 4)}
    raw["litert"] = {"quantization": quantize, "models": models, "metrics": {},
                     "timings": timings}
    target, old = bundle / LITERT_DIR, bundle / f".{LITERT_DIR}-old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.chmod(0o755)
    staging.rename(target)
    write_json_atomically(path, raw)
    shutil.rmtree(old, ignore_errors=True)
    read_manifest(bundle)  # fails loudly if what we wrote does not check out


def record_litert_metrics(bundle: str | os.PathLike, benchmarks, log: Callable[[str], None] = print
                          ) -> None:
    """Evaluate the bundle's LiteRT files on each benchmark's test split and record the metrics
    in the manifest's litert section. Runs evaluate_bundle in a child process: the LiteRT
    runtime cannot share a process with TensorFlow."""
    for benchmark in benchmarks:
        log(f"measuring the LiteRT files on {benchmark} (test split)")
        command = [sys.executable, "-m", "framescribe.models.evaluation.evaluation",
                   os.fspath(bundle), benchmark, "litert"]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"evaluating the LiteRT files on {benchmark} failed: "
                               f"{result.stderr.strip()[-300:]}")
