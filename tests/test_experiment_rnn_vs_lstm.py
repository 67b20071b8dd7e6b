"""The SimpleRNN-vs-LSTM experiment end to end on tiny settings: report, figure, resume."""

import re

import pytest
from experiments.experiment_rnn_vs_lstm import (
    ExperimentOptions,
    parse_args,
    probe_windows,
    run_experiment,
)


def test_cli_defaults_are_the_options_defaults():
    assert parse_args([]) == ExperimentOptions()
    options = parse_args(["--frames", "16", "8", "--cells", "lstm", "--seeds", "3",
                          "--train-clips", "0", "--inputs", "positions", "--no-resume"])
    assert options.frames == (16, 8) and options.cells == ("lstm",) and options.seeds == (3,)
    assert options.train_clips is None and options.inputs == "positions"
    assert not options.resume


def test_options_are_checked():
    with pytest.raises(ValueError, match="cells"):
        ExperimentOptions(cells=("transformer",))
    with pytest.raises(ValueError, match="inputs"):
        ExperimentOptions(inputs="pixels")


@pytest.mark.slow
def test_tiny_run_writes_report_and_figure_then_resumes(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    options = ExperimentOptions(
        frames=(12, 6), seeds=(0,), train_clips=40, eval_clips=26, epochs=2, batch_size=16,
        units=8, num_layers=1, output_dir=str(tmp_path / "reports"), name="tiny",
        cache_dir=str(tmp_path / "cache"))
    summary = run_experiment(options, argv=["--tiny"])
    report = (tmp_path / "reports" / "tiny.md").read_text()
    png = (tmp_path / "reports" / "tiny.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    assert "![learning curves](tiny.png)" in report
    assert "--tiny" in report and "-core CPU" in report
    number = r"[0-9]+\.[0-9]{3}"
    for frames in (12, 6):
        for cell in ("SimpleRNN", "LSTM"):
            row = (rf"\| {frames} \| {cell} \| 0 \| {number} \| {number} \| {number} \| "
                   r"[0-9,]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|")
            assert re.search(row, report), (frames, cell)
    for frames, windows in ((12, "k=3.*k=6.*k=12"), (6, "k=2.*k=3.*k=6")):
        for cell in ("SimpleRNN", "LSTM"):
            assert re.search(rf"\| {frames} \| {cell} \| 0 \| {number} \(k=.*{windows}", report)
    assert len(summary["results"]) == 4
    for result in summary["results"]:
        assert 0.0 <= result["top1"] <= result["top5"] <= 1.0
        assert len(result["history"]["curve_top1"]) == 2 and result["train_seconds"] > 0
        assert 0.0 <= result["train_top1"] <= 1.0
        assert list(result["probe"]) == [str(k) for k in probe_windows(result["frames"],
                                                                       (0.125, 0.25, 0.5))]
        assert result["probe"][str(result["frames"])] == result["top1"]
    assert summary["train_clips"] == 40 and summary["test_clips"] == 26
    first = capsys.readouterr().out
    assert "encoded 40/40 train clips of 12 frames" in first

    run_experiment(options)  # same options: features and runs come from the cache
    second = capsys.readouterr().out
    assert "loaded cached features" in second and "resumed from" in second
    assert "training T=" not in second
    assert "4 of 4 runs were read from the run cache" in (tmp_path / "reports" / "tiny.md"
                                                          ).read_text()


def test_probe_windows():
    assert probe_windows(256, (0.125, 0.25, 0.5)) == [32, 64, 128, 256]
    assert probe_windows(6, (0.125, 0.25, 0.5)) == [1, 2, 3, 6]


def test_positions_inputs_ramp_targets_validation_curves(tmp_path):
    pytest.importorskip("matplotlib")
    options = ExperimentOptions(
        frames=(6,), seeds=(1,), inputs="positions", targets="ramp", curve_split="validation",
        train_clips=30, eval_clips=13, epochs=1, batch_size=16, units=4, num_layers=1,
        output_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"), verbose=0)
    summary = run_experiment(options)
    assert [r["cell"] for r in summary["results"]] == ["simple_rnn", "lstm"]
    assert all(r["curve_split"] == "validation" for r in summary["results"])
    report = (tmp_path / "rnn_vs_lstm.md").read_text()
    assert "fingertip positions" in report and "demos 0-3" in report
    assert (tmp_path / "rnn_vs_lstm.png").stat().st_size > 1000
