"""The client install: `pip install .` (no extras) must give a working framescribe.plugin and
framescribe.v1 without TensorFlow, and every package and bundle file must be in the distribution.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _package_dirs() -> dict[str, str]:
    return _pyproject()["tool"]["setuptools"]["package-dir"]


def test_every_python_package_folder_is_listed_in_pyproject():
    """The wheel ships only the packages named in [tool.setuptools] packages (the editable
    install would still find an unlisted subpackage, hiding the omission), so list them all."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = set()
    for name, folder in _package_dirs().items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            found.add(".".join((name, *rel.parts)) if rel.parts else name)
    missing = sorted(found - listed)
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


CHECK = r"""
import importlib.metadata, importlib.util, json, sys
import framescribe.plugin, framescribe.v1
print(json.dumps({
    "plugin_file": framescribe.plugin.__file__,
    "v1_file": framescribe.v1.__file__,
    "tensorflow_imported": any(m.split(".")[0] == "tensorflow" for m in sys.modules),
    "tensorflow_installed": importlib.util.find_spec("tensorflow") is not None,
    "files": [str(f) for f in importlib.metadata.files("framescribe")],
    "requires": importlib.metadata.requires("framescribe"),
}))
"""


@pytest.mark.slow
def test_client_install_has_no_tensorflow(tmp_path):
    # Build from a copy of just what the distribution is made of, so the install neither reads
    # nor leaves build/ and *.egg-info in the working tree (stale build/lib would leak in).
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*cache", "*.egg-info")
    for top in {folder.split("/")[0] for folder in _package_dirs().values()}:
        shutil.copytree(REPO / top, src / top, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, src / name)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(src)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert install.returncode == 0, f"pip install failed:\n{install.stdout}\n{install.stderr}"

    # -I: isolated mode, so neither the working tree nor PYTHONPATH can satisfy the imports.
    check = subprocess.run(
        [str(python), "-I", "-c", CHECK],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert check.returncode == 0, f"import failed:\n{check.stdout}\n{check.stderr}"
    result = json.loads(check.stdout.strip().splitlines()[-1])

    site = str(venv)
    assert result["plugin_file"].startswith(site), result["plugin_file"]
    assert result["v1_file"].startswith(site), result["v1_file"]
    assert not result["tensorflow_imported"]
    assert not result["tensorflow_installed"]
    assert not any("tensorflow" in r and "extra ==" not in r for r in result["requires"])
    assert (venv / "bin" / "framescribe").exists(), "console script was not installed"

    installed = set(result["files"])
    models = REPO / "models"
    bundle_files = [p for p in models.glob("bundles/**/*") if p.is_file()]
    missing = [
        str(p.relative_to(REPO))
        for p in bundle_files
        if f"framescribe/models/{p.relative_to(models).as_posix()}" not in installed
    ]
    assert not missing, f"bundle files missing from the installed distribution: {missing}"

    # The client install captions a real video through a real server (the main venv serves).
    from server_helpers import sample_video

    from framescribe.plugin.local_server import LocalServer

    sample = sample_video()
    with LocalServer(["--bundle", str(REPO / "models" / "bundles" / "demo"), "--runtime",
                      "litert"]) as server:
        caption = subprocess.run(
            [str(venv / "bin" / "framescribe"), "caption", str(sample), "--server",
             server.address, "-o", str(tmp_path / "bikes.vtt")],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert caption.returncode == 0, caption.stderr
    vtt = (tmp_path / "bikes.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "-->" in vtt and "digit" in vtt
