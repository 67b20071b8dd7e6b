"""LiteRT runtime: a bundle's exported .tflite files on CPU, without TensorFlow.

The same interface as `TensorFlowRuntime` (encode, caption_init/step, gesture_initial_state/
step/run; numpy in and out), so the pipeline, the caption search and the server use either.
Files and signatures: see litert_export.py. This module must never import TensorFlow: it is
what CPU and edge hosts run, and it starts in a fraction of the time.

It also must not share a process with TensorFlow: measured here, after TensorFlow had run the
caption decoder in a process, a LiteRT caption decoder first run after it returned wrong LSTM
states (the two wheels carry different builds of the same kernels; order-dependent, so the
constructor refuses outright, with the reason).

    python -m framescribe.models.runtimes.litert_runtime FILE.tflite SIGNATURE  # batch-1 ms
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from framescribe.models.bundle.bundle_manifest import LITERT_FILES, BundleError

# Frames per interpreter call. Measured here (XNNPack, 2 threads): MobileNetV3-Small 224 runs
# 2,195 frames/s at 4-8 frames a call but 1,354 at 64 (larger calls spill the CPU caches);
# the tiny 64x64 encoder is flat from 4 up. So LiteRT encodes in small calls.
ENCODER_CHUNK = 8


# caption_init runs its frame reader as WHILE loops. With LiteRT's memory planner reusing
# intermediate tensors (ai-edge-litert 2.3.0, AUTO resolver), its calls after the first could
# read another call's leftovers: the first captions of a process came out wrong (segments 2..N
# of the first batch) depending on the heap's history, later ones right. Keeping every
# intermediate tensor (a few hundred kB for this model) made every call agree.
KEEP_INTERMEDIATES = frozenset({"caption_init"})


def default_threads() -> int:
    """Interpreter threads: the machine's cores, at most 4 (more rarely helps these models)."""
    return max(1, min(4, os.cpu_count() or 1))


def open_signature(path: str | os.PathLike, signature: str, threads: int | None = None,
                   keep_intermediates: bool = False):
    """A callable SignatureRunner: runner(**named numpy inputs) -> dict of numpy outputs.
    Inputs whose shape differs from the last call are resized automatically.
    keep_intermediates: give every intermediate tensor its own memory (see KEEP_INTERMEDIATES)."""
    try:
        with warnings.catch_warnings():  # "for debugging only": here it is a correctness fix
            warnings.simplefilter("ignore", UserWarning)
            interpreter = Interpreter(model_path=os.fspath(path),
                                      num_threads=threads or default_threads(),
                                      experimental_preserve_all_tensors=keep_intermediates)
        return interpreter.get_signature_runner(signature)
    except (ValueError, RuntimeError) as error:
        message = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise BundleError(f"{path}: cannot load the LiteRT model ({message})") from None


def refuse_next_to_tensorflow() -> None:
    if "tensorflow" in sys.modules:
        raise RuntimeError(
            "the LiteRT runtime cannot run in a process that has imported TensorFlow (their "
            "LSTM kernels clash and captions come out wrong); use runtime 'tf' here, or run "
            "LiteRT in its own process")


