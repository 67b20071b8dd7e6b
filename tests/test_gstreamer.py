"""The GStreamer element `framescribe` in real gst-launch-1.0 pipelines against a real server.

Needs gst-launch-1.0 with the Python plugin loader (Debian: gstreamer1.0-tools,
gstreamer1.0-plugins-base, -good, -libav, gstreamer1.0-python3-plugin-loader, python3-gst-1.0;
textoverlay is in gstreamer1.0-x). Skipped without them, except under CI, where they must exist.
`make gst-plugin` (run once here) builds the element's venv, .gst-venv.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from server_helpers import sample_video

from framescribe.plugin.local_server import LocalServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "bundles" / "demo"
AIRWRITING_LITERT = ["--bundle", str(ROOT / "models" / "bundles" / "airwriting"), "--runtime",
                     "litert"]
PLUGIN_PATH = ROOT / "plugin" / "gstreamer"
GST_PYTHON = ROOT / ".gst-venv" / "bin" / "python"
LITERT = ["--bundle", str(DEMO), "--runtime", "litert"]
DECODE = "filesrc location={video} ! decodebin ! videoconvert ! video/x-raw,format=RGB"


def _missing() -> str:
    """What this machine lacks for these tests ("" when nothing)."""
    for tool in ("gst-launch-1.0", "gst-inspect-1.0"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: gstreamer1.0-tools)"
    if subprocess.run(["gst-inspect-1.0", "python"], capture_output=True).returncode != 0:
        return "GStreamer's Python plugin loader is not installed " \
               "(Debian: gstreamer1.0-python3-plugin-loader python3-gst-1.0)"
    if subprocess.run(["gst-inspect-1.0", "avdec_h264"], capture_output=True).returncode != 0:
        return "no H.264 decoder for the test video (Debian: gstreamer1.0-libav)"
    if shutil.which("make") is None:
        return "make is not installed"
    return ""


@pytest.fixture(scope="session")
def gst_env(tmp_path_factory):
    """The environment gst-launch-1.0 needs to find the element (after `make gst-plugin`)."""
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must be able to run the GStreamer element: {missing}")
        pytest.skip(missing)
    built = subprocess.run(["make", "gst-plugin"], cwd=ROOT, capture_output=True, text=True,
                           timeout=900)
    assert built.returncode == 0, built.stdout + built.stderr
    assert f"GST_PLUGIN_PATH={PLUGIN_PATH}" in built.stdout, built.stdout
    env = {key: value for key, value in os.environ.items() if key != "FRAMESCRIBE_TOKEN"}
    # A private registry: scanned afresh once, so an older scan of the element cannot linger.
    registry = tmp_path_factory.mktemp("gst") / "registry.bin"
    return {**env, "GST_PLUGIN_PATH": str(PLUGIN_PATH), "GST_REGISTRY_1_0": str(registry)}


@pytest.fixture(scope="module")
def server():
    with LocalServer(LITERT) as running:
        yield running


@pytest.fixture(scope="session")
def video() -> Path:
    return sample_video()


def gst_launch(pipeline: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    """gst-launch-1.0 -m (element messages printed) with `pipeline`; stdout and stderr merged."""
    return subprocess.run(["gst-launch-1.0", "-m", *pipeline.split()], env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _field(structure: str, name: str) -> str:
    match = re.search(rf'\b{name}=\([a-z0-9]+\)("(?:[^"\\]|\\.)*"|[^,;]*)', structure)
    assert match, f"no {name} in {structure}"
    value = match.group(1)
    if value.startswith('"'):
        value = value[1:-1]
    return re.sub(r"\\(.)", r"\1", value)


def bus_events(output: str, kind: str) -> list[dict]:
    """The `framescribe` element messages of one kind that gst-launch-1.0 -m printed."""
    events = []
    for line in output.splitlines():
        found = re.search(r'\(element\): (framescribe, .*)$', line)
        if found and _field(found.group(1), "kind") == kind:
            events.append(found.group(1))
    return events


def captions_from_bus(output: str) -> list[tuple[int, int, str]]:
    """(start ms, end ms, text) of every caption message."""
    return [(int(_field(s, "start")) // 1_000_000, int(_field(s, "end")) // 1_000_000,
             _field(s, "text")) for s in bus_events(output, "caption")]


def reference_captions(video: Path, server: LocalServer, env: dict, work: Path) -> list[tuple]:
    """What the client gets for the same decoded frames (GStreamer's, timed by the one clock
    as the element times them, sent losslessly as the element sends them)."""
    import numpy as np

    from framescribe.models.video import FrameClock
    from framescribe.plugin.client import Caption, Client
    from framescribe.plugin.client_requests import fitted_lossless

    out = work / "reference-frames.npz"
    done = subprocess.run([str(GST_PYTHON), str(ROOT / "tests" / "fixtures" / "gst_decode.py"),
                           str(video), str(out)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    decoded = np.load(out)
    clock = FrameClock(float(decoded["period"]), reorder=0)
    frames = [timed for raw, image in zip(decoded["times"], decoded["frames"], strict=True)
              for timed in clock.push(float(raw), image)]
    with Client(server.address) as client:
        info = client.model_info()
        captions = [e for e in client.stream(fitted_lossless(frames, info))
                    if isinstance(e, Caption)]
    return [(round(c.start * 1000), round(c.end * 1000), c.text) for c in captions]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_gst_inspect_lists_the_pads_and_properties(gst_env):
    done = subprocess.run(["gst-inspect-1.0", "framescribe"], env=gst_env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("server", "tasks", "token", "tls", "ca-file", "interim", "max-delay",
                 "local-landmarks", "text_src", "text/x-raw", "video/x-raw"):
        assert name in done.stdout, name


def test_captions_in_a_pipeline_match_the_client_and_video_passes_through(
        gst_env, server, video, tmp_path):
    text, out_video = tmp_path / "captions.txt", tmp_path / "out.rgb"
    ref_video = tmp_path / "ref.rgb"
    done = gst_launch(f"{DECODE.format(video=video)} ! framescribe server={server.address} "
                      f"name=fs ! filesink location={out_video} "
                      f"fs.text_src ! filesink location={text}", gst_env)
    assert done.returncode == 0, done.stdout
    captions = captions_from_bus(done.stdout)
    assert captions, done.stdout
    assert all(c[2].startswith("digit ") and " is " in c[2] for c in captions), captions
    # The text pad carries the same captions, in order (one buffer each, no separator).
    assert text.read_text() == "".join(c[2] for c in captions)
    # Exactly what the client SDK gets for the same frames: texts and times.
    assert captions == reference_captions(video, server, gst_env, tmp_path)
    # Gesture events (the demo bundle has both tasks) come on the bus too.
    assert bus_events(done.stdout, "gesture")
    # The video is passed through unchanged.
    plain = gst_launch(f"{DECODE.format(video=video)} ! filesink location={ref_video}", gst_env)
    assert plain.returncode == 0, plain.stdout
    assert out_video.stat().st_size == ref_video.stat().st_size > 0
    assert sha256(out_video) == sha256(ref_video)


@pytest.mark.parametrize("options", ["", "max-delay=0", "tasks=gestures"])
def test_textoverlay_pipelines_run_to_the_end(gst_env, server, video, options):
    if subprocess.run(["gst-inspect-1.0", "textoverlay"], env=gst_env,
                      capture_output=True).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("CI must have textoverlay (Debian: gstreamer1.0-x)")
        pytest.skip("textoverlay is not installed (Debian: gstreamer1.0-x)")
    done = gst_launch(f"{DECODE.format(video=video)} ! framescribe server={server.address} "
                      f"{options} name=fs ! textoverlay name=overlay ! fakesink "
                      f"fs.text_src ! overlay.text_sink", gst_env, timeout=30)
    assert done.returncode == 0, done.stdout
    assert "Got EOS" in done.stdout
    assert bool(bus_events(done.stdout, "caption")) == (options != "tasks=gestures")


def test_an_unreachable_server_fails_the_pipeline_with_a_clear_error(gst_env, video, tmp_path):
    address = f"127.0.0.1:{free_port()}"
    done = gst_launch(f"{DECODE.format(video=video)} ! framescribe server={address} name=fs "
                      f"! fakesink fs.text_src ! filesink location={tmp_path / 'out.txt'}",
                      gst_env)
    assert done.returncode != 0
    errors = [line for line in done.stdout.splitlines() if line.startswith("ERROR: from element")]
    assert errors and ":fs: " in errors[0], done.stdout  # from the element, not the decoder
    assert f"framescribe server {address}: UNAVAILABLE" in errors[0], errors


def test_the_token_property_is_sent(gst_env, video, tmp_path):
    with LocalServer(LITERT, env={"FRAMESCRIBE_TOKEN": "s3cret",
                                  "FRAMESCRIBE_ALLOW_PLAINTEXT_TOKEN": "1"}) as guarded:
        pipeline = (f"{DECODE.format(video=video)} ! framescribe server={guarded.address} "
                    "name=fs {token} ! fakesink fs.text_src ! fakesink")
        refused = gst_launch(pipeline.format(token=""), gst_env)
        accepted = gst_launch(pipeline.format(token="token=s3cret"), gst_env)
    assert refused.returncode != 0
    assert "UNAUTHENTICATED" in refused.stdout, refused.stdout
    assert accepted.returncode == 0, accepted.stdout
    assert captions_from_bus(accepted.stdout)


# -- local-landmarks: MediaPipe runs in the element, only landmarks go to the server -----------
@pytest.fixture(scope="module")
def airwriting_clip() -> Path:
    """test_landmark_entry_points' clip: the first continuous airwriting-real clip, a lossless
    FFV1 .avi (GStreamer's decoder gives the very frames OpenCV's does)."""
    from framescribe.models.data.airwriting_real_cache import cached_clips

    [(path, _)] = cached_clips("continuous", limit=1)
    return path


@pytest.fixture(scope="module")
def no_pixels_server():
    """The air-writing bundle behind a server that refuses any image over one pixel: only
    landmarks get through."""
    with LocalServer([*AIRWRITING_LITERT, "--max-pixels-per-frame", "1"]) as running:
        yield running


def _element_errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("ERROR: from element")]


def test_local_landmarks_give_the_pipelines_gesture_events(gst_env, airwriting_clip,
                                                           no_pixels_server, tmp_path):
    """The air-writing bundle through the element with local-landmarks=true: the same gesture
    events as Pipeline.annotate in process (`framescribe annotate`), to the ms, confidences
    within 1e-4; against a server that refuses any image bigger than one pixel, so only
    landmarks reached it (without the property the same pipeline fails there)."""
    # Imported here: test_one_answer imports this module (its gst_env fixture).
    from test_one_answer import (
        bus_records,
        differences,
        framescribe,
        from_records,
        read_json_events,
    )

    out = tmp_path / "annotate.json"
    done = framescribe("annotate", airwriting_clip, *AIRWRITING_LITERT, "-o", out, "-q")
    assert done.returncode == 0, done.stderr[-800:]
    expected = read_json_events(out)
    assert expected, "the bundle found no shape in the clip"
    pipeline = (f"{DECODE.format(video=airwriting_clip)} ! framescribe "
                f"server={no_pixels_server.address} {{option}} name=fs "
                "! fakesink fs.text_src ! fakesink")
    local = gst_launch(pipeline.format(option="local-landmarks=true"), gst_env, timeout=120)
    frames = gst_launch(pipeline.format(option=""), gst_env)
    assert local.returncode == 0, local.stdout[-3000:]
    got = from_records(bus_records(local.stdout))
    assert differences(expected, got, lossless=True, what="element, local-landmarks") == ""
    # The same pipeline sending frames: the server refuses the first one.
    assert frames.returncode != 0 and _element_errors(frames.stdout), frames.stdout[-3000:]
    assert "allowed per frame" in _element_errors(frames.stdout)[0], frames.stdout[-3000:]


def test_local_landmarks_with_an_image_bundle_fail_with_a_clear_error(gst_env, server, video):
    """local-landmarks=true against the demo bundle (it reads images): the CLI's words."""
    done = gst_launch(f"{DECODE.format(video=video)} ! framescribe server={server.address} "
                      "local-landmarks=true name=fs ! fakesink fs.text_src ! fakesink", gst_env)
    assert done.returncode != 0
    errors = _element_errors(done.stdout)
    assert errors and ":fs: " in errors[0], done.stdout  # from the element, not the decoder
    assert (f"framescribe: local-landmarks=true: the bundle at {server.address} reads images, "
            "not landmarks; leave the property out") in errors[0], errors


