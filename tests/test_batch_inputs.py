"""`framescribe batch` inputs: files, folders and lists -> unique, stable output names."""

from __future__ import annotations

import json
import os

import pytest

from framescribe.plugin.batch_inputs import InputError, expand_inputs, output_name


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_folders_are_searched_recursively_by_extension_in_sorted_order(tmp_path):
    root = tmp_path / "tapes"
    for name in ("b.mp4", "a.MKV", "sub/c.avi", "notes.txt", ".hidden.mp4", ".cache/d.mp4",
                 "sub/e.srt"):
        _touch(root / name)
    found = expand_inputs([root])
    assert [os.path.relpath(f.path, root) for f in found] == ["a.MKV", "b.mp4", "sub/c.avi"]
    assert [f.name.rsplit(".", 1)[0] for f in found] == ["a", "b", "sub/c"]
    assert all(f.size == 1 and f.mtime_ns for f in found)


def test_names_are_unique_across_folders_and_stable(tmp_path):
    one = _touch(tmp_path / "one" / "clip.mp4")
    two = _touch(tmp_path / "two" / "clip.mp4")
    first = expand_inputs([tmp_path / "one", two])
    again = expand_inputs([one, tmp_path / "two"])
    assert first[0].name != first[1].name
    assert [f.name for f in first] == [f.name for f in again]  # how it was named: irrelevant
    assert first[0].name == output_name(os.path.realpath(one), "clip.mp4")


def test_a_file_named_twice_is_one_input_and_the_output_folder_is_skipped(tmp_path):
    clip = _touch(tmp_path / "lib" / "clip.mp4")
    _touch(tmp_path / "lib" / "out" / "old.mp4")
    found = expand_inputs([tmp_path / "lib", clip, tmp_path / "lib" / ".." / "lib" / "clip.mp4"],
                          exclude=[tmp_path / "lib" / "out"])
    assert [f.path for f in found] == [os.path.realpath(clip)]


def test_text_and_jsonl_lists_resolve_relative_to_the_list(tmp_path):
    a = _touch(tmp_path / "videos" / "a.mov")
    b = _touch(tmp_path / "elsewhere" / "b.webm")
    listing = tmp_path / "videos" / "list.txt"
    listing.write_text(f"# archive\n\na.mov\n{b}\nmissing.mp4\n")
    found = expand_inputs([listing])
    assert [f.path for f in found] == [str(a), str(b), str(tmp_path / "videos" / "missing.mp4")]
    assert found[2].size is None  # kept: the job records it as failed
    assert found[1].name.startswith("b.")  # outside the list's folder: just its name
    jsonl = tmp_path / "videos" / "list.jsonl"
    jsonl.write_text(json.dumps({"path": "a.mov"}) + "\n" + json.dumps(str(b)) + "\n")
    assert [f.path for f in expand_inputs([jsonl])] == [str(a), str(b)]
    jsonl.write_text("{not json}\n")
    with pytest.raises(InputError, match=r"list.jsonl:1: not JSON"):
        expand_inputs([jsonl])


def test_missing_input_is_an_error_naming_it(tmp_path):
    with pytest.raises(InputError, match="nope.mp4: no such file or directory"):
        expand_inputs([tmp_path / "nope.mp4"])
