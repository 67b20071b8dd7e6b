"""The batch job manifest: append-only, torn tails dropped, one run per folder, and the
"exactly once" check."""

from __future__ import annotations

import hashlib
import json

import pytest

from framescribe.plugin.batch_manifest import (
    MANIFEST_NAME,
    BatchManifest,
    ManifestError,
    clean_temporary_files,
    is_done,
    last_done,
    read_records,
    verify_job,
)

SOURCE = {"size": 10, "mtime_ns": 1}


def _done(outdir, path, name, text="WEBVTT\n\n", options_hash="h1"):
    (outdir / f"{name}.vtt").write_text(text)
    return {"event": "done", "run": "r1", "path": path, "name": name,
            "options_hash": options_hash, "source": SOURCE,
            "outputs": [{"path": f"{name}.vtt", "bytes": len(text),
                         "sha256": hashlib.sha256(text.encode()).hexdigest()}]}


def test_a_torn_last_line_is_dropped_and_the_next_record_starts_clean(tmp_path):
    with BatchManifest(tmp_path) as manifest:
        manifest.append({"event": "run", "run": "r1", "resume": True})
        manifest.append({"event": "started", "run": "r1", "path": "/a"})
    with open(tmp_path / MANIFEST_NAME, "ab") as file:
        file.write(b'{"v":1,"event":"done","path":"/a","outp')  # killed mid-write
    assert [r["event"] for r in read_records(tmp_path / MANIFEST_NAME)] == ["run", "started"]
    with BatchManifest(tmp_path) as manifest:
        assert [r["event"] for r in manifest.records] == ["run", "started"]
        manifest.append({"event": "failed", "run": "r2", "path": "/a", "error": "x"})
    lines = (tmp_path / MANIFEST_NAME).read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["run", "started", "failed"]


def test_a_damaged_middle_line_is_refused(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text('{"event": "run"}\ngarbage\n{"event": "run"}\n')
    with pytest.raises(ManifestError, match=r"manifest.jsonl:2"):
        BatchManifest(tmp_path).open()


def test_one_run_per_output_folder(tmp_path):
    with BatchManifest(tmp_path):
        with pytest.raises(ManifestError, match="another framescribe batch run"):
            BatchManifest(tmp_path).open()
    BatchManifest(tmp_path).open().close()  # released


def test_temporary_files_are_cleaned_and_never_taken_for_outputs(tmp_path):
    (tmp_path / "sub").mkdir()
    temporary = tmp_path / "sub" / ".clip.1a2b3c4d.vtt.0123456789ab.tmp"
    temporary.write_text("WEBV")
    (tmp_path / "keep.vtt").write_text("x")
    assert "sub/.clip.1a2b3c4d.vtt.0123456789ab.tmp: temporary file left behind" in \
        verify_job(tmp_path)
    assert clean_temporary_files(tmp_path) == 1
    assert not temporary.exists() and (tmp_path / "keep.vtt").exists()


def test_verify_job_finds_every_kind_of_violation(tmp_path):
    records = [{"event": "run", "run": "r1", "resume": True},
               {"event": "started", "path": "/a"}, _done(tmp_path, "/a", "a"),
               {"event": "started", "path": "/b"}, _done(tmp_path, "/b", "b"),
               {"event": "started", "path": "/b"}, _done(tmp_path, "/b", "b"),
               {"event": "started", "path": "/c"}]
    (tmp_path / MANIFEST_NAME).write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "stray.srt").write_text("1\n")
    (tmp_path / "a.vtt").write_text("WEBVTT\n\nchanged")
    problems = verify_job(tmp_path, expected=["/a", "/b", "/c", "/d"])
    assert sorted(problems) == sorted([
        "/b: done 2 times with the same options",
        "/c: started but never done or failed",
        "/c: not done (last started)",
        "/d: not done (not in the manifest)",
        "/a: output a.vtt differs from its record",
        "stray.srt: output file that no done record names",
    ])


def test_a_no_resume_run_starts_the_count_again(tmp_path):
    records = [{"event": "run", "run": "r1", "resume": True}, _done(tmp_path, "/a", "a"),
               {"event": "run", "run": "r2", "resume": False}, _done(tmp_path, "/a", "a")]
    (tmp_path / MANIFEST_NAME).write_text("".join(json.dumps(r) + "\n" for r in records))
    assert verify_job(tmp_path, expected=["/a"]) == []
    done = last_done(records)["/a"]
    assert is_done(done, "h1", SOURCE, str(tmp_path))
    assert not is_done(done, "h2", SOURCE, str(tmp_path))  # other bundle or options
    assert not is_done(done, "h1", {"size": 11, "mtime_ns": 1}, str(tmp_path))  # file changed
    (tmp_path / "a.vtt").unlink()
    assert not is_done(done, "h1", SOURCE, str(tmp_path))  # an output went missing
