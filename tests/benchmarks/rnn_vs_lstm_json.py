"""The RNN-vs-LSTM study's figures as JSON, read from the report the experiment wrote.

    python -m benchmarks.rnn_vs_lstm_json [reports/rnn_vs_lstm.md] [reports/rnn_vs_lstm.json]

`make experiment-rnn-vs-lstm` runs it after the experiment; the README quotes the JSON
(tests/test_readme_figures.py). Nothing is measured here: every value is one of the report's.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

SETUP = {  # key -> pattern with one number group, searched in the report's text
    "units": r"GestureClassifier, (\d+) units x \d+ layers",
    "layers": r"GestureClassifier, \d+ units x (\d+) layers",
    "epochs": r"numbers after the last epoch \((\d+)\)",
    "batch_size": r"batch size (\d+)",
    "training_clips": r"(\d+) training clips \(the first",
    "test_clips": r"Test split: (\d+) clips",
    "test_demonstrations": r"from only (\d+) human demonstrations",
    "wall_s": r"Wall time of this invocation: (\d+) s",
}
GAIN = re.compile(r"Frames before the last (\d+) add \+([\d.]+) points for SimpleRNN and "
                  r"\+([\d.]+) points for LSTM")


def _number(text: str) -> int | float | str | dict:
    plain = text.replace(",", "").strip()
    probe = re.fullmatch(r"([\d.]+) \(k=(\d+)\)", plain)  # memory probe: "0.477 (k=32)"
    if probe:
        return {"test_top1": float(probe.group(1)), "k": int(probe.group(2))}
    if re.fullmatch(r"-?\d+", plain):
        return int(plain)
    if re.fullmatch(r"-?\d*\.\d+", plain):
        return float(plain)
    return plain


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.lower().replace("top-", "top")).strip("_")


def tables(text: str) -> list[list[dict]]:
    """Every Markdown table of the report, rows as dicts keyed by the snake_case header."""
    found, lines = [], text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("|") and re.fullmatch(r"\|[-:|]+\|?", lines[i + 1].strip()) and \
                (i == 0 or not lines[i - 1].startswith("|")):
            header = [_key(c) for c in line.strip("|").split("|")]
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(dict(zip(header, map(_number, row.strip("|").split("|")),
                                     strict=True)))
            found.append(rows)
    return found


def extract(text: str) -> dict:
    runs, means, probe = tables(text)
    setup = {}
    for key, pattern in SETUP.items():
        match = re.search(pattern, text)
        if not match:
            raise ValueError(f"the report has no {key} (looked for {pattern!r})")
        setup[key] = _number(match.group(1))
    setup["seeds"] = sorted({run["seed"] for run in runs})
    setup["frames"] = sorted({run["frames"] for run in runs}, reverse=True)
    gains = {int(k): {"SimpleRNN": float(rnn), "LSTM": float(lstm)}
             for k, rnn, lstm in GAIN.findall(text)}
    older = [{"frames": frames, "last_k": k, "gain_points": gains[k]}
             for frames, k in zip(setup["frames"], sorted(gains, reverse=True), strict=True)]
    return {"source": "reports/rnn_vs_lstm.md", "setup": setup, "runs": runs, "means": means,
            "memory_probe": probe, "older_frames": older}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0] if args else "reports/rnn_vs_lstm.md")
    target = Path(args[1] if len(args) > 1 else source.with_suffix(".json"))
    try:
        report = extract(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"rnn_vs_lstm_json: error: {source}: {error}", file=sys.stderr)
        return 1
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"rnn_vs_lstm_json: wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
