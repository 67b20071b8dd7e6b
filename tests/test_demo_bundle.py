"""The shipped demo bundle: complete, small, and still as good as its manifest says.

A quick re-measurement on the first clips of the test splits (the full numbers come from
`make eval`); loose bounds, so only a broken or swapped bundle fails.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from framescribe.models.evaluation.evaluation import EvaluationOptions, evaluate
from framescribe.models.inference.pipeline import Pipeline
from framescribe.plugin.cli import default_bundle

BUNDLE = Path(default_bundle())


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline.from_bundle(BUNDLE)


def test_bundle_is_complete_and_small():
    size = sum(f.stat().st_size for f in BUNDLE.iterdir())
    assert size < 15 * 1024 * 1024
    raw = json.loads((BUNDLE / "manifest.json").read_text())
    assert raw["training"]["timings"]["total_s"] < 30 * 60
    for benchmark in ("moving-digits", "lasa-airwriting"):
        assert benchmark in raw["metrics"], f"run make eval / train-demo: no {benchmark} metrics"


def test_captions_on_test_clips(pipeline):
    metrics = evaluate(pipeline, "moving-digits", EvaluationOptions(limit=64))
    assert metrics["exact_match"] >= 0.6
    assert metrics["digit_accuracy"] >= 0.85


def test_gestures_on_test_clips(pipeline):
    metrics = evaluate(pipeline, "lasa-airwriting", EvaluationOptions(limit=26))
    assert metrics["top1"] >= 0.8
    assert metrics["continuous"]["event_f1"] >= 0.6


@pytest.mark.slow
def test_demo_script_runs():
    result = subprocess.run([sys.executable, "-m", "framescribe.plugin.demo"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "runtime litert" in out and "lasa-airwriting test stream 0" in out
    # The shipped bundle finds the stream's gestures, in order, while it streams.
    gestures = [line.split("gesture: ")[1].split(" (")[0] for line in out.splitlines()
                if "] gesture: " in line]
    assert gestures[:5] == ["WShape", "Zshape", "Worm", "WShape", "Sharpc"]
    assert "caption: digit 4 is standing still" in out
    assert out.count("server exited with status 0") == 2
    # The air-writing bundle on a real hand (the server finds it with MediaPipe) names the
    # clip's shapes in the truth's order.
    real = out.split("air-writing by a real hand")[1]
    found = [line.split("gesture: ")[1].split(" (")[0] for line in real.splitlines()
             if "] gesture: " in line]
    truth = [item.split(" [")[0] for item in real.split("truth: ")[1].splitlines()[0].split(", ")]
    assert found == truth
