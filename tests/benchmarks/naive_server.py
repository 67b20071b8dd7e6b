"""The baseline of the server benchmark: StreamAnnotate as a naive engineer would write it.

    python -m benchmarks.naive_server --bundle DIR --port 0

For every frame, on the event loop: decode the JPEG (or PNG/raw) image, resize it, call
`encoder.predict(x[None], verbose=0)`, then one eager `GestureClassifier.step` with the
stream's carried LSTM state, and send an interim result (top label) for that frame. No
batching across frames or streams, no `tf.function`, no decode pool, no frame sampling and no
event tracker: it exists only so `benchmark_server` can show what the real server's batching
buys (ratio (b)/(c)). It serves StreamAnnotate only (the other RPCs answer UNIMPLEMENTED) and
is not part of the product.

Like `framescribe serve`, it prints "serving BUNDLE on HOST:PORT" to stderr once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

import cv2
import grpc
import numpy as np

from framescribe.server.frame_decoding import FrameError, decode_image
from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc


class NaiveServicer(pb_grpc.FrameScribeServiceServicer):
    """Per-frame Keras calls: predict for the encoder, an eager step for the classifier."""

    def __init__(self, bundle: str):
        from framescribe.models.bundle.bundle_loader import load_tensorflow_runtime
        from framescribe.models.bundle.bundle_manifest import load_labels

        manifest, runtime = load_tensorflow_runtime(bundle)
        if runtime.encoder is None or runtime.gesture_classifier is None:
            raise ValueError(f"{bundle}: the naive server needs an image encoder and a gesture "
                             "classifier")
        self.encoder = runtime.encoder
        self.classifier = runtime.gesture_classifier
        self.labels = load_labels(bundle)
        self.size = manifest.input_size

    def annotate_frame(self, frame: pb.Frame, states: list) -> tuple[pb.InterimGesture, list]:
        """One frame: decode, resize, encode, step; the interim result and the new states."""
        import keras

        image = decode_image(frame.image)
        x = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        features = self.encoder.predict(x[None], verbose=0)
        logits, states = self.classifier.step(keras.ops.convert_to_tensor(features), states)
        probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits))[0]
        top = int(np.argmax(probabilities))
        label = self.labels[top - 1] if top > 0 else ""
        interim = pb.InterimGesture(timestamp_ms=frame.timestamp_ms, label=label,
                                    confidence=float(probabilities[top]))
        return interim, states

    async def StreamAnnotate(self, request_iterator, context):
        states = self.classifier.initial_state(1)
        first = True
        async for request in request_iterator:
            kind = request.WhichOneof("request")
            if first:
                first = False
                if kind != "config":
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                        "the first message must be a StreamConfig")
                continue
            if kind != "frame" or request.frame.WhichOneof("content") != "image":
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "send image frames")
            try:
                interim, states = self.annotate_frame(request.frame, states)
            except FrameError as error:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
            yield pb.StreamAnnotateResponse(interim_gesture=interim)


async def serve(bundle: str, host: str, port: int) -> None:
    servicer = NaiveServicer(bundle)
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 32 << 20)])
    pb_grpc.add_FrameScribeServiceServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    print(f"naive_server: serving {bundle} on {host}:{bound} (runtime keras predict, per frame)",
          file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.naive_server",
        description="Benchmark baseline: StreamAnnotate with per-frame model.predict calls.")
    parser.add_argument("--bundle", required=True, help="model bundle directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    asyncio.run(serve(args.bundle, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
