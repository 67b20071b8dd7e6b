"""AnnotateClip's video files out of harm's way: demuxed and decoded in clip decode worker
processes, frame by frame under limits (server/clip_decoder.py, server/clip_decode_worker.py).

Against real servers on loopback (`framescribe serve` as a child process, so that its RSS is
its own) with the real Client; the media are made with ffmpeg:
- huge.avi: two flat MJPEG frames of 16384x16000 (the largest FFmpeg makes at 16384 wide;
  decoding one takes ~1.9 GB), padded to 32 MiB; declared.avi: a 64x64 MJPEG file whose AVI and
  JPEG headers are rewritten to declare 16384x16384 (FFmpeg refuses to decode that size at all);
- many.avi / many.mkv: 100,000 frames of 16x16 at 1000 fps (H.264; 3.4 and 1.5 MB); many.ts:
  the first 10,000 of them (1.9 MB). The AVI header counts them; OpenCV finds no count in the
  Matroska one and guesses 223 from the MPEG-TS one: only counting while decoding stops those.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path

import cv2
import grpc
import pytest
from grpc_health.v1 import health_pb2
from server_helpers import DEMO, ServeProcess, child_pids, health_status, need_tool, sample_video

from framescribe.plugin.client import Client, FramescribeError

MIB = 1 << 20
MESSAGE_BYTES = 40 * MIB  # room for a 32 MiB clip and its envelope
LITERT = ("--bundle", str(DEMO), "--runtime", "litert", "--encoder-processes", "1",
          "--max-message-bytes", str(MESSAGE_BYTES))
WORKER_MODULE = "framescribe.server.clip_decode_worker"
HANG_TIMEOUT_S = 2.0  # clip_decode_timeout_s of the server that meets crashes and hangs


# -- media -----------------------------------------------------------------------------------
def _ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *arguments], check=True,
                   timeout=120)


def _padded(path: Path, size: int) -> Path:
    with path.open("ab") as file:
        file.truncate(size)
    return path


def _declare_size(source: Path, out: Path, width: int, height: int) -> Path:
    """An MJPEG AVI with every header (avih, strh, strf, each JPEG's SOF0) declaring
    width x height."""
    data = bytearray(source.read_bytes())
    struct.pack_into("<II", data, data.index(b"avih") + 8 + 32, width, height)
    struct.pack_into("<hhhh", data, data.index(b"strh") + 8 + 48, 0, 0, min(width, 32767),
                     min(height, 32767))
    struct.pack_into("<ii", data, data.index(b"strf") + 8 + 4, width, height)
    start = 0
    while (sof := data.find(b"\xff\xc0", start)) >= 0:
        struct.pack_into(">HH", data, sof + 5, height, width)
        start = sof + 2
    out.write_bytes(data)
    return out


def _header_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    need_tool("ffmpeg")
    folder = tmp_path_factory.mktemp("clip-files")
    huge, small, tiny = folder / "huge.avi", folder / "small.avi", folder / "tiny.h264"
    _ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=16384x16000:r=2:d=1", "-c:v", "mjpeg",
            "-pix_fmt", "yuvj420p", "-threads", "1", str(huge))
    _ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=64x64:r=2:d=1", "-c:v", "mjpeg", str(small))
    _ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=16x16:r=1000:d=100", "-c:v", "libx264",
            "-preset", "ultrafast", "-threads", "1", "-g", "1000", "-f", "h264", str(tiny))
    for suffix in ("avi", "mkv"):
        _ffmpeg("-i", str(tiny), "-c", "copy", "-r", "1000", str(folder / f"many.{suffix}"))
    _ffmpeg("-i", str(tiny), "-c", "copy", "-r", "1000", "-frames:v", "10000",
            str(folder / "many.ts"))
    # 2 s of bikes.mp4 at 320 px: decodes well within the fragile server's HANG_TIMEOUT_S
    # on a busy machine, where the whole file (1280x720) once took longer.
    short = folder / "short.mp4"
    _ffmpeg("-i", str(sample_video()), "-t", "2", "-vf", "scale=320:-2", "-c:v", "libx264",
            "-preset", "ultrafast", "-threads", "1", "-an", str(short))
    assert _header_count(folder / "many.avi") == 100_000
    assert _header_count(folder / "many.mkv") <= 0  # none: OpenCV reports a negative number
    assert 0 < _header_count(folder / "many.ts") < 3000  # a guess, far too low
    return {"huge": _padded(huge, 32 * MIB),
            "declared": _padded(_declare_size(small, folder / "declared.avi", 16384, 16384),
                                32 * MIB),
            "many_avi": folder / "many.avi", "many_mkv": folder / "many.mkv",
            "many_ts": folder / "many.ts",
            "bikes": sample_video(), "short": short}


# -- servers and their processes -------------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    running = ServeProcess(*LITERT)
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="module")
def fragile_server():
    """Decodes up to 1,000,000 frames per clip, for at most HANG_TIMEOUT_S."""
    running = ServeProcess(*LITERT, "--max-frames-per-clip", "1000000",
                           "--clip-decode-timeout-s", str(HANG_TIMEOUT_S))
    yield running
    assert running.stop() == 0


def clip_workers(server: ServeProcess, timeout_s: float = 30) -> list[int]:
    """The server's clip decode worker pids (waiting for a replacement to start)."""
    deadline = time.monotonic() + timeout_s
    while True:
        pids = [pid for pid in child_pids(server.pid) if WORKER_MODULE in _cmdline(pid)]
        if pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


def settled_replacement(server: ServeProcess, replaced: int, timeout_s: float = 120) -> int:
    """The pid of a clip decode worker other than `replaced` once it has started: its CPU time
    unchanged for half a second (it waits for a job). A call's clip_decode_timeout_s covers
    waiting for a free worker, so a call made during a replacement's start-up can time out
    on a busy machine."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = [pid for pid in clip_workers(server, timeout_s=0) if pid != replaced]
        if not pids:
            time.sleep(0.05)
            continue
        try:
            before = _cpu_seconds(pids[0])
            time.sleep(0.5)
            if _cpu_seconds(pids[0]) == before:
                return pids[0]
        except OSError:  # it exited meanwhile
            continue
    log = "".join(server.lines[-20:])
    raise AssertionError(f"no clip decode worker replaced {replaced} within {timeout_s} s; "
                         f"workers now {clip_workers(server, timeout_s=0)}; the server's log "
                         f"ends:\n{log}")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def status_mib(pid: int, field: str) -> float:
    """A /proc/PID/status memory field (VmRSS, VmHWM, ...) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


class PeakRss:
    """Samples a process's VmRSS every 10 ms while in use; `peak` in MiB."""

    def __init__(self, pid: int):
        self.pid, self.peak = pid, 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, status_mib(self.pid, "VmRSS"))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


