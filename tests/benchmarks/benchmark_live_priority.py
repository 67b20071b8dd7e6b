"""Live streams first: a stream's interim-label latency alone, and while a big clip runs.

    PYTHONPATH=tests python -m benchmarks.benchmark_live_priority [--json reports/bench.json]

One `framescribe serve --runtime litert` (the demo bundle, default options). A live stream
sends JPEG frames paced at the bundle's frame rate with interim results on; each frame's
latency is from its send to the arrival of its interim label. Measured twice, in alternation:
alone, and while AnnotateClip calls of 3,000 frames at beam 16 (captions and gestures) run
back to back beside it from another client process (as
another app would call them). Reports p50/p99 of both and their ratio (the issue's target: with the
clip, p99 at most 1.5x alone). Writes the result under "live_priority" in the JSON file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from pathlib import Path

import grpc
import numpy as np

from framescribe.plugin.local_server import LocalServer
from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc

from .benchmark_server import encode_jpegs, lasa_frames

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "bundles" / "demo"
CLIP_FRAMES = 3000
CLIP_BEAM = 16
TARGET_RATIO = 1.5


def frame(index: int, period_ms: int, data: bytes) -> pb.Frame:
    return pb.Frame(timestamp_ms=index * period_ms,
                    image=pb.Image(format=pb.IMAGE_FORMAT_JPEG, data=data))


async def live_stream(stub, jpegs: list[bytes], frames: int, period_ms: int) -> np.ndarray:
    """Per-frame seconds from send to interim label, for `frames` frames paced in real time."""
    sent = np.full(frames, np.nan)
    received = np.full(frames, np.nan)

    async def requests():
        yield pb.StreamAnnotateRequest(config=pb.StreamConfig(
            tasks=[pb.TASK_GESTURES], gesture_options=pb.GestureOptions(interim_results=True)))
        start = time.perf_counter()
        for i in range(frames):
            await asyncio.sleep(max(0.0, start + i * period_ms / 1000 - time.perf_counter()))
            sent[i] = time.perf_counter()
            yield pb.StreamAnnotateRequest(frame=frame(i, period_ms, jpegs[i % len(jpegs)]))

    async for response in stub.StreamAnnotate(requests(), timeout=600):
        if response.WhichOneof("event") == "interim_gesture":
            index = round(response.interim_gesture.timestamp_ms / period_ms)
            received[index] = time.perf_counter()
    if np.isnan(received).any():
        raise RuntimeError("some frames got no interim label")
    return received - sent


def clip_caller(address: str, period_ms: int, stop, took) -> None:
    """A separate client process (as a clip caller is another app): AnnotateClip calls of
    CLIP_FRAMES frames at beam CLIP_BEAM, back to back until `stop` is set; puts the list of
    seconds each took on `took`. Its own process, so building and parsing its 3.8 MB messages
    never stalls the measured stream's client."""
    jpegs = encode_jpegs(lasa_frames(256, 64))
    request = pb.AnnotateClipRequest(
        caption_options=pb.CaptionOptions(beam_size=CLIP_BEAM),
        frames=pb.FrameList(frames=[frame(i, period_ms, jpegs[i % len(jpegs)])
                                    for i in range(CLIP_FRAMES)]))
    seconds = []
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.FrameScribeServiceStub(channel)
        started = time.perf_counter()
        while not stop.is_set():
            stub.AnnotateClip(request, timeout=600)
            seconds.append(time.perf_counter() - started)
            started = time.perf_counter()
    took.put(seconds)


async def beside_clips(stub, address: str, jpegs: list[bytes], frames: int,
                       period_ms: int) -> tuple[np.ndarray, list[float]]:
    """The live stream's latencies while a clip caller process runs, and its clips' seconds."""
    context = multiprocessing.get_context("spawn")
    stop, took = context.Event(), context.Queue()
    caller = context.Process(target=clip_caller, args=(address, period_ms, stop, took))
    caller.start()
    try:
        await asyncio.sleep(3.0)  # started, and its first clip is decoding and encoding
        latencies = await live_stream(stub, jpegs, frames, period_ms)
    finally:
        stop.set()
    seconds = await asyncio.to_thread(took.get, True, 600)
    await asyncio.to_thread(caller.join)
    return latencies, seconds


async def measure(address: str, seconds: float, rounds: int) -> dict:
    jpegs = encode_jpegs(lasa_frames(256, 64))
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.FrameScribeServiceStub(channel)
        info = await stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=60)
        period_ms = round(1000 / info.frame_rate)
        frames = max(50, int(seconds * info.frame_rate))
        await live_stream(stub, jpegs, 20, period_ms)  # warm up
        alone, beside, clip_seconds = [], [], []
        for _ in range(rounds):
            alone.append(await live_stream(stub, jpegs, frames, period_ms))
            latencies, seconds = await beside_clips(stub, address, jpegs, frames, period_ms)
            beside.append(latencies)
            clip_seconds += seconds
    return summary(np.concatenate(alone), np.concatenate(beside), clip_seconds, frames,
                   rounds, info.frame_rate)


def summary(alone: np.ndarray, beside: np.ndarray, clip_seconds: list[float], frames: int,
            rounds: int, rate: float) -> dict:
    def stats(latencies: np.ndarray) -> dict:
        ms = latencies * 1e3
        return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
                "p99_ms": round(float(np.percentile(ms, 99)), 2),
                "max_ms": round(float(ms.max()), 2)}

    alone_stats, beside_stats = stats(alone), stats(beside)
    ratio = beside_stats["p99_ms"] / alone_stats["p99_ms"]
    return {"stream_frames": frames, "rounds": rounds, "frame_rate": rate,
            "clip_frames": CLIP_FRAMES, "clip_beam": CLIP_BEAM,
            "clip_seconds": [round(s, 2) for s in clip_seconds],
            "alone": alone_stats, "with_clip": beside_stats,
            "p99_ratio": round(ratio, 3), "target_ratio": TARGET_RATIO,
            "meets_target": ratio <= TARGET_RATIO}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="length of each measured stream (default 30)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alone/with-clip pairs, alternated (default 2)")
    parser.add_argument("--json", metavar="PATH", help="write under 'live_priority' here")
    parser.add_argument("--serve-flags", default="",
                        help="more `framescribe serve` flags, e.g. '--litert-threads 1'")
    args = parser.parse_args(argv)
    flags = ["--bundle", str(DEMO), "--runtime", "litert", *args.serve_flags.split()]
    with LocalServer(flags) as server:
        result = asyncio.run(measure(server.address, args.seconds, args.rounds))
    result["server_flags"] = flags[2:]
    print(f"live stream interim latency, {result['stream_frames']} frames x {args.rounds}: "
          f"alone p50 {result['alone']['p50_ms']} ms, p99 {result['alone']['p99_ms']} ms; "
          f"beside {CLIP_FRAMES}-frame beam-{CLIP_BEAM} AnnotateClips p50 "
          f"{result['with_clip']['p50_ms']} ms, p99 {result['with_clip']['p99_ms']} ms; "
          f"p99 ratio {result['p99_ratio']} (target <= {TARGET_RATIO}); clips took "
          f"{result['clip_seconds']} s")
    if args.json:
        from framescribe.plugin.atomic_files import update_json_key

        update_json_key(args.json, "live_priority", result)
    else:
        json.dump(result, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
