"""A clip decode worker process: AnnotateClip's video files are demuxed and decoded here, never
in the server process, so a file that crashes, hangs or floods the decoder costs one call.

    python -m framescribe.server.clip_decode_worker --frame-rate 10 --size 64 ...

The server (ClipDecoder, clip_decoder.py) starts `clip_decode_processes` of these. For each job
(a video file the server wrote to a temporary path) the worker runs the one decode -> sample ->
fit path (`open_source`, `fitted_chunks` of framescribe.models.video, as the pipeline and the
client do) frame by frame, with the server's limits:
- the stream header's frame size against max_pixels_per_frame and max_side, right after the
  file is opened and before the first frame is decoded (nothing is decoded for an oversize clip);
- the header's frame count against max_frames_per_clip, up front; then the frames actually
  decoded (before sampling), since headers lie: decoding stops at the limit;
- each decoded frame's size again (a header can understate it);
- memory: RLIMIT_AS (a second line of defence), and at most AHEAD chunks sent and not yet
  acknowledged by the server (the worker waits for an ack before running further ahead).
It imports only OpenCV, numpy, framescribe.models.video and process_niceness.

Protocol on stdin/stdout (little-endian; u32 = unsigned 32-bit):
- Startup: the worker writes READY.
- Job (server -> worker): u32 length and the UTF-8 path of the file.
- Replies (worker -> server), per job: CHUNK messages, then END or FAIL.
  CHUNK: b"C", u32 n, n float64 times (seconds), n * size * size * 3 uint8 (RGB frames).
  END: b"E". FAIL: b"F", u8 status (INVALID, TOO_MANY, FAILED: a bug, for the server's
  log), u32 length, a UTF-8 message.
- Ack (server -> worker): one byte per CHUNK, once the server has taken it. After END or FAIL
  the worker reads the acks still owed before it reads the next job.
The worker exits when stdin closes. It ignores SIGINT (Ctrl-C reaches the whole process group;
the server closes its workers itself).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import cv2
import numpy as np

from framescribe.models.video import TimedFrame, VideoError, fitted_chunks, open_source

from .process_niceness import nice_process

READY = b"READY"
CHUNK, END, FAIL = b"C", b"E", b"F"
INVALID, TOO_MANY, FAILED = 0, 1, 2  # FAIL: INVALID_ARGUMENT, RESOURCE_EXHAUSTED, INTERNAL
AHEAD = 2  # chunks sent and not yet acknowledged, at most
U32 = struct.Struct("<I")


class Refused(Exception):
    """The file breaks a limit or cannot be decoded: a FAIL status and a message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ClipLimits:
    """What one job is held to, and the shape of its output."""

    frame_rate: float  # frames per second kept (the model's)
    size: int  # fitted frames are (size, size, 3)
    chunk_frames: int  # sampled frames per CHUNK
    max_pixels_per_frame: int
    max_side: int
    max_frames: int  # frames decoded (before sampling)


def check_frame_size(width: int, height: int, limits: ClipLimits, what: str) -> None:
    """Refused (INVALID) unless each side is 1-max_side and width * height is within the
    pixel limit; as frame images are refused."""
    if not (1 <= width <= limits.max_side and 1 <= height <= limits.max_side):
        raise Refused(INVALID, f"video_file: {what} {width}x{height}, out of range; width and "
                               f"height must be 1-{limits.max_side} pixels")
    if width * height > limits.max_pixels_per_frame:
        raise Refused(INVALID, f"video_file: {what} {width}x{height}, {width * height} pixels; "
                               f"at most {limits.max_pixels_per_frame} are allowed per frame "
                               "(max_pixels_per_frame)")


def counted(frames: Iterable[TimedFrame], limits: ClipLimits) -> Iterator[TimedFrame]:
    """The frames as decoded, refused once there are more than max_frames or one is too big."""
    for number, frame in enumerate(frames, 1):
        if number > limits.max_frames:
            raise Refused(TOO_MANY, f"video_file has more than {limits.max_frames} frames "
                                    "(decoding stopped at max_frames_per_clip); send a stream "
                                    "instead")
        height, width = frame.image.shape[:2]
        check_frame_size(width, height, limits, "decoded a frame of")
        yield frame