def annotate(server: ServeProcess, path: Path, **client_options):
    with Client(server.address, max_message_bytes=MESSAGE_BYTES, retries=0,
                **client_options) as client:
        return client.annotate_clip(video_file=path)


def refusal(server: ServeProcess, path: Path, **client_options) -> tuple[FramescribeError,
                                                                          float]:
    start = time.monotonic()
    with pytest.raises(FramescribeError) as caught:
        annotate(server, path, **client_options)
    return caught.value, time.monotonic() - start


def serving(server: ServeProcess) -> bool:
    with grpc.insecure_channel(server.address) as channel:
        return health_status(channel) == health_pb2.HealthCheckResponse.SERVING


def events(result) -> list:
    return [*result.captions, *result.gestures]


# -- tests -----------------------------------------------------------------------------------
def test_a_normal_clip_is_decoded_in_a_worker_without_tensorflow(server, clips):
    result = annotate(server, clips["bikes"])
    assert result.frames_used == 100 and result.duration == pytest.approx(10.02)  # 9.92 + 0.1 s
    assert result.captions and events(annotate(server, clips["bikes"])) == events(result)
    (worker,) = clip_workers(server)
    libraries = Path(f"/proc/{worker}/maps").read_text().lower()
    for heavy in ("tensorflow", "tflite", "litert", "arrow"):
        assert heavy not in libraries, f"the clip decode worker maps {heavy}"


