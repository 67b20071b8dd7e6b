"""The client install (`pip install .`: no TensorFlow, Keras or LiteRT) and the commands that
need the model side: train, eval, export, serve, annotate, caption --embedded and batch each say
so in one line on stderr (what to install) and exit 2, never a traceback.

The fast tests stand in for a client install by blocking those modules in a child process; the
real wheel's venv gets the same check in test_client_install.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = str(REPO / "models" / "bundles" / "demo")
INSTALL = "pip install 'framescribe[server]'"
BLOCKED = ("tensorflow", "keras", "keras_cv", "ai_edge_litert", "grpc_reflection")
# A client install, as far as imports go: the model side's modules cannot be imported.
SHIM = ("import sys\n"
        f"for name in {BLOCKED!r}:\n"
        "    sys.modules[name] = None\n"
        "from framescribe.plugin.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")


def model_side_commands(tmp: Path) -> dict[str, list[str]]:
    video = str(REPO / "README.md")  # never opened: the check comes first
    return {
        "train": ["train", "demo", "--output", str(tmp / "bundle")],
        "eval": ["eval", "--benchmark", "moving-digits", "--limit", "1"],
        "export": ["export", "--bundle", DEMO, "--no-eval"],
        "serve": ["serve", "--port", "0"],
        "serve litert": ["serve", "--runtime", "litert", "--port", "0"],
        "annotate": ["annotate", video],
        "annotate litert": ["annotate", video, "--runtime", "litert"],
        "caption --embedded": ["caption", video, "--embedded"],
        "caption --embedded litert": ["caption", video, "--embedded", "--runtime", "litert"],
        "batch": ["batch", video, "-o", str(tmp / "out")],
        "batch litert": ["batch", video, "-o", str(tmp / "out"), "--runtime", "litert"],
    }


COMMANDS = list(model_side_commands(Path("/tmp")))


def check_one_line(result: subprocess.CompletedProcess, command: str) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("framescribe: error: ") and INSTALL in line, line
    assert f"`framescribe {command.split()[0]}" in line, line
    assert result.stdout == ""
    return line


@pytest.mark.parametrize("command", COMMANDS)
def test_model_side_commands_say_what_to_install(command, tmp_path):
    argv = model_side_commands(tmp_path)[command]
    result = subprocess.run([sys.executable, "-c", SHIM, *argv], capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    line = check_one_line(result, command)
    runtime_module = "ai_edge_litert" if command.endswith("litert") else "tensorflow"
    assert runtime_module in line  # names what is missing
    assert not (tmp_path / "out").exists() and not (tmp_path / "bundle").exists()


def test_the_check_is_one_shared_helper():
    """One require_model_side (plugin/model_side.py), called by every model-side command."""
    sources = {p.name: p.read_text("utf-8") for p in (REPO / "plugin").glob("*.py")}
    callers = sorted(name for name, text in sources.items()
                     if "require_model_side(" in text and name != "model_side.py")
    assert callers == ["batch_command.py", "caption_command.py", "serve_command.py",
                       "train_command.py"]