def decode(path: str, limits: ClipLimits) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The file's sampled, fitted chunks: (times (n,), frames (n, size, size, 3)); Refused for a
    file over a limit or one that cannot be read."""
    try:
        with open_source(path) as source:
            capture = source.capture  # a file is always a CaptureSource
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            if width > 0 or height > 0:  # 0x0: the decoder refused the declared size
                check_frame_size(width, height, limits, "the stream header declares frames of")
            if source.frame_count is not None and source.frame_count > limits.max_frames:
                raise Refused(TOO_MANY, f"video_file: the stream header declares "
                                        f"{source.frame_count} frames; the limit is "
                                        f"{limits.max_frames} (max_frames_per_clip); send a "
                                        "stream instead")
            yield from fitted_chunks(counted(source, limits), limits.frame_rate, limits.size,
                                     limits.chunk_frames)
    except VideoError as error:
        text = str(error).replace(f"video file {path}", path).replace(f"{path}: ", "")
        text = text.replace(path, "the file")
        raise Refused(INVALID, f"video_file: {text}") from None
    except MemoryError:
        raise Refused(INVALID, "the video file could not be decoded: it needs more memory than "
                               "the decoder may use") from None
    except cv2.error as error:
        raise Refused(INVALID, "the video file could not be decoded: OpenCV: "
                               f"{' '.join(str(error).split())[-300:]}") from None


def run_job(path: str, limits: ClipLimits, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Decode one file, sending its chunks as the server takes them, then END or FAIL."""
    unacked = sent = 0
    try:
        for times, frames in decode(path, limits):
            if unacked >= AHEAD:
                read_exactly(stdin, 1)
                unacked -= 1
            stdout.write(CHUNK + U32.pack(len(times)))
            stdout.write(np.ascontiguousarray(times, "<f8").tobytes())
            stdout.write(np.ascontiguousarray(frames, np.uint8).data)
            stdout.flush()
            unacked += 1
            sent += 1
        if not sent:
            raise Refused(INVALID, "video_file has no frames OpenCV can read")
        stdout.write(END)
    except EOFError:
        raise
    except Refused as refused:
        write_failure(stdout, refused.status, str(refused))
    except Exception as error:  # noqa: BLE001 - a bug: the server logs it, the worker goes on
        write_failure(stdout, FAILED, f"{type(error).__name__}: {error}")
    stdout.flush()
    read_exactly(stdin, unacked)


def write_failure(stdout: BinaryIO, status: int, message: str) -> None:
    data = message.encode()[:4096]
    stdout.write(FAIL + bytes([status]) + U32.pack(len(data)) + data)


def read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the server closed the pipe")
    return data


def serve(limits: ClipLimits, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Jobs until stdin closes."""
    stdout.write(READY)
    stdout.flush()
    while True:
        try:
            (length,) = U32.unpack(read_exactly(stdin, U32.size))
            run_job(read_exactly(stdin, length).decode(), limits, stdin, stdout)
        except EOFError:
            return

BACKGROUND_NICENESS = 10  # as the server's caption thread (serving_model.CAPTION_NICENESS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frame-rate", type=float, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--chunk-frames", type=int, required=True)
    parser.add_argument("--max-pixels-per-frame", type=int, required=True)
    parser.add_argument("--max-side", type=int, required=True)
    parser.add_argument("--max-frames", type=int, required=True)
    parser.add_argument("--memory-limit-mib", type=int, default=0, help="RLIMIT_AS; 0: none")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    nice_process(BACKGROUND_NICENESS)  # clip work yields the CPU to the server's live streams
    cv2.setNumThreads(1)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")
    if args.memory_limit_mib:
        limit = args.memory_limit_mib << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    limits = ClipLimits(args.frame_rate, args.size, args.chunk_frames,
                        args.max_pixels_per_frame, args.max_side, args.max_frames)
    try:
        serve(limits, sys.stdin.buffer, sys.stdout.buffer)
    except BrokenPipeError:
        return 0  # the server went away
    except Exception as error:  # noqa: BLE001 - one line for the server's log
        print(f"clip decode worker: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
