"""`framescribe batch` as a command: help, usage errors, the progress line and the summary,
and the options hash (what makes a rerun skip a file)."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from framescribe.plugin.batch_command import BatchProgress, format_summary
from framescribe.plugin.batch_job import BatchSummary
from framescribe.plugin.batch_spec import BatchOptions, job_spec
from framescribe.plugin.cli import main

DEMO = str(Path(__file__).resolve().parents[1] / "models" / "bundles" / "demo")


def test_help_lists_the_options_without_importing_models_or_ray():
    code = ("import sys\nfrom framescribe.plugin.cli import main\n"
            "try:\n    main(['batch', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(any(m.split('.')[0] in ('tensorflow', 'keras', 'ray') for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    for option in ("INPUTS", "--output", "--tasks", "--format", "--workers", "--engine",
                   "--ray-address", "--resume", "--no-resume", "--bundle", "--runtime"):
        assert option in result.stdout, option
    assert result.stdout.splitlines()[-1] == "False"


def test_usage_errors_exit_2_before_any_work(tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", str(clip), "-o", str(tmp_path / "out"), "--format", "vtt,docx"])
    assert exit_info.value.code == 2
    for gone in (["--formats", "vtt"], ["--segment-seconds", "1.0"], ["--segment-frames", "1"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["batch", str(clip), "-o", str(tmp_path / "out"), *gone])
        assert exit_info.value.code == 2
    assert main(["batch", str(clip), "-o", str(tmp_path / "out"), "--ray-actors", "2"]) == 2
    assert "--ray-actors: only with --engine ray" in capsys.readouterr().err
    assert main(["batch", str(clip), "-o", str(tmp_path / "out"), "--beam-size", "40"]) == 2
    assert not (tmp_path / "out").exists()


def test_the_options_hash_covers_what_decides_the_outputs_and_nothing_else():
    base = BatchOptions(bundle=DEMO)
    reference = job_spec(base).options_hash
    same = (replace(base, workers=7), replace(base, engine="ray"),
            replace(base, formats=("json", "srt", "vtt")), replace(base, resume=False),
            replace(base, tasks=("gestures", "captions")), replace(base, segment_frames=16))
    assert {job_spec(o).options_hash for o in same} == {reference}
    different = (replace(base, formats=("vtt",)), replace(base, tasks=("captions",)),
                 replace(base, beam_size=1), replace(base, segment_frames=8),
                 replace(base, runtime="litert"), replace(base, min_confidence=0.5))
    hashes = [job_spec(o).options_hash for o in different]
    assert reference not in hashes and len(set(hashes)) == len(hashes)


def test_progress_line_and_summary():
    stream = io.StringIO()
    progress = BatchProgress(stream)
    progress.begin(4, 1, "local")
    progress.start -= 10  # ten seconds in
    for frames, error in ((100, None), (100, None), (0, "bad.mp4: cannot open video")):
        progress.file_finished("x", frames, error)
    assert stream.getvalue().startswith("framescribe batch: 4 files to caption (1 already "
                                        "done), local engine\n")
    line = progress.line()
    assert line.startswith("[3/4] 0.30 files/s, 20 frames/s, ETA ") and line.endswith(
        ", 1 failed")
    summary = BatchSummary("/out", "run", "local", "hash", inputs=4, to_do=3, skipped=1,
                           done=2, failed=[("/v/bad.mp4", "/v/bad.mp4: cannot open video")],
                           frames=200, video_seconds=20.0, elapsed_s=10.0)
    text = format_summary(summary)
    assert "finished in 10.0 s (0.30 files/s, 20 frames/s, 20 s of video): 2 done, 1 " \
           "skipped (already done), 1 failed" in text
    assert "  failed: /v/bad.mp4: cannot open video\n" in text
    assert "records in /out/manifest.jsonl" in text
