"""An encoder worker process: wire images in, encoder features out, on its own interpreter and
its own GIL.

The server (EncoderPool, encoder_pool.py) starts a few of these for a LiteRT bundle. Each one
decodes, checks and fits the frames of a batch with the same functions the in-process path uses
(`decode_image`, `fit_frame`) and encodes them with the bundle's `LiteRTRuntime.encode` on one
interpreter thread. Measured on 2 cores with the demo bundle, 32 streams of 16-frame lists:
5,329 frames/s with decoding and encoding in the server process, 6,940 with them in three
workers (medians of three interleaved runs): the server's event loop, decode threads and
encoder no longer take turns on one GIL, and one-thread interpreters do not wait on each
other's XNNPACK workers.

    python -m framescribe.server.encoder_worker BUNDLE [--max-pixels-per-frame N] [--niceness N]
        [--heads]

With --heads (the pool's background workers, which serve clips) it also loads the recurrent
heads and answers gesture-step and caption batches (model_batches.py, as the server process
does for live streams), so a clip's model work runs here, niced and on this process's GIL,
never on the server's, where it would hold up every live stream's interim labels.

Protocol on stdin/stdout (little-endian; u32 = unsigned 32-bit):
- Startup: the worker writes READY and the feature width (u32), or exits non-zero with one line
  on stderr.
- Request: u32 item count; per item: u32 frame count, then per frame: u64 frame index (for error
  messages), u32 length, a serialized framescribe.v1.Image.
- Reply: u8 status. STATUS_OK: per item u8 (1 = encoded; 0 = refused, a bad frame, or 2 =
  failed, an unexpected error; both followed by u32 length and a UTF-8 message), then u32 rows
  and the float32 features (rows, width) of the encoded items' frames in order.
  STATUS_FAILED: u32 length and a UTF-8 message (the batch failed; the worker goes on serving).
- Heads request (--heads only): u32 HEADS_REQUEST instead of an item count, then u32 length
  and a pickle of (kind, items): "gestures" and GestureChunks, or "captions" and
  CaptionRequests (the server is this worker's parent: nothing else writes to its stdin).
  Reply: u8 STATUS_OK, u32 length and a pickle of the results (GestureChunkResults, or
  (text, log_prob) pairs); or STATUS_FAILED as above.
The worker exits when stdin closes. It ignores SIGINT: Ctrl-C reaches the whole process group,
and the server, which drains first, closes its workers itself.
"""

from __future__ import annotations

import argparse
import pickle
import signal
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from framescribe.models.video import VideoError, fit_frame
from framescribe.v1 import framescribe_service_pb2 as pb

from .frame_decoding import FrameError, FrameLimits, decode_image
from .process_niceness import nice_process

READY = b"READY"
STATUS_OK, STATUS_FAILED = 0, 1
HEADS_REQUEST = 0xFFFFFFFF  # in place of an item count: a gesture or caption batch follows
_U32 = struct.Struct("<I")
_FRAME_HEADER = struct.Struct("<QI")  # frame index, serialized Image length
_ENCODED, _REFUSED, _FAILED = 1, 0, 2


class WorkerExited(EOFError):
    """The other end of the pipe closed."""


class BatchFailed(RuntimeError):
    """The worker could not encode a batch (its reply said why); it goes on serving."""


@dataclass(frozen=True)
class ItemOutcome:
    """How the worker fared with one item: encoded (both None), `refused` (a bad frame: the
    caller's fault) or `failed` (unexpected: the server's)."""

    refused: str | None = None
    failed: str | None = None


# -- wire format (both sides) ---------------------------------------------------------------
def write_request(stream: BinaryIO, items: Sequence[Sequence[tuple[bytes, int]]]) -> None:
    """Send one request, frame by frame (a batch of large frames is never copied whole);
    items: per item, (serialized Image, frame index) pairs."""
    stream.write(_U32.pack(len(items)))
    for frames in items:
        stream.write(_U32.pack(len(frames)))
        for data, index in frames:
            stream.write(_FRAME_HEADER.pack(index, len(data)))
            stream.write(data)
    stream.flush()


