"""The `framescribe` command as users run it: help, annotate (caption --embedded) formats,
clear errors, eval, data.

Most calls go through `main([...])` in-process (one TensorFlow import for the whole file); the
ones whose point is the real process (exit status, no traceback on stderr, the entry point
itself) run `python -m framescribe.plugin.cli` as a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from framescribe.plugin.cli import main

CLI = [sys.executable, "-m", "framescribe.plugin.cli"]
VIDEO_SECONDS, VIDEO_FPS = 3.0, 20
VIDEO_WIDTH, VIDEO_HEIGHT = 96, 72
BUNDLE_FRAME_RATE = 10.0  # tiny_bundle's rate: the 3 s video is sampled to 30 frames

# C++ logging that TensorFlow/absl write before TF_CPP_MIN_LOG_LEVEL applies, e.g.
# "WARNING: All log messages before absl::InitializeLog() ..." and "I0000 00:00:... port.cc:153]
# oneDNN custom operations are on ...". Not ours, and not switchable off: ignored on stderr.
_RUNTIME_LOG = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWEF]\d{4} \d\d:\d\d:\d\d)")


def run_cli(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the CLI as a real process; stdout/stderr as text."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def own_stderr_lines(stderr: str) -> list[str]:
    """stderr lines written by framescribe (TensorFlow's C++ start-up logging removed)."""
    return [line for line in stderr.splitlines() if line.strip() and not _RUNTIME_LOG.match(line)]


def write_video(path, seconds: float = VIDEO_SECONDS, fps: int = VIDEO_FPS):
    """A real MJPG .avi of random frames that OpenCV can read back."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps,
                             (VIDEO_WIDTH, VIDEO_HEIGHT))
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    for _ in range(round(seconds * fps)):
        writer.write(rng.integers(0, 256, (VIDEO_HEIGHT, VIDEO_WIDTH, 3), dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("videos") / "clip.avi")


def call_main(capsys, *args) -> tuple[int, str, str]:
    """main([...]) in-process: (exit status, stdout, stderr)."""
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_error_line(stderr: str, *names: str) -> str:
    """stderr is exactly one framescribe error line naming each of `names`, and no traceback."""
    assert "Traceback" not in stderr
    lines = own_stderr_lines(stderr)
    assert len(lines) == 1, f"expected one error line, got {lines!r}"
    assert lines[0].startswith("framescribe: error:"), lines[0]
    for name in names:
        assert name in lines[0], f"{name!r} not in {lines[0]!r}"
    return lines[0]


# -- help ----------------------------------------------------------------------------------
HELP_CASES = {
    "": ("annotate", "caption", "watch", "batch", "eval", "train", "export", "serve", "data"),
    "annotate": ("VIDEO", "--bundle", "--output", "--format", "vtt,srt,json,jsonl",
                 "framescribe.events", "--tasks", "--segment-frames", "2-1024", "--beam-size",
                 "--min-confidence", "--runtime", "litert", "caption --embedded"),
    "caption": ("INPUT", "--output", "--format", "--segment-frames", "--embedded", "--server",
                "--bundle", "--runtime", "framescribe.events"),
    "eval": ("--bundle", "--benchmark", "moving-digits", "lasa-airwriting", "--split", "--json",
             "--limit", "--beam-size", "--record", "--runtime"),
    "export": ("--bundle", "--quantize", "dynamic", "--no-eval"),
    "serve": ("--bundle", "--config", "--host", "--port", "--runtime", "--max-batch-size",
              "--max-queue-delay-ms", "--max-streams", "--idle-timeout-s", "--max-message-bytes",
              "--max-pixels-per-frame", "--max-frames-per-clip", "--metrics-port", "--tls-cert",
              "--tls-key", "--token-file", "--grace-period-s", "FRAMESCRIBE_"),
    "train": ("captions", "gestures", "demo", "--output", "--name", "--epochs", "--batch-size",
              "--backbone", "mobilenet_v3_small", "--input-size", "--pooling", "--cell",
              "--encoder-from", "--pretrain-epochs", "--clips", "--checkpoint-dir",
              "--no-eval", "--eval-limit", "--seed"),
    "data": ("preview",),
    "data preview": ("moving-digits", "lasa-airwriting", "--output", "--split", "--clips"),
}


@pytest.mark.parametrize("command", list(HELP_CASES), ids=lambda c: c or "top-level")
def test_help_exits_0_and_lists_the_options(command):
    result = run_cli(*command.split(), "--help", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: framescribe {command}".rstrip())
    for option in HELP_CASES[command]:
        assert option in result.stdout, f"{option!r} missing from `{command} --help`"
    assert result.stderr == ""


def test_help_does_not_import_tensorflow():
    code = ("import sys\nfrom framescribe.plugin.cli import main\n"
            "for argv in ([], ['annotate'], ['caption'], ['watch'], ['batch'], ['eval'],\n"
            "             ['train'], ['export'], ['serve'], ['data', 'preview']):\n"
            "    try:\n        main([*argv, '--help'])\n    except SystemExit:\n        pass\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False False"


def test_no_command_is_a_usage_error():
    result = run_cli(timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "framescribe: error: the following arguments are required: COMMAND "
        "(see `framescribe --help`)"]


@pytest.mark.parametrize("argv,words", [
    (["annotate", "v.mp4", "--segment-seconds", "1.0"], "unrecognized arguments"),
    (["annotate", "v.mp4", "--json"], "unrecognized arguments"),
    (["annotate", "v.mp4", "--segment-frames", "1"], "must be 2-1024, got 1"),
    (["caption", "v.mp4", "--segment-frames", "1025"], "must be 2-1024, got 1025"),
    (["batch", "v.mp4", "-o", "out", "--segment-frames", "1.5"], "expected an integer 2-1024"),
    (["batch", "v.mp4", "-o", "out", "--formats", "vtt"], "unrecognized arguments"),
    (["annotate", "v.mp4", "--beam-size", "0"], "--beam-size: must be 1-16, got 0"),
    (["annotate", "v.mp4", "--tasks", "captions,colour"], "captions,colour"),
    (["annotate", "v.mp4", "--format", "txt"], "invalid choice: 'txt'"),
    (["annotate", "v.mp4", "--server", "localhost:50051"], "unrecognized arguments"),
], ids=["segment-seconds-gone", "json-flag-gone", "segment-frames-low", "segment-frames-high",
        "segment-frames-not-int", "formats-renamed", "beam-size", "tasks", "format",
        "annotate-has-no-server"])
def test_usage_errors_are_one_line_and_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"framescribe {argv[0]}: error: "), lines
    assert words in lines[0] and f"`framescribe {argv[0]} --help`" in lines[0]


# -- annotate (caption --embedded, JSON on stdout by default) -------------------------------
def test_annotate_json_as_a_real_process(tiny_bundle, video):
    result = run_cli("annotate", video, "--bundle", tiny_bundle)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    check_annotation_json(document, video)
    # 16-frame segments at 10 fps: [0, 1.6) and [1.6, 3.0) (the 14-frame tail is kept).
    assert [(c["start"], c["end"]) for c in captions_of(document)] == [(0.0, 1.6), (1.6, 3.0)]
    [summary] = own_stderr_lines(result.stderr)  # stderr is not a terminal: no progress bar
    assert summary.startswith("framescribe: 2 captions, ") and "from 30 frames" in summary
    assert summary.endswith("-> stdout")


def test_annotate_is_caption_embedded(tiny_bundle, video, capsys):
    status, annotated, err = call_main(capsys, "annotate", video, "--bundle", tiny_bundle,
                                       "-q")
    assert status == 0, err
    assert err == ""  # -q: no summary
    status, captioned, err = call_main(capsys, "caption", video, "--embedded", "--bundle",
                                       tiny_bundle, "--format", "json", "-q")
    assert status == 0, err
    assert annotated == captioned


def test_annotate_on_litert_matches_tensorflow(video, capsys):
    """The demo bundle on both runtimes: same captions and gesture events (LiteRT in a child
    process, as it cannot share one with TensorFlow)."""
    demo = Path(__file__).resolve().parents[1] / "models" / "bundles" / "demo"
    lite = run_cli("annotate", video, "--bundle", demo, "--runtime", "litert")
    assert lite.returncode == 0, lite.stderr
    status, out, err = call_main(capsys, "annotate", video, "--bundle", demo)
    assert status == 0, err

    def events(document: dict):
        return ([(c["start"], c["end"], c["text"]) for c in captions_of(document)],
                [(g["start"], g["end"], g["label"]) for g in gestures_of(document)])

    assert events(json.loads(lite.stdout)) == events(json.loads(out))


def captions_of(document: dict) -> list[dict]:
    return [e for e in document["events"] if e["kind"] == "caption"]


def gestures_of(document: dict) -> list[dict]:
    return [e for e in document["events"] if e["kind"] == "gesture"]


def check_annotation_json(document: dict, video) -> None:
    """A framescribe.events document (tests/test_events_schema.py holds it to the schema)."""
    assert (document["schema"], document["version"]) == ("framescribe.events", 1)
    assert document["source"] == str(video)
    captions, gestures = captions_of(document), gestures_of(document)
    assert len(captions) + len(gestures) == len(document["events"])
    # 3 s sampled to the bundle's 10 fps: 30 frames, two 16-frame segments (the last short)
    assert len(captions) == 2
    assert captions[0]["start"] == 0.0
    assert captions[-1]["end"] == pytest.approx(VIDEO_SECONDS, abs=0.01)
    events = document["events"]
    assert [(e["start"], e["end"]) for e in events] == sorted((e["start"], e["end"])
                                                              for e in events)
    for item in events:
        assert 0.0 <= item["start"] < item["end"] <= VIDEO_SECONDS + 1e-6
    for caption in captions:
        assert isinstance(caption["text"], str)
    for gesture in gestures:
        assert isinstance(gesture["label"], str) and gesture["label"]
        assert 0.0 <= gesture["confidence"] <= 1.0


def test_annotate_json_and_jsonl(tiny_bundle, video, capsys):
    status, out, err = call_main(capsys, "annotate", video, "--bundle", tiny_bundle)
    assert status == 0, err
    document = json.loads(out)
    check_annotation_json(document, video)
    status, lines, err = call_main(capsys, "annotate", video, "--bundle", tiny_bundle,
                                   "--format", "jsonl")
    assert status == 0, err
    assert [json.loads(line) for line in lines.splitlines()] == document["events"]


def expected_cues(tiny_bundle, video, capsys, marker: str) -> list[tuple[str, str]]:
    """Cue timings the subtitles must contain: every non-empty caption and every gesture
    (an untrained decoder may produce an empty caption, which writers rightly skip)."""
    status, out, err = call_main(capsys, "annotate", video, "--bundle", tiny_bundle)
    assert status == 0, err
    document = json.loads(out)
    spans = [(c["start"], c["end"]) for c in captions_of(document) if c["text"]]
    spans += [(g["start"], g["end"]) for g in gestures_of(document)]

    def stamp(seconds: float) -> str:
        millis = round(seconds * 1000)
        return f"00:00:{millis // 1000:02d}{marker}{millis % 1000:03d}"

    assert spans, "the tiny bundle (seed 0) should give at least one cue to compare"
    return [(stamp(a), stamp(b)) for a, b in spans]


def test_annotate_webvtt(tiny_bundle, video, capsys):
    expected = expected_cues(tiny_bundle, video, capsys, ".")
    status, out, err = call_main(capsys, "annotate", video, "--bundle", tiny_bundle,
                                 "--format", "vtt")
    assert status == 0, err
    assert out.startswith("WEBVTT\n")
    timings = re.findall(r"^(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})$", out, re.M)
    assert sorted(timings) == sorted(expected)


def test_annotate_srt(tiny_bundle, video, capsys):
    expected = expected_cues(tiny_bundle, video, capsys, ",")
    status, out, err = call_main(capsys, "annotate", video, "--bundle", tiny_bundle,
                                 "-o", "-", "--format", "srt")
    assert status == 0, err
    cues = re.findall(r"^(\d+)\n(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})$", out, re.M)
    assert [n for n, _, _ in cues] == [str(i + 1) for i in range(len(cues))]
    assert sorted((a, b) for _, a, b in cues) == sorted(expected)
    assert "WEBVTT" not in out


def test_annotate_output_file_matches_stdout(tiny_bundle, video, tmp_path, capsys):
    target = tmp_path / "out" / "clip.json"
    target.parent.mkdir()
    status, out, err = call_main(capsys, "annotate", video, "--bundle", tiny_bundle,
                                 "--output", target)
    assert status == 0, err
    assert out == ""
    assert err.rstrip().endswith(f"-> {target}")
    _, printed, _ = call_main(capsys, "annotate", video, "--bundle", tiny_bundle)
    assert target.read_text("utf-8") == printed  # same models, same video: same annotation
    check_annotation_json(json.loads(target.read_text("utf-8")), video)
    assert [p.name for p in target.parent.iterdir()] == ["clip.json"]  # no temporary left


def test_annotate_one_task(tiny_bundle, video, capsys):
    status, out, err = call_main(capsys, "annotate", video, "--bundle", tiny_bundle,
                                 "--tasks", "captions", "--segment-frames", "10")
    assert status == 0, err
    document = json.loads(out)
    assert gestures_of(document) == []
    assert [c["start"] for c in captions_of(document)] == [0.0, 1.0, 2.0]


# -- errors: one line, naming the file, exit 1 ---------------------------------------------
def _missing(tmp_path):
    return tmp_path / "missing.mp4"


def _empty(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    return path


def _garbage(tmp_path):
    path = tmp_path / "garbage.avi"
    path.write_bytes(b"this is not a video\n" * 200)
    return path


@pytest.mark.parametrize("make_video,problem", [
    (_missing, "no such file"),
    (_empty, "empty file"),
    (_garbage, "(cannot open (it as a )?video|no decodable frames)"),
], ids=["missing", "empty", "garbage"])
def test_bad_video_is_one_error_line(tiny_bundle, tmp_path, capsys, make_video, problem):
    path = make_video(tmp_path)
    status, out, err = call_main(capsys, "annotate", path, "--bundle", tiny_bundle)
    assert status == 1
    assert out == ""
    line = assert_one_error_line(err, str(path))
    assert re.search(problem, line)


def test_bad_video_in_a_real_process(tiny_bundle, tmp_path):
    path = _garbage(tmp_path)
    result = run_cli("annotate", path, "--bundle", tiny_bundle)
    assert result.returncode == 1
    assert result.stdout == ""
    assert_one_error_line(result.stderr, str(path))


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    target = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, target)
    return target


def test_bundle_without_manifest_in_a_real_process(bundle_copy, video):
    (bundle_copy / "manifest.json").unlink()
    result = run_cli("annotate", video, "--bundle", bundle_copy)
    assert result.returncode == 1
    assert result.stdout == ""
    assert_one_error_line(result.stderr, str(bundle_copy / "manifest.json"), "missing")


def test_bundle_with_broken_manifest(bundle_copy, video, capsys):
    manifest = bundle_copy / "manifest.json"
    manifest.write_text(manifest.read_text("utf-8")[:100], "utf-8")  # truncated JSON
    status, _, err = call_main(capsys, "annotate", video, "--bundle", bundle_copy)
    assert status == 1
    assert_one_error_line(err, str(manifest), "not valid JSON")


def test_bundle_with_a_missing_weights_file(bundle_copy, video, capsys):
    (bundle_copy / "gesture_classifier.weights.h5").unlink()
    status, _, err = call_main(capsys, "eval", "--bundle", bundle_copy,
                               "--benchmark", "lasa-airwriting", "--limit", "2")
    assert status == 1
    assert_one_error_line(err, "gesture_classifier.weights.h5", "manifest.json")


def test_missing_bundle_directory(tmp_path, video, capsys):
    status, _, err = call_main(capsys, "annotate", video, "--bundle", tmp_path / "nope")
    assert status == 1
    assert_one_error_line(err, str(tmp_path / "nope"))


def test_output_into_a_missing_directory_names_the_output(tiny_bundle, video, tmp_path,
                                                          capsys):
    target = tmp_path / "no" / "such" / "dir" / "out.json"
    status, _, err = call_main(capsys, "annotate", video, "--bundle", tiny_bundle,
                               "-o", target)
    assert status == 1
    assert_one_error_line(err, str(target))
    assert not target.parent.exists()


def test_unknown_output_extension_is_one_error_line(tiny_bundle, video, tmp_path, capsys):
    status, _, err = call_main(capsys, "annotate", video, "--bundle", tiny_bundle, "-o",
                               tmp_path / "out.txt")
    assert status == 1
    assert_one_error_line(err, "out.txt", "cannot tell the output format", "--format")


# -- data, eval ----------------------------------------------------------------------------
def test_data_preview_writes_a_png(tmp_path, capsys):
    target = tmp_path / "sheet" / "X.png"
    status, out, err = call_main(capsys, "data", "preview", "moving-digits", "-o", target)
    assert status == 0, err
    assert out.strip() == str(target)
    image = cv2.imread(str(target))
    assert image is not None and image.ndim == 3 and image.shape[0] > 64 and image.shape[1] > 64
    assert image.std() > 0  # not a blank sheet


@pytest.mark.parametrize("benchmark,keys", [
    ("lasa-airwriting", ("top1", "top5", "event_f1")),
    ("moving-digits", ("exact_match", "bleu4")),
])
def test_eval_json_prints_one_object(tiny_bundle, capsys, benchmark, keys):
    status, out, err = call_main(capsys, "eval", "--bundle", tiny_bundle, "--benchmark",
                                 benchmark, "--split", "test", "--json", "--limit", "4")
    assert status == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    metrics = json.loads(lines[0])
    assert isinstance(metrics, dict)
    for key in keys:
        assert key in metrics, f"{key} missing from {sorted(metrics)}"
        assert metrics[key] is None or 0.0 <= metrics[key] <= 1.0
    assert metrics["benchmark"] == benchmark and metrics["split"] == "test"
    assert "4/4 clips" in err  # the progress line, on stderr only


def test_eval_does_not_touch_the_manifest_without_record(tiny_bundle, capsys):
    before = (tiny_bundle / "manifest.json").read_bytes()
    status, _, err = call_main(capsys, "eval", "--bundle", tiny_bundle, "--benchmark",
                               "lasa-airwriting", "--limit", "2")
    assert status == 0, err
    assert (tiny_bundle / "manifest.json").read_bytes() == before


@pytest.mark.parametrize("limit", ["0", "-1", "two"])
def test_eval_limit_must_be_a_positive_integer(tiny_bundle, limit):
    result = run_cli("eval", "--bundle", tiny_bundle, "--benchmark", "lasa-airwriting",
                     "--limit", limit, timeout=60)
    assert result.returncode == 2  # a usage error, before any work (0 used to mean "all")
    assert "--limit" in result.stderr and "Traceback" not in result.stderr


# -- train ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_train_demo_with_a_keras_cv_backbone_then_annotate(tmp_path):
    bundle, checkpoints = tmp_path / "kcv", tmp_path / "ck"
    # Small counts and --no-eval: evaluation is the same code for every backbone (covered by
    # test_training_recipes); what is specific here is building, pretraining, training,
    # exporting and serving a keras-cv network (~100 s on 2 cores; 170 s with evaluation).
    result = run_cli("train", "demo", "--output", bundle, "--backbone", "mobilenet_v3_small",
                     "--clips", "8", "--streams", "2", "--epochs", "1", "--pretrain-epochs", "1",
                     "--no-eval", "--checkpoint-dir", checkpoints, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((bundle / "manifest.json").read_text("utf-8"))
    assert manifest["backbone"] == "mobilenet_v3_small"
    assert manifest["encoder"]["config"]["pooling"] == "avg"
    assert {"frame_encoder.tflite", "caption_step.tflite", "gesture_step.tflite"} <= {
        path.name for path in (bundle / "litert").iterdir()}
    video = write_video(tmp_path / "clip.avi")
    result = run_cli("annotate", video, "--bundle", bundle)
    assert result.returncode == 0, result.stderr[-3000:]
    check_annotation_json(json.loads(result.stdout), video)