def test_a_huge_frame_size_is_refused_from_the_header(server, clips):
    """Nothing is decoded: the worker's peak RSS stays far below one decoded frame (~786 MB
    as RGB), and the refusal comes back at once."""
    for name, expected in (("huge", "the stream header declares frames of 16384x16000"),
                           ("declared", "no frames could be decoded")):
        assert clips[name].stat().st_size == 32 * MIB
        error, seconds = refusal(server, clips[name])
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error
        assert expected in error.details, error
        (worker,) = clip_workers(server)
        peak = status_mib(worker, "VmHWM")
        print(f"{name}: refused in {seconds:.2f} s, worker peak RSS {peak:.0f} MiB")
        assert peak < 200 and seconds < 10
    assert serving(server)


def test_frames_past_the_cap_are_refused_without_growing_the_server(server, clips):
    """The server's RSS grows by the request's copies (gRPC's, the message's, the bytes'),
    never by decoded frames."""
    annotate(server, clips["bikes"])  # warm: the server's steady RSS
    error, seconds = refusal(server, clips["many_avi"])
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert "header declares 100000 frames; the limit is 3000" in error.details, error
    print(f"many.avi: refused from the header in {seconds:.2f} s")
    for name in ("many_mkv", "many_ts"):
        baseline = status_mib(server.pid, "VmRSS")
        with PeakRss(server.pid) as rss:
            error, seconds = refusal(server, clips[name])
        assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED, error
        assert "more than 3000 frames" in error.details, error
        assert "max_frames_per_clip" in error.details, error
        print(f"{name}: stopped at the cap in {seconds:.2f} s; server RSS {baseline:.0f} MiB, "
              f"peak {rss.peak:.0f} MiB (+{rss.peak - baseline:.1f})")
        assert rss.peak - baseline < 100
    assert serving(server)


@pytest.mark.parametrize("crash", [signal.SIGSEGV, signal.SIGKILL])
def test_a_crashing_decoder_fails_only_its_call(fragile_server, clips, crash):
    expected = events(annotate(fragile_server, clips["short"]))
    (worker,) = clip_workers(fragile_server)
    idle_cpu = _cpu_seconds(worker)
    outcome: dict = {}

    def refused() -> None:
        outcome["error"], _ = refusal(fragile_server, clips["many_mkv"])

    call = threading.Thread(target=refused)
    call.start()
    # Decoding (100,000 frames take ~9 s). The worker is niced: on a busy machine it may get
    # a tenth of a core, so 0.05 s of CPU is what it surely uses within HANG_TIMEOUT_S.
    _wait_for_cpu(worker, idle_cpu + 0.05)
    os.kill(worker, crash)
    call.join(60)
    error = outcome["error"]
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error
    assert f"the decoder crashed (killed by signal {crash.name})" in error.details, error
    assert serving(fragile_server)
    settled_replacement(fragile_server, worker)  # its start-up would count against the limit
    assert events(annotate(fragile_server, clips["short"])) == expected
    assert worker not in clip_workers(fragile_server)


def test_a_hanging_decoder_is_stopped_and_replaced(fragile_server, clips):
    expected = events(annotate(fragile_server, clips["short"]))
    (worker,) = clip_workers(fragile_server)
    os.kill(worker, signal.SIGSTOP)  # hangs: it never answers
    error, seconds = refusal(fragile_server, clips["short"])
    assert error.code == grpc.StatusCode.DEADLINE_EXCEEDED, error
    assert "clip_decode_timeout_s" in error.details, error
    assert HANG_TIMEOUT_S <= seconds < HANG_TIMEOUT_S + 5
    # A file that takes longer than the limit, and one that takes longer than the deadline.
    error, seconds = refusal(fragile_server, clips["many_mkv"])
    assert error.code == grpc.StatusCode.DEADLINE_EXCEEDED, error
    assert HANG_TIMEOUT_S <= seconds < HANG_TIMEOUT_S + 5
    error, seconds = refusal(fragile_server, clips["many_mkv"], timeout=1.0)
    assert error.code == grpc.StatusCode.DEADLINE_EXCEEDED, error
    assert seconds < 5
    assert serving(fragile_server)
    settled_replacement(fragile_server, worker)
    assert events(annotate(fragile_server, clips["short"])) == expected
    assert worker not in clip_workers(fragile_server)


def _cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for_cpu(pid: int, seconds: float, timeout_s: float = 30) -> None:
    """Until the process has used `seconds` of CPU time in all."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _cpu_seconds(pid) >= seconds:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not start decoding")