def write_heads_request(stream: BinaryIO, kind: str, items: Sequence) -> None:
    """Send one batch for the recurrent heads: kind "gestures" (GestureChunks) or "captions"
    (CaptionRequests), model_batches.py."""
    data = pickle.dumps((kind, list(items)), protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_U32.pack(HEADS_REQUEST) + _U32.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_heads_reply(stream: BinaryIO) -> list:
    """The results of a heads batch, one per item; BatchFailed if it failed."""
    if read_exactly(stream, 1)[0] == STATUS_FAILED:
        raise BatchFailed(f"the worker failed on a batch: {read_text(stream)}")
    return pickle.loads(read_exactly(stream, read_u32(stream)))


def read_exactly(stream: BinaryIO, size: int) -> memoryview:
    """size bytes from stream, or WorkerExited at its end."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        count = stream.readinto(view[got:])
        if not count:
            raise WorkerExited(f"the pipe closed after {got} of {size} bytes")
        got += count
    return view


def read_u32(stream: BinaryIO) -> int:
    return _U32.unpack(read_exactly(stream, 4))[0]


def read_text(stream: BinaryIO) -> str:
    return bytes(read_exactly(stream, read_u32(stream))).decode("utf-8", "replace")


def read_item(stream: BinaryIO, fit: Callable[[memoryview, int], np.ndarray]
              ) -> tuple[ItemOutcome, list[np.ndarray]]:
    """One item of a request: each frame fitted by fit(serialized Image, index) as soon as it
    is read (so the worker holds one large frame at a time, not the batch); after a bad
    frame the item's remaining frames are read and skipped."""
    outcome, fitted = ItemOutcome(), []
    for _ in range(read_u32(stream)):
        index, length = _FRAME_HEADER.unpack(read_exactly(stream, _FRAME_HEADER.size))
        data = read_exactly(stream, length)
        if outcome != ItemOutcome():
            continue
        try:
            fitted.append(fit(data, index))
        except (FrameError, VideoError) as error:
            outcome = ItemOutcome(refused=str(error))
        except Exception as error:  # noqa: BLE001 - the server logs it (INTERNAL)
            outcome = ItemOutcome(failed=f"{type(error).__name__}: {error}")
    return outcome, fitted if outcome == ItemOutcome() else []


def _text(message: str) -> bytes:
    data = message.encode("utf-8")
    return _U32.pack(len(data)) + data


def pack_reply(outcomes: Sequence[ItemOutcome], features: np.ndarray) -> bytes:
    """outcomes: per item; features: (rows, width) float32 of the encoded items' frames."""
    parts = [bytes([STATUS_OK])]
    for outcome in outcomes:
        if outcome.refused is not None:
            parts.append(bytes([_REFUSED]) + _text(outcome.refused))
        elif outcome.failed is not None:
            parts.append(bytes([_FAILED]) + _text(outcome.failed))
        else:
            parts.append(bytes([_ENCODED]))
    features = np.ascontiguousarray(features, np.float32)
    parts += [_U32.pack(len(features)), features.tobytes()]
    return b"".join(parts)


def pack_failure(message: str) -> bytes:
    return bytes([STATUS_FAILED]) + _text(message)


def read_reply(stream: BinaryIO, frame_counts: Sequence[int],
               width: int) -> list[np.ndarray | ItemOutcome]:
    """The reply to a request whose items had frame_counts frames: per item, its features
    (frames, width), or the ItemOutcome saying why it has none. BatchFailed if the whole
    batch failed in the worker."""
    if read_exactly(stream, 1)[0] == STATUS_FAILED:
        raise BatchFailed(f"the encoder worker failed on a batch: {read_text(stream)}")
    outcomes = []
    for _ in frame_counts:
        kind = read_exactly(stream, 1)[0]
        outcomes.append(ItemOutcome() if kind == _ENCODED else
                        ItemOutcome(refused=read_text(stream)) if kind == _REFUSED else
                        ItemOutcome(failed=read_text(stream)))
    rows = read_u32(stream)
    features = np.frombuffer(read_exactly(stream, rows * width * 4), np.float32)
    features = features.reshape(rows, width)
    results, row = [], 0
    for count, outcome in zip(frame_counts, outcomes, strict=True):
        if outcome == ItemOutcome():
            results.append(features[row:row + count])
            row += count
        else:
            results.append(outcome)
    if row != rows:
        raise RuntimeError(f"the encoder worker sent {rows} feature rows for {row} frames")
    return results


# -- the worker ------------------------------------------------------------------------------
def serve(bundle: str, max_pixels_per_frame: int, stdin: BinaryIO, stdout: BinaryIO,
          heads: bool = False) -> None:
    """Answer requests until stdin closes; with `heads`, gesture and caption batches too."""
    import cv2

    from framescribe.models.bundle.bundle_loader import load_litert_runtime

    cv2.setNumThreads(1)  # several workers already share the cores
    pipeline = None
    if heads:
        from framescribe.models.inference.pipeline import Pipeline

        pipeline = Pipeline.from_bundle(bundle, runtime="litert", threads=1)
        manifest, runtime = pipeline.manifest, pipeline.runtime
    else:
        manifest, runtime = load_litert_runtime(bundle, threads=1, roles=("encoder",))
    limits = FrameLimits(max_pixels_per_frame=max_pixels_per_frame)
    size = manifest.input_size

    def fit(data: memoryview, index: int) -> np.ndarray:
        return fit_frame(decode_image(pb.Image.FromString(data), limits, f"frame {index}"), size)

    stdout.write(READY + _U32.pack(runtime.feature_dim))
    stdout.flush()
    while True:
        try:
            count = read_u32(stdin)
            if count == HEADS_REQUEST:
                reply = _heads(pipeline, read_exactly(stdin, read_u32(stdin)))
                stdout.write(reply)
                stdout.flush()
                continue
            outcomes, images = [], []
            for _ in range(count):  # one item's bad frame never affects the others
                outcome, fitted = read_item(stdin, fit)
                outcomes.append(outcome)
                images += fitted
        except WorkerExited:
            return
        try:
            features = (runtime.encode(np.stack(images)) if images
                        else np.zeros((0, runtime.feature_dim), np.float32))
            reply = pack_reply(outcomes, features)
        except Exception as error:  # noqa: BLE001 - reported to the server, which logs it
            reply = pack_failure(f"{type(error).__name__}: {error}")
        stdout.write(reply)
        stdout.flush()


def _heads(pipeline, data: memoryview) -> bytes:
    """The reply to one heads request's pickled payload."""
    from .model_batches import caption_batch, gesture_step_batch

    if pipeline is None:
        return pack_failure("this worker was started without --heads")
    try:
        kind, items = pickle.loads(data)
        if kind == "gestures":
            results = gesture_step_batch(pipeline.runtime, items)
        elif kind == "captions":
            results = caption_batch(pipeline, items)
        else:
            raise ValueError(f"unknown kind of batch {kind!r}")
        results = pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # noqa: BLE001 - reported to the server, which logs it
        return pack_failure(f"{type(error).__name__}: {error}")
    return bytes([STATUS_OK]) + _U32.pack(len(results)) + results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", help="model bundle directory (with LiteRT files)")
    parser.add_argument("--max-pixels-per-frame", type=int, default=3840 * 2160,
                        help="largest image accepted, width * height")
    parser.add_argument("--niceness", type=int, default=0,
                        help="run this much nicer than the server (background workers: clips)")
    parser.add_argument("--heads", action="store_true",
                        help="also load the recurrent heads and answer gesture and caption "
                             "batches")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if args.niceness:
        nice_process(args.niceness)  # every thread; those started later inherit it
    try:
        serve(args.bundle, args.max_pixels_per_frame, sys.stdin.buffer, sys.stdout.buffer,
              args.heads)
    except Exception as error:  # noqa: BLE001 - one line for the server's log
        print(f"encoder worker: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
