"""The client install: `pip install .` (no extras) must give a working framescribe.plugin and
framescribe.v1 without TensorFlow, every package and bundle file must be in the distribution,
and nothing that is not product code (benchmarks, experiments, test fixtures) may be.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Modules that live under tests/ and must never ship (DESIGN.md, "Layers").
NOT_PRODUCT = re.compile(r"(^|/)(benchmarks?|experiments?|fixtures|benchmark_\w*|experiment_\w*"
                         r"|dataset_fixtures|naive_server)(\.py|/)")


def _pyproject() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _package_dirs() -> dict[str, str]:
    return _pyproject()["tool"]["setuptools"]["package-dir"]


def _packages_in_tree() -> dict[str, Path]:
    """Every package folder (one with __init__.py) under the mapped folders, by import name."""
    found = {}
    for name, folder in _package_dirs().items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            found[".".join((name, *rel.parts)) if rel.parts else name] = init.parent
    return found


def test_every_python_package_folder_is_listed_in_pyproject():
    """The wheel ships only the packages named in [tool.setuptools] packages (the editable
    install would still find an unlisted subpackage, hiding the omission), so list them all."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    missing = sorted(set(_packages_in_tree()) - listed)
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of just what the distribution is made of, so the build
    neither reads nor leaves build/ and *.egg-info in the working tree (stale build/lib would
    leak in)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*cache", "*.egg-info")
    for top in {folder.split("/")[0] for folder in _package_dirs().values()}:
        shutil.copytree(REPO / top, src / top, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, src / name)
    # Without build isolation when this venv has the backend (no download, faster).
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-isolation"]
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", *isolation, "--outdir", str(tmp_path / "dist"),
         str(src)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert build.returncode == 0, f"building the wheel failed:\n{build.stdout}\n{build.stderr}"
    (built,) = (tmp_path / "dist").glob("framescribe-*.whl")
    return built


@pytest.mark.slow
def test_wheel_ships_every_package_and_no_test_code(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    stray = [n for n in names if NOT_PRODUCT.search(n)]
    assert not stray, f"benchmark/experiment/fixture code in the wheel (belongs in tests/): {stray}"
    for package, folder in _packages_in_tree().items():
        prefix = package.replace(".", "/")
        modules = [f"{prefix}/{p.name}" for p in sorted(folder.glob("*.py"))]
        missing = [m for m in modules if m not in names]
        assert not missing, f"{package}: modules missing from the wheel {wheel.name}: {missing}"
    subpackages = [d.name for d in (REPO / "models").iterdir() if (d / "__init__.py").exists()]
    assert len(subpackages) >= 7, f"models/ has too few sub-packages to be real: {subpackages}"
    absent = [d for d in subpackages if f"framescribe/models/{d}/__init__.py" not in names]
    assert not absent, f"models' sub-packages missing from the wheel: {absent}"


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


@pytest.fixture(scope="module")
def client_venv(wheel, tmp_path_factory) -> tuple[Path, dict]:
    """(venv, env): a fresh venv with the wheel installed, no extras (installed once for the
    tests of this module)."""
    venv = tmp_path_factory.mktemp("client") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                              str(wheel)], capture_output=True, text=True, env=env,
                             cwd=venv.parent, timeout=600)
    assert install.returncode == 0, f"pip install failed:\n{install.stdout}\n{install.stderr}"
    return venv, env


@pytest.mark.slow
def test_client_install_has_no_tensorflow(client_venv, tmp_path):
    venv, env = client_venv
    python = venv / "bin" / "python"

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


@pytest.mark.slow
def test_the_real_client_install_answers_in_one_line(client_venv, tmp_path):
    """Each command that needs the model side, on the real client install: one line, exit 2
    (test_client_commands checks the same with the model side blocked, fast)."""
    from test_client_commands import check_one_line, model_side_commands

    venv, env = client_venv
    framescribe = str(venv / "bin" / "framescribe")
    for command, argv in model_side_commands(tmp_path).items():
        result = subprocess.run([framescribe, *argv], capture_output=True, text=True,
                                env=env, cwd=tmp_path, timeout=120)
        check_one_line(result, command)
    usage = subprocess.run([framescribe, "annotate", "--help"], capture_output=True, text=True,
                           env=env, timeout=60)
    assert usage.returncode == 0 and "framescribe.events" in usage.stdout
