"""TensorFlow's process-wide setup on real hosts: GPU memory growth, and mixed precision.

`configure_tensorflow()` turns on memory growth on every visible GPU, so a server, a trainer
and an evaluator sharing a card each take what they use instead of all of it. It must run
before TensorFlow's first op (afterwards the devices are fixed), so it is called where the
Keras models are first built: `bundle_loader.load_tensorflow_runtime` / `load_encoder` (eval,
annotate, batch, caption --embedded, serve, export) and the training recipes
(`training_recipes.train`, `dataset_recipes.train_from_dataset`). It is idempotent and a
no-op on CPU-only hosts. The LiteRT path never imports this module (nor TensorFlow).

`mixed_precision(True)` is the training side of `--mixed-precision`: a `with` block under
Keras' "mixed_float16" policy (float16 compute, float32 variables; `Model.compile` then wraps
the optimizer in a LossScaleOptimizer), the previous policy restored afterwards so the bundle
is saved, exported and evaluated in float32. `keep_float32(layer, ...)` pins output layers to
float32, as the Keras mixed-precision guide asks (softmaxes and losses then run in float32).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

log = logging.getLogger("framescribe.models")

MIXED_POLICY = "mixed_float16"


def configure_tensorflow(mixed_precision: bool = False) -> list[str]:
    """Memory growth on every visible GPU; returns their names (empty on CPU hosts).

    Safe to call any number of times. Called after TensorFlow has already run an op, a GPU
    whose growth was not set yet keeps what it has (logged once). mixed_precision: also set
    the global Keras policy to mixed_float16 when there is a GPU (for servers, which keep one
    policy for the process; training uses the `mixed_precision` block instead).
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError) as error:  # initialised already, or virtual devices
            _warn_once(f"GPU memory growth not set on {gpu.name}: {error}")
    if mixed_precision and gpus:
        import keras

        keras.mixed_precision.set_global_policy(MIXED_POLICY)
    return [gpu.name for gpu in gpus]


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


@contextlib.contextmanager
def mixed_precision(enabled: bool = True) -> Iterator[None]:
    """Models built inside compute in float16 with float32 variables (enabled), else nothing
    changes. The global policy is restored on the way out, even on an error."""
    if not enabled:
        yield
        return
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(MIXED_POLICY)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def keep_float32(*layers) -> None:
    """Compute these (built) layers in float32 whatever the policy they were built under: their
    variables are float32 either way, their inputs are cast to float32."""
    for layer in layers:
        if layer.dtype_policy.compute_dtype != "float32":
            layer.dtype_policy = "float32"