class LiteRTRuntime:
    """Inference for one bundle's LiteRT files. Shapes as in TensorFlowRuntime."""

    name = "litert"

    def __init__(self, files: dict[str, Path], manifest, threads: int | None = None):
        """files: role (encoder, caption_init, caption_step, gesture_step) -> .tflite path."""
        refuse_next_to_tensorflow()
        self.manifest = manifest
        self._runners = {role: open_signature(path, LITERT_FILES[role][1], threads,
                                              keep_intermediates=role in KEEP_INTERMEDIATES)
                         for role, path in files.items()}
        self._feature_dim = 0  # a landmark-gesture bundle without captions has no encoder
        if "encoder" in self._runners:
            encoder_output = self._runners["encoder"].get_output_details()["features"]
            self._feature_dim = int(encoder_output["shape_signature"][-1])
        if "gesture_step" in self._runners:
            inputs = self._runners["gesture_step"].get_input_details()
            self._gesture_state_shapes = [
                tuple(int(d) for d in inputs[name]["shape_signature"][1:])
                for name in sorted((n for n in inputs if n.startswith("states_")),
                                   key=lambda n: int(n.split("_")[1]))
            ]

    # -- encoder -------------------------------------------------------------------------
    def encode(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (n, size, size, 3) RGB -> float32 features (n, feature_dim)."""
        if len(frames) == 0:
            return np.zeros((0, self.feature_dim), np.float32)
        run = self._runners["encoder"]
        chunks = [run(frames=np.ascontiguousarray(frames[i : i + ENCODER_CHUNK], np.uint8))
                  ["features"] for i in range(0, len(frames), ENCODER_CHUNK)]
        return np.concatenate(chunks)

    @property
    def feature_dim(self) -> int:
        return self._feature_dim

    @property
    def input_size(self) -> int:
        """Encoder input side, pixels."""
        frames = self._runners["encoder"].get_input_details()["frames"]
        return int(frames["shape_signature"][1])

    # -- captions ------------------------------------------------------------------------
    def caption_init(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """features (batch, frames, feature_dim) -> decoder state (dict of arrays).
        One segment per call (the exported signature's batch is 1)."""
        run = self._runners["caption_init"]
        states = [run(features=np.ascontiguousarray(f[None], np.float32)) for f in features]
        return {name: np.concatenate([s[name] for s in states]) for name in states[0]}

    def caption_step(self, tokens: np.ndarray, state: dict) -> tuple[np.ndarray, dict]:
        """tokens (batch,) int32 -> (log-probabilities (batch, vocab), new state)."""
        outputs = self._runners["caption_step"](
            tokens=np.ascontiguousarray(tokens, np.int32),
            **{k: np.ascontiguousarray(v, np.float32) for k, v in state.items()})
        return outputs["log_probs"], {**state, "h": outputs["h"], "c": outputs["c"]}

    # -- gestures ------------------------------------------------------------------------
    def gesture_initial_state(self, batch_size: int) -> list[np.ndarray]:
        return [np.zeros((batch_size, *shape), np.float32) for shape in self._gesture_state_shapes]

    def gesture_step(self, features: np.ndarray, states: list) -> tuple[np.ndarray, list]:
        """features (batch, feature_dim) -> (probabilities (batch, 1 + labels), new states)."""
        named = {f"states_{i}": np.ascontiguousarray(s, np.float32) for i, s in enumerate(states)}
        outputs = self._runners["gesture_step"](
            features=np.ascontiguousarray(features, np.float32), **named)
        return outputs["probabilities"], [outputs[f"state_{i}"] for i in range(len(states))]

    def gesture_chunk(self, features: np.ndarray, states: list) -> tuple[np.ndarray, list]:
        """Consecutive frames of one stream: features (frames, feature_dim) and the states
        before them -> (probabilities (frames, 1 + labels), states after the last frame);
        one gesture_step per frame (the exported model is a single step)."""
        rows = []
        for row in features:
            probabilities, states = self.gesture_step(row[None], states)
            rows.append(probabilities[0])
        return np.stack(rows), states

    def gesture_run(self, features: np.ndarray) -> np.ndarray:
        """Whole clips: features (batch, frames, feature_dim) -> probabilities per frame,
        one step per frame for all clips at once (the classifier is exactly step-wise)."""
        states = self.gesture_initial_state(len(features))
        probabilities = []
        for t in range(features.shape[1]):
            probs, states = self.gesture_step(features[:, t], states)
            probabilities.append(probs)
        if not probabilities:
            classes = self._runners["gesture_step"].get_output_details()["probabilities"]
            return np.zeros((len(features), 0, int(classes["shape_signature"][-1])), np.float32)
        return np.stack(probabilities, axis=1)


def batch1_latency_ms(path: str | os.PathLike, signature: str, repeats: int = 30) -> float:
    """Median latency of one call with batch-1 inputs (variable frame axes set to 16)."""
    refuse_next_to_tensorflow()
    runner = open_signature(path, signature)
    rng = np.random.default_rng(0)
    inputs = {}
    for name, detail in runner.get_input_details().items():
        shape = [d if d > 0 else (1 if i == 0 else 16)
                 for i, d in enumerate(detail["shape_signature"])]
        if np.issubdtype(detail["dtype"], np.integer):
            inputs[name] = rng.integers(0, 3, shape).astype(detail["dtype"])
        else:
            inputs[name] = rng.standard_normal(shape).astype(detail["dtype"])
    runner(**inputs)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        runner(**inputs)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m framescribe.models.runtimes.litert_runtime FILE SIGNATURE")
    print(f"{batch1_latency_ms(sys.argv[1], sys.argv[2]):.6f}")
