"""One JSON event schema everywhere: plugin/schemas/events.schema.json (shipped with the
package) holds what `caption`/`annotate -o x.json|x.jsonl` and batch's json/jsonl outputs write.
Real outputs of the commands are validated against it with jsonschema."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from test_cli import write_video

from framescribe.plugin.cli import main
from framescribe.plugin.subtitles import (
    EVENTS_SCHEMA,
    EVENTS_VERSION,
    JSONLinesWriter,
    JSONWriter,
    schema_path,
)

REPO = Path(__file__).resolve().parents[1]


def schema() -> dict:
    return json.loads(Path(schema_path()).read_text("utf-8"))


def document_validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def event_validator() -> Draft202012Validator:
    """The schema's $defs/event: one line of a .jsonl file."""
    whole = schema()
    return Draft202012Validator({"$schema": whole["$schema"], "$defs": whole["$defs"],
                                 "$ref": "#/$defs/event"})


def check_json_file(path: Path, source: str | None) -> dict:
    document = json.loads(path.read_text("utf-8"))
    document_validator().validate(document)
    assert document["source"] == source
    return document


def check_jsonl_file(path: Path) -> list[dict]:
    records = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    validator = event_validator()
    for record in records:
        validator.validate(record)
    return records


@dataclass(frozen=True)
class Caption:
    start: float
    end: float
    text: str
    log_prob: float | None = None


@dataclass(frozen=True)
class Gesture:
    label: str
    start: float
    end: float
    confidence: float


EVENTS = [Caption(0.0, 1.6, "a digit --> moves\nup", -0.25), Gesture("WShape", 0.3, 2.0, 0.91),
          Caption(1.6, 3.2, "no score")]


def test_the_schema_is_valid_and_shipped():
    Draft202012Validator.check_schema(schema())
    assert schema()["properties"]["schema"]["const"] == EVENTS_SCHEMA
    assert schema()["properties"]["version"]["const"] == EVENTS_VERSION
    assert Path(schema_path()) == REPO / "plugin" / "schemas" / "events.schema.json"
    tomllib = pytest.importorskip("tomllib")
    with open(REPO / "pyproject.toml", "rb") as file:
        package_data = tomllib.load(file)["tool"]["setuptools"]["package-data"]
    assert "schemas/*.json" in package_data["framescribe.plugin"]


def test_writer_outputs_follow_the_schema():
    text = JSONWriter("clip.mp4").to_string(EVENTS)
    document = json.loads(text)
    document_validator().validate(document)
    assert (document["schema"], document["version"], document["source"]) == (
        "framescribe.events", 1, "clip.mp4")
    assert [e["kind"] for e in document["events"]] == ["caption", "gesture", "caption"]
    lines = [json.loads(line) for line in JSONLinesWriter().to_string(EVENTS).splitlines()]
    assert lines == document["events"]
    for line in lines:
        event_validator().validate(line)
    empty = json.loads(JSONWriter().to_string([]))
    document_validator().validate(empty)
    assert empty["events"] == [] and empty["source"] is None


@pytest.mark.parametrize("change", [
    lambda d: d.update(version=2),
    lambda d: d.pop("source"),
    lambda d: d["events"][0].pop("kind"),
    lambda d: d["events"][0].update(kind="subtitle"),
    lambda d: d["events"][1].pop("confidence"),
    lambda d: d["events"][0].update(start=-1.0),
    lambda d: d["events"][0].update(extra=1),
    lambda d: d["events"][0].pop("log_prob"),  # confidence without log_prob
], ids=["version", "no-source", "no-kind", "bad-kind", "gesture-confidence", "negative-time",
        "unknown-field", "confidence-alone"])
def test_the_schema_rejects_what_is_not_an_event_document(change):
    document = json.loads(JSONWriter("clip.mp4").to_string(EVENTS))
    change(document)
    assert list(document_validator().iter_errors(document))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("videos") / "clip.avi")


@pytest.mark.slow
def test_annotate_and_caption_embedded_outputs_follow_the_schema(tiny_bundle, video, tmp_path,
                                                                 capsys):
    for command in (["annotate"], ["caption", "--embedded"]):
        for name in ("out.json", "out.jsonl"):
            target = tmp_path / command[0] / name
            target.parent.mkdir(exist_ok=True)
            assert main([command[0], str(video), *command[1:], "--bundle", str(tiny_bundle),
                         "-o", str(target), "-q"]) == 0, capsys.readouterr().err
        document = check_json_file(tmp_path / command[0] / "out.json", str(video))
        assert document["events"] and check_jsonl_file(
            tmp_path / command[0] / "out.jsonl") == document["events"]
    assert main(["annotate", str(video), "--bundle", str(tiny_bundle), "-q"]) == 0
    document_validator().validate(json.loads(capsys.readouterr().out))  # the default: stdout


def test_batch_json_outputs_follow_the_schema(tiny_bundle, video, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(video), "-o", str(out), "--bundle", str(tiny_bundle),
                 "--format", "json,jsonl", "--quiet"]) == 0, capsys.readouterr().err
    [json_file] = out.glob("**/*.json")
    [jsonl_file] = [p for p in out.glob("**/*.jsonl") if p.name != "manifest.jsonl"]
    document = check_json_file(json_file, None)  # batch's writers are not told the source
    assert document["events"] and check_jsonl_file(jsonl_file) == document["events"]
