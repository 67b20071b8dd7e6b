"""Subtitle writers (plugin/subtitles.py) and the atomic file helper (plugin/atomic_files.py)."""

import io
import os
import stat
from dataclasses import dataclass

import pytest

from framescribe.plugin.atomic_files import write_atomically
from framescribe.plugin.subtitles import (
    SRTWriter,
    SubtitlesWriter,
    WebVTTWriter,
    format_timestamp,
    get_writer,
    sanitize_cue_text,
)


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


SEGMENTS = [
    Segment(0.0, 1.5, "digit 3 is moving up and down"),
    Segment(1.5, 1.5, "   "),  # empty after sanitising: skipped, and not numbered
    Segment(3661.25, 3662.0, "two\nlines -->  here"),
]


@pytest.mark.parametrize(
    ("seconds", "marker", "expected"),
    [
        (0.0, ".", "00:00:00.000"),
        (1.5, ",", "00:00:01,500"),
        (59.9994, ".", "00:00:59.999"),
        (59.9996, ".", "00:01:00.000"),
        (3661.25, ".", "01:01:01.250"),
        (100 * 3600 + 0.007, ",", "100:00:00,007"),
    ],
)
def test_format_timestamp(seconds, marker, expected):
    assert format_timestamp(seconds, marker) == expected


@pytest.mark.parametrize("bad", [-0.001, float("nan"), float("inf")])
def test_format_timestamp_rejects_bad_times_and_says_what_it_got(bad):
    with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(")):
        format_timestamp(bad, ".")


def test_webvtt_output_exactly():
    out = io.StringIO()
    WebVTTWriter().write(SEGMENTS, out)
    assert out.getvalue() == (
        "WEBVTT\n"
        "\n"
        "00:00:00.000 --> 00:00:01.500\n"
        "digit 3 is moving up and down\n"
        "\n"
        "01:01:01.250 --> 01:01:02.000\n"
        "two lines -&gt; here\n"
        "\n"
    )


def test_srt_output_exactly():
    out = io.StringIO()
    SRTWriter().write(SEGMENTS, out)
    assert out.getvalue() == (
        "1\n"
        "00:00:00,000 --> 00:00:01,500\n"
        "digit 3 is moving up and down\n"
        "\n"
        "2\n"
        "01:01:01,250 --> 01:01:02,000\n"
        "two lines -> here\n"
        "\n"
    )


def test_writers_differ_only_in_class_attributes():
    for writer in (WebVTTWriter, SRTWriter):
        own = {k for k in vars(writer) if not k.startswith("__")}
        assert own <= {"extension", "header", "numbered_cues", "decimal_marker", "escape_markup"}
        assert not any(callable(getattr(writer, k)) for k in own)


@pytest.mark.parametrize("text", ["a --> b", "a ---> b", "a ----->> b", "-->-->", "a\n\nb-->"])
def test_arrow_can_never_survive_sanitising(text):
    cleaned = sanitize_cue_text(text)
    assert "-->" not in cleaned
    assert "\n" not in cleaned
    srt = SRTWriter().to_string([Segment(0, 1, text)])
    assert srt.count("-->") == 1  # only the timing line's arrow


def test_empty_input_gives_header_only():
    assert WebVTTWriter().to_string([]) == "WEBVTT\n\n"
    assert SRTWriter().to_string([]) == ""


def test_writes_lazily_from_a_generator():
    segments = (Segment(i, i + 1, f"cue {i}") for i in range(3))
    assert SRTWriter().to_string(segments).count(" --> ") == 3


def test_end_before_start_is_an_error_that_names_the_values():
    with pytest.raises(ValueError, match=r"start=2\.0, end=1\.0"):
        SRTWriter().to_string([Segment(2.0, 1.0, "backwards")])


def test_get_writer():
    assert isinstance(get_writer("vtt"), WebVTTWriter)
    assert isinstance(get_writer(".SRT"), SRTWriter)
    with pytest.raises(ValueError, match="'ass'"):
        get_writer("ass")
    assert issubclass(WebVTTWriter, SubtitlesWriter)


def test_save_writes_the_same_text_atomically(tmp_path):
    path = tmp_path / "clip.vtt"
    WebVTTWriter().save(SEGMENTS, path)
    assert path.read_text(encoding="utf-8") == WebVTTWriter().to_string(SEGMENTS)
    assert os.listdir(tmp_path) == ["clip.vtt"]


def test_write_atomically_replaces_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "out.srt"
    write_atomically(path, "first\n")
    write_atomically(str(path), "second ✓\n")
    assert path.read_text(encoding="utf-8") == "second ✓\n"
    assert os.listdir(tmp_path) == ["out.srt"]


def test_write_atomically_keeps_an_existing_files_mode(tmp_path):
    path = tmp_path / "out.vtt"
    path.write_text("old")
    path.chmod(0o640)
    write_atomically(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text() == "new"


def test_new_file_is_not_left_private(tmp_path):
    old_umask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "new.vtt", "x")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "new.vtt").stat().st_mode) == 0o644


def test_write_atomically_failure_keeps_old_contents(tmp_path):
    path = tmp_path / "out.vtt"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(path, "caf\u00e9", encoding="ascii")
    assert path.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["out.vtt"]