def test_local_landmarks_without_mediapipe_say_what_to_install(gst_env, no_pixels_server,
                                                               video, tmp_path):
    """The element in a venv where MediaPipe does not import (the real .gst-venv behind a
    `mediapipe` that raises ImportError): it fails before sending a frame, with one message
    naming what to install, and where."""
    [packages] = (ROOT / ".gst-venv" / "lib").glob("python3*/site-packages")
    venv = tmp_path / "venv-without-mediapipe"
    hiding = venv / "lib" / packages.parent.name / "site-packages"
    hiding.mkdir(parents=True)
    (hiding / "gst-venv.pth").write_text(f"{packages}\n")
    (hiding / "mediapipe.py").write_text("raise ImportError(\"No module named 'mediapipe'\")\n")
    done = gst_launch(f"{DECODE.format(video=video)} ! framescribe "
                      f"server={no_pixels_server.address} local-landmarks=true name=fs "
                      "! fakesink fs.text_src ! fakesink",
                      {**gst_env, "FRAMESCRIBE_GST_VENV": str(venv)})
    assert done.returncode != 0
    errors = _element_errors(done.stdout)
    assert errors and ":fs: " in errors[0], done.stdout
    assert (f"framescribe: local-landmarks=true extracts the landmarks here with MediaPipe, "
            f"which the element's venv {venv} cannot import (No module named 'mediapipe'): "
            "run `make gst-plugin`") in errors[0], errors
    assert "pip install --no-deps mediapipe==1.2.3 and pip install 'framescribe[landmarks]'" \
        in errors[0], errors
