"""A landmark bundle takes video at every entry point, with one answer.

The shipped air-writing bundle (models/bundles/airwriting: MediaPipe hands -> the index
fingertip's track -> an LSTM) on one continuous clip of the airwriting-real set (a real hand
photo writing LASA shapes over real video, models/data/airwriting_real.py). The same events,
to the millisecond and confidences within 1e-4, from:
- `framescribe annotate` (the models in process: the core's landmark stage),
- `framescribe caption --server` sending the video's frames (the server extracts landmarks),
- `framescribe caption --server --local-landmarks` (the client extracts them and sends only
  landmarks: no pixels leave it),
- `framescribe batch` (local engine).
Each is a real command against a real server on loopback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_one_answer import differences, framescribe, read_json_events

from framescribe.plugin.local_server import LocalServer

ROOT = Path(__file__).resolve().parents[1]
AIRWRITING = ROOT / "models" / "bundles" / "airwriting"
LITERT = ["--bundle", str(AIRWRITING), "--runtime", "litert"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip() -> tuple[Path, object]:
    from framescribe.models.data.airwriting_real_cache import cached_clips

    [(path, truth)] = cached_clips("continuous", limit=1)
    return path, truth


@pytest.fixture(scope="module")
def server():
    with LocalServer(LITERT) as running:
        yield running


def _events(tmp_path: Path, name: str, *args: str) -> list:
    out = tmp_path / f"{name}.json"
    done = framescribe(*args, "-o", out, "-q")
    assert done.returncode == 0, f"{name}: {done.stderr[-800:]}"
    return read_json_events(out)


def test_every_entry_point_gives_the_same_events(clip, server, tmp_path):
    path, truth = clip
    expected = _events(tmp_path, "annotate", "annotate", path, *LITERT)
    assert [e.name for e in expected], "the bundle found no shape in the clip"
    runs = {
        "caption --server (video)": _events(tmp_path, "server-video", "caption", path,
                                            "--server", server.address),
        "caption --server --local-landmarks": _events(
            tmp_path, "server-landmarks", "caption", path, "--server", server.address,
            "--local-landmarks"),
    }
    batch_out = tmp_path / "batch"
    done = framescribe("batch", path, "-o", batch_out, *LITERT, "--format", "json", "-q")
    assert done.returncode == 0, done.stderr[-800:]
    [output] = list(batch_out.rglob("*.json"))
    runs["batch"] = read_json_events(output)
    for name, got in runs.items():
        assert differences(expected, got, lossless=True, what=name) == "", name


def test_local_landmarks_needs_a_landmark_bundle(tmp_path):
    """--local-landmarks against an image bundle: one line, exit 1, nothing written."""
    from fixtures.hostile_videos import bikes_path

    demo = ["--bundle", str(ROOT / "models" / "bundles" / "demo"), "--runtime", "litert"]
    with LocalServer(demo) as running:
        out = tmp_path / "x.json"
        done = framescribe("caption", bikes_path(), "--server", running.address,
                           "--local-landmarks", "-o", out, "-q")
    assert done.returncode == 1 and not out.exists()
    assert "reads images, not landmarks" in done.stderr
    assert len([line for line in done.stderr.splitlines() if line.strip()]) == 1
