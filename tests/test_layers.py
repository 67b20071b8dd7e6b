"""The layer contracts of pyproject's [tool.importlinter] (v1 <- models <- server <- plugin) hold,
and they are not vacuous: the same tool reports reversed layers as broken."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    beside = Path(sys.executable).with_name("lint-imports")
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert found, "lint-imports is missing: pip install -e '.[dev]' (it is in the dev extra)"
    return found


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_lint_imports(), "--no-logo", "--no-cache", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def layers() -> list[str]:
    with open(REPO / "pyproject.toml", "rb") as f:
        config = tomllib.load(f)["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return contract["layers"]


def test_the_layers_are_the_design_s(layers):
    assert layers == ["framescribe.plugin", "framescribe.server", "framescribe.models",
                      "framescribe.v1"]


def test_import_contracts_are_kept():
    result = _run()
    assert result.returncode == 0, f"an import crosses a layer:\n{result.stdout}{result.stderr}"
    assert "0 broken" in result.stdout, result.stdout


def test_reversed_layers_are_reported_broken(layers, tmp_path):
    """server imports models: with the layers upside down, the checker must see that import."""
    roots = ", ".join(f'"{name}"' for name in layers)
    config = tmp_path / "reversed.toml"
    config.write_text(f'[tool.importlinter]\nroot_packages = [{roots}]\n\n'
                      '[[tool.importlinter.contracts]]\nname = "reversed"\ntype = "layers"\n'
                      f'layers = [{", ".join(reversed(roots.split(", ")))}]\n')
    result = _run(str(config))
    assert result.returncode != 0, f"reversed layers were not reported:\n{result.stdout}"
    assert "framescribe.server is not allowed to import framescribe.models" in result.stdout, \
        result.stdout
