"""Every figure the README states in its measured sections is copied from a report a make target
writes: reports/bench.json (`make bench`), models/bundles/demo/manifest.json (`make train-demo`;
`make eval` prints the same metrics), reports/rnn_vs_lstm.json (`make experiment-rnn-vs-lstm`)
and reports/soak.json (`make soak`).

FIGURES maps README text to report values: a template is README text verbatim with each figure
written {n} (a number, compared as printed: rounded to the digits shown) or {w} (a word, compared
exactly). A number in those sections that no template covers and that is not a name or a setting
(ALLOWED) fails the test too, so a new figure needs a source before it can be printed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
# Section -> where its text without FIGURES starts (before it, the text is not about measurements).
SCOPES = {"Speed": None, "Demo bundle results": None, "The RNN-vs-LSTM study": None,
          "Caption a library offline": "What to expect", "Serve over gRPC": "### Soak",
          "What the shipped models know": None}
NUMBER = r"(-?\d+(?:,\d{3})*(?:\.\d+)?)"
# A number that is a figure: not part of a name (MobileNetV3, top-1, H.264, float32, 64x64).
LOOSE_NUMBER = re.compile(r"(?<![\w.,])(?<![A-Za-z]-)\d+(?:,\d{3})*(?:\.\d+)?(?!\w|[.,]\d)")
ALLOWED = [  # names, settings and targets, not measurements
    r"`[^`\n]*`",  # commands, flags, file names
    r"\d+-core", r"MobileNetV3-Small 224", r"\d+x\d+", r"[≥≤] [\d.]+", r"\(d\d+\)/\(d\d+\)",
    r"batch \d+( vs \d+)?", r"\(0 = none\)",
    r"\b26 shapes", r'"digit \d[^"]*"',  # the datasets' label set, an example caption
]


@dataclass(frozen=True)
class Figure:
    section: str
    template: str
    values: Callable[[Reports], tuple]


class Reports:
    """The reports, loaded on first use, with short names for the parts the README quotes."""

    @staticmethod
    def _load(relative: str) -> dict:
        path = REPO / relative
        assert path.is_file(), f"{relative} is missing: the README quotes it (see this test)"
        return json.loads(path.read_text(encoding="utf-8"))

    @cached_property
    def bench(self) -> dict:
        return self._load("reports/bench.json")

    @cached_property
    def manifest(self) -> dict:
        return self._load("models/bundles/demo/manifest.json")

    @cached_property
    def airwriting(self) -> dict:
        return self._load("models/bundles/airwriting/manifest.json")

    @cached_property
    def rnn(self) -> dict:
        return self._load("reports/rnn_vs_lstm.json")

    @cached_property
    def soak(self) -> dict:
        return self._load("reports/soak.json")

    def bundle(self, name: str) -> dict:
        return one(self.bench["server"]["bundles"], bundle=name)

    @property
    def demo(self) -> dict:
        return self.bundle("demo")

    @property
    def mobile(self) -> dict:
        return self.bundle("mobilenet224")

    @property
    def live(self) -> dict:
        return self.bench["live_priority"]

    @property
    def engines(self) -> dict:
        return self.bench["batch"]["engines"]

    @property
    def metrics(self) -> dict:
        return self.manifest["metrics"]


def landmark_row(reports: Reports, video: str, kind: str) -> dict:
    return one(reports.bench["landmarks"]["rows"], video=video, kind=kind)


def airwriting(reports: Reports, runtime: str, benchmark: str) -> dict:
    """The air-writing bundle's recorded metrics on one runtime."""
    manifest = reports.airwriting
    metrics = manifest["metrics"] if runtime == "tf" else manifest["litert"]["metrics"]
    return metrics[benchmark]


def airwriting_isolated(reports: Reports, benchmark: str) -> tuple:
    """clips, then TF top-1 and top-5, then LiteRT's, of an isolated air-writing table row."""
    return (airwriting(reports, "tf", benchmark)["isolated"]["count"],
            *(airwriting(reports, runtime, benchmark)["isolated"][k]
              for runtime in ("tf", "litert") for k in ("top1", "top5")))


def one(rows: list[dict], **match) -> dict:
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected one row with {match}, found {len(found)}"
    return found[0]


def fps(bundle: dict, streams: int, per_message: int) -> float:
    return one(bundle["server"], streams=streams, frames_per_message=per_message)["frames_per_s"]


def cpu(bundle: dict, streams: int, per_message: int) -> float:
    row = one(bundle["server"], streams=streams, frames_per_message=per_message)
    return row["server_cpu_ms_per_frame"] + row["client_cpu_ms_per_frame"]


def ratio(bundle: dict, name: str) -> float:
    return bundle["ratios"][name]["value"]


def met(bundle: dict, name: str) -> tuple[float, str]:
    entry = bundle["ratios"][name]
    return entry["value"], "met" if entry["met"] else "missed"


def runtimes(bundle: dict, key: str) -> tuple[float, float]:
    return bundle[key]["tf"], bundle[key]["litert"]


def flag(settings: dict, name: str) -> int:
    flags = settings["server_flags"]
    return int(flags[flags.index(name) + 1])


def mean_top1(r: Reports, frames: int) -> tuple[int, float, float]:
    rows = {m["cell"]: m["test_top1"] for m in r.rnn["means"] if m["frames"] == frames}
    return frames, rows["SimpleRNN"], rows["LSTM"]


def engine_row(e: dict) -> tuple:
    return (e["wall_s"], e["videos_per_hour"], e["frames_per_s"], e["startup_s"],
            e["steady_videos_per_hour"])


def soak_calls(r: Reports, kind: str, code: str = "OK") -> int:
    return r.soak["calls"]["by_kind"][kind].get(code, 0)


def soak_latency(r: Reports, kind: str, *measures: str) -> tuple:
    """p50 and p99 of each measure ("call_s", "finish_s") of a kind of call."""
    return tuple(r.soak["latency"][kind][m][p] for m in measures for p in ("p50", "p99"))


def soak_floor(r: Reports, name: str) -> str:
    return "met" if r.soak["floors"][name]["met"] else "missed"


def soak_rss_band(r: Reports) -> tuple[float, float]:
    """The server's least and greatest RSS sample (MiB) from the baseline on."""
    rss = r.soak["rss"]
    samples = [server for at_s, server, _ in rss["timeline"] if at_s >= rss["baseline_at_s"]]
    return min(samples), max(samples)


def soak_compared(r: Reports, name: str) -> tuple[int, int]:
    counts = r.soak["events"][name]
    return counts["equal"], counts["equal"] + counts["unequal"]


S, D, R, B = "Speed", "Demo bundle results", "The RNN-vs-LSTM study", "Caption a library offline"
G, K = "Serve over gRPC", "What the shipped models know"
FIGURES = [
    # What the shipped models know (only this figure is checked there)
    Figure(K, "finds the start and end of {n} of {n} shapes written",
           lambda r: (airwriting(r, "tf", "airwriting-real")["continuous"]["matched_events"],
                      airwriting(r, "tf", "airwriting-real")["continuous"]["true_events"])),
    # Speed: models, TF vs LiteRT
    Figure(S, "| encoder alone | {n} / {n} | {n} / {n} |",
           lambda r: (*runtimes(r.demo, "encoder_fps"), *runtimes(r.mobile, "encoder_fps"))),
    Figure(S, "| `Pipeline.annotate` on decoded frames | {n} / {n} | {n} / {n} |",
           lambda r: (*runtimes(r.demo, "pipeline_decoded_fps"),
                      *runtimes(r.mobile, "pipeline_decoded_fps"))),
    Figure(S, "| `Pipeline.annotate` on the JPEG frames (decoding included) "
              "| {n} / {n} | {n} / {n} |",
           lambda r: (*runtimes(r.demo, "pipeline_fps"), *runtimes(r.mobile, "pipeline_fps"))),
    Figure(S, "| LiteRT speed-up, encoder alone | {n}x | {n}x |",
           lambda r: tuple(b["encoder_fps"]["litert"] / b["encoder_fps"]["tf"]
                           for b in (r.demo, r.mobile))),
    Figure(S, "`model.predict` per frame behind a gRPC server, does {n} / {n} frames/s",
           lambda r: (fps({"server": r.demo["naive"]}, 1, 1),
                      fps({"server": r.mobile["naive"]}, 1, 1))),
    Figure(S, "batch-1 ms float32 -> int8, the encoder went {n} -> {n} (kept {w}) and the gesture "
              "step {n} -> {n} (kept {w})",
           lambda r: (*r.mobile["litert"]["batch1_ms"]["encoder"].values(),
                      "int8" if r.mobile["litert"]["int8_weights"]["encoder"] else "float32",
                      *r.mobile["litert"]["batch1_ms"]["gesture_step"].values(),
                      "int8" if r.mobile["litert"]["int8_weights"]["gesture_step"] else "float32")),
    Figure(S, "demo bundle stays float32 (`quantization` `{w}`)",
           lambda r: (r.demo["litert"]["quantization"],)),
    # Speed: server
    Figure(S, "`framescribe serve --runtime litert --max-batch-size {n} --max-queue-delay-ms {n}` "
              "process with its default {n} encoder worker processes",
           lambda r: (flag(r.bench["server"]["settings"], "--max-batch-size"),
                      flag(r.bench["server"]["settings"], "--max-queue-delay-ms"),
                      r.demo["memory"]["after_load"]["processes"] - 1)),
    Figure(S, "each (b) setting run {n} times",
           lambda r: (r.bench["server"]["settings"]["load_repeats"],)),
    Figure(S, "load average {n} at the start",
           lambda r: (r.bench["server"]["machine"]["load_average_1min"],)),
    Figure(S, "| (a) in-process on the same JPEG frames: decode + `Pipeline.annotate` (LiteRT), "
              "frames/s | {n} | {n} |",
           lambda r: (r.demo["pipeline_fps"]["litert"], r.mobile["pipeline_fps"]["litert"])),
    Figure(S, "| `Pipeline.annotate` alone on already decoded frames, frames/s | {n} | {n} |",
           lambda r: (r.demo["pipeline_decoded_fps"]["litert"],
                      r.mobile["pipeline_decoded_fps"]["litert"])),
    Figure(S, "| (b) server, {n} / {n} / {n} streams, one frame per message, frames/s "
              "| {n} / {n} / {n} | {n} / {n} / **{n}** |",
           lambda r: (*r.bench["server"]["settings"]["stream_counts"],
                      *(fps(b, s, 1) for b in (r.demo, r.mobile) for s in (1, 8, 32)))),
    Figure(S, "| (b) server, {n} / {n} / {n} streams, {n} frames per message (`FrameList`), "
              "frames/s | {n} / {n} / **{n}** | {n} / {n} / **{n}** |",
           lambda r: (*r.bench["server"]["settings"]["stream_counts"],
                      r.bench["server"]["settings"]["frames_per_message"][-1],
                      *(fps(b, s, 16) for b in (r.demo, r.mobile) for s in (1, 8, 32)))),
    Figure(S, "| (c) naive server (`predict` per frame), frames/s | {n} | {n} |",
           lambda r: (fps({"server": r.demo["naive"]}, 1, 1),
                      fps({"server": r.mobile["naive"]}, 1, 1))),
    Figure(S, "| (b)/(a) at {n} streams, {n} frames per message (target ≥ {n}) "
              "| **{n}, {w}** | **{n}, {w}** |",
           lambda r: (32, 16, r.demo["ratios"]["server_32_lists16_over_pipeline"]["target"],
                      *met(r.demo, "server_32_lists16_over_pipeline"),
                      *met(r.mobile, "server_32_lists16_over_pipeline"))),
    Figure(S, "| (b)/(a) at {n} streams, one frame per message (target ≥ {n}) "
              "| **{n}, {w}** | **{n}, {w}** |",
           lambda r: (32, r.demo["ratios"]["server_32_over_pipeline"]["target"],
                      *met(r.demo, "server_32_over_pipeline"),
                      *met(r.mobile, "server_32_over_pipeline"))),
    Figure(S, "| (b) over `Pipeline.annotate` on decoded frames, {n} / {n} per message "
              "| {n} / {n} | {n} / {n} |",
           lambda r: (16, 1, *(ratio(b, n) for b in (r.demo, r.mobile) for n in (
               "server_32_lists16_over_pipeline_decoded", "server_32_over_pipeline_decoded")))),
    Figure(S, "| (b)/(c) at {n} streams, {n} / {n} per message (target ≥ {n}) "
              "| {n} / {n} | {n} / {n} |",
           lambda r: (32, 16, 1, r.demo["ratios"]["server_32_over_naive"]["target"],
                      *(ratio(b, n) for b in (r.demo, r.mobile) for n in (
                          "server_32_lists16_over_naive", "server_32_over_naive")))),
    Figure(S, "| CPU ms per frame at {n} streams, server with workers + load generator, "
              "{n} / {n} per message; (a) | {n} / {n}; {n} | {n} / {n}; {n} |",
           lambda r: (32, 16, 1, *(v for b in (r.demo, r.mobile) for v in (
               cpu(b, 32, 16), cpu(b, 32, 1), b["pipeline_cpu_ms"]["litert"])))),
    Figure(S, "| (d) latency at frame 10 / {n} of one stream (medians of 100 frames), ms "
              "| {n} / {n} | {n} / {n} |",
           lambda r: (r.demo["latency"]["frames"], r.demo["latency"]["first_ms"],
                      r.demo["latency"]["last_ms"], r.mobile["latency"]["first_ms"],
                      r.mobile["latency"]["last_ms"])),
    Figure(S, "| (d10000)/(d10) (target ≤ {n}) | {n}, {w} | {n}, {w} |",
           lambda r: (r.demo["ratios"]["latency_last_over_first"]["target"],
                      *met(r.demo, "latency_last_over_first"),
                      *met(r.mobile, "latency_last_over_first"))),
    Figure(S, "| latency p50 / p99, ms | {n} / {n} | {n} / {n} |",
           lambda r: tuple(b["latency"][k] for b in (r.demo, r.mobile) for k in ("p50_ms",
                                                                                 "p99_ms"))),
    Figure(S, "| server RSS with its {n} workers, MiB (peak) | {n} ({n}) | {n} ({n}) |",
           lambda r: (r.demo["memory"]["after_long_stream"]["processes"] - 1,
                      *(v for b in (r.demo, r.mobile) for v in (
                          b["memory"]["after_long_stream"]["rss_mib"],
                          max(m["peak_rss_mib"] for m in b["memory"].values()))))),
    Figure(S, "({n} ms per MobileNet frame, {n} ms per demo frame)",
           lambda r: (r.mobile["jpeg_decode_us"] / 1000, r.demo["jpeg_decode_us"] / 1000)),
    Figure(S, "passes {n} JPEG frames/s end to end",
           lambda r: (r.mobile["ratios"]["server_32_frames_per_s"]["target"],)),
    Figure(S, "(a) for the demo bundle was {n} before the server runs and {n} after",
           lambda r: (r.demo["pipeline_fps_before"], r.demo["pipeline_fps_after"])),
    Figure(S, "(at {n} streams, one frame per message costs {n} ms more CPU per frame than {n})",
           lambda r: (32, cpu(r.demo, 32, 1) - cpu(r.demo, 32, 16), 16)),
    Figure(S, "one stream paced at {n} frames/s with interim labels, {n} frames a run, {n} runs "
              "alone and {n} beside back-to-back AnnotateClip calls of {n} frames at beam {n}",
           lambda r: (r.live["frame_rate"], r.live["stream_frames"], r.live["rounds"],
                      r.live["rounds"], r.live["clip_frames"], r.live["clip_beam"])),
    Figure(S, "alone p50 {n} ms, p99 {n} ms; beside the clips p50 {n} ms, p99 {n} ms. With the "
              "clips, p99 is {n}x its value alone: the target of at most {n}x is **{w}**. Each "
              "clip took {n} to {n} s.",
           lambda r: (r.live["alone"]["p50_ms"], r.live["alone"]["p99_ms"],
                      r.live["with_clip"]["p50_ms"], r.live["with_clip"]["p99_ms"],
                      r.live["p99_ratio"], r.live["target_ratio"],
                      "met" if r.live["meets_target"] else "missed",
                      min(r.live["clip_seconds"]), max(r.live["clip_seconds"]))),
    Figure(S, "on the first {n} frames of two opencv-doc videos",
           lambda r: (landmark_row(r, "Megamind.avi", "hands")["frames"],)),
    Figure(S, "Megamind.avi (720x528, a person talking) hands {n} frames/s, holistic {n} "
              "frames/s (face and pose found in {n} of the frames); vtest.avi (768x576, a street "
              "scene, people far away) hands {n}, holistic {n} frames/s. As ratios to OpenCV "
              "decoding the same frames in the same run: {n}x and {n}x, {n}x and {n}x.",
           lambda r: (landmark_row(r, "Megamind.avi", "hands")["frames_per_s"],
                      landmark_row(r, "Megamind.avi", "holistic")["frames_per_s"],
                      min(landmark_row(r, "Megamind.avi", "holistic")[k]
                          for k in ("face_found", "pose_found")),
                      landmark_row(r, "vtest.avi", "hands")["frames_per_s"],
                      landmark_row(r, "vtest.avi", "holistic")["frames_per_s"],
                      *(landmark_row(r, video, kind)["ratio_to_decoding"]
                        for video in ("Megamind.avi", "vtest.avi")
                        for kind in ("hands", "holistic")))),
    Figure(S, "`tests/benchmarks/benchmark_batch.py`, {n} clips of {n} s, {n}x{n} H.264",
           lambda r: (r.bench["batch"]["library"]["videos"],
                      r.bench["batch"]["library"]["seconds_each"],
                      *map(int, r.bench["batch"]["library"]["size"].split("x")))),
    Figure(S, "this run: local TF {n} videos/hour ({n} frames/s), local LiteRT {n} ({n} frames/s), "
              "Ray {n} ({n} frames/s; {n} once started)",
           lambda r: (*(r.engines[e][k] for e in ("local", "local-litert", "ray")
                        for k in ("videos_per_hour", "frames_per_s")),
                      r.engines["ray"]["steady_videos_per_hour"])),
    # Demo bundle results (the manifest)
    Figure(D, "training stages {n} s", lambda r: (r.manifest["training"]["timings"]["total_s"],)),
    Figure(D, "| moving-digits test ({n} clips) | exact match | ≥ 0.80 | **{n}** (one digit {n}, "
              "two digits {n}) |",
           lambda r: (r.metrics["moving-digits"]["count"],
                      r.metrics["moving-digits"]["exact_match"],
                      r.metrics["moving-digits"]["by_digit_count"]["1"]["exact_match"],
                      r.metrics["moving-digits"]["by_digit_count"]["2"]["exact_match"])),
    Figure(D, "| moving-digits test | BLEU-4 | ≥ 0.90 | **{n}** |",
           lambda r: (r.metrics["moving-digits"]["bleu4"],)),
    Figure(D, "| moving-digits test | digit slot accuracy / motion slot accuracy | ≥ 0.90 / ≥ 0.95 "
              "| **{n} / {n}** (two digits: {n} / {n}) |",
           lambda r: (r.metrics["moving-digits"]["digit_accuracy"],
                      r.metrics["moving-digits"]["motion_accuracy"],
                      r.metrics["moving-digits"]["by_digit_count"]["2"]["digit_accuracy"],
                      r.metrics["moving-digits"]["by_digit_count"]["2"]["motion_accuracy"])),
    Figure(D, "| moving-digits test | CIDEr-D / ROUGE-L / METEOR | – | {n} / {n} / {n} |",
           lambda r: tuple(r.metrics["moving-digits"][k] for k in ("cider", "rouge_l", "meteor"))),
    Figure(D, "`make train-airwriting` trained `models/bundles/airwriting` in {n} s wall-clock "
              "({n} CPU seconds on {n} cores)",
           lambda r: (r.airwriting["training"]["timings"]["end_to_end_s"],
                      r.airwriting["training"]["timings"]["cpu_s"],
                      r.airwriting["training"]["timings"]["cpu_cores"])),
    Figure(D, "| airwriting-lasa test (isolated, {n} clips) | top-1 / top-5 | ≥ 0.95 | "
              "**{n} / {n}** | {n} / {n} |",
           lambda r: airwriting_isolated(r, "airwriting-lasa")),
    Figure(D, "| airwriting-lasa test (continuous, {n} streams) | event F1 | ≥ 0.85 | **{n}** | "
              "{n} |",
           lambda r: (airwriting(r, "tf", "airwriting-lasa")["continuous"]["streams"],
                      *(airwriting(r, runtime, "airwriting-lasa")["continuous"]["event_f1"]
                        for runtime in ("tf", "litert")))),
    Figure(D, "| airwriting-real test (isolated, {n} clips) | top-1 / top-5 | ≥ 0.90 | "
              "**{n} / {n}** | {n} / {n} |",
           lambda r: airwriting_isolated(r, "airwriting-real")),
    Figure(D, "| airwriting-real test (continuous, {n} streams) | event F1 | ≥ 0.85 | **{n}** "
              "({n} of {n} events) | {n} |",
           lambda r: (airwriting(r, "tf", "airwriting-real")["continuous"]["streams"],
                      airwriting(r, "tf", "airwriting-real")["continuous"]["event_f1"],
                      airwriting(r, "tf", "airwriting-real")["continuous"]["matched_events"],
                      airwriting(r, "tf", "airwriting-real")["continuous"]["true_events"],
                      airwriting(r, "litert", "airwriting-real")["continuous"]["event_f1"])),
    Figure(D, "MediaPipe found the hand in {n} of the real-hand set's isolated frames, its "
              "fingertip a median {n} px from the true one",
           lambda r: (airwriting(r, "tf", "airwriting-real")["tracking"]["hand_found"],
                      airwriting(r, "tf", "airwriting-real")["tracking"]["tip_error_px_median"])),
    Figure(D, "--retune-events`, {n} s, which also re-measures airwriting-lasa",
           lambda r: (r.airwriting["training"]["event_tuning"]["retuned_s"],)),
    Figure(D, "on real-hand clips of training demonstrations ({n} and {n}; the test's stay "
              "unseen)",
           lambda r: tuple(r.airwriting["training"]["event_tuning"]["real_demos"])),
    Figure(D, "counts a frame active below P(idle) {n} and moves events' starts {n} and ends {n} "
              "frames earlier, chosen on {n} real-hand clips (event F1 {n} there)",
           lambda r: (r.airwriting["gesture_event_options"]["idle_threshold"],
                      r.airwriting["gesture_event_options"]["start_lead"],
                      r.airwriting["gesture_event_options"]["end_lead"],
                      r.airwriting["training"]["event_tuning"]["real_streams"],
                      r.airwriting["training"]["event_tuning"]["real_event_f1"])),
    Figure(D, "| lasa-airwriting test (isolated, {n} clips) | top-1 / top-5 | ≥ 0.95 / ≥ 0.99 "
              "| **{n} / {n}** (macro F1 {n}) |",
           lambda r: tuple(r.metrics["lasa-airwriting"]["isolated"][k]
                           for k in ("count", "top1", "top5", "macro_f1"))),
    Figure(D, "| lasa-airwriting test (continuous, {n} streams) | event F1 | ≥ 0.85 | **{n}** "
              "({n} of {n} events) |",
           lambda r: tuple(r.metrics["lasa-airwriting"]["continuous"][k] for k in (
               "streams", "event_f1", "matched_events", "true_events"))),
    Figure(D, "Training time by stage: encoder pretraining {n} s, caption features + decoder {n} "
              "s, gesture features + classifier {n} s",
           lambda r: tuple(r.manifest["training"]["timings"][k] for k in (
               "encoder_s", "caption_decoder_s", "gesture_classifier_s"))),
    Figure(D, "Seed {n};", lambda r: (r.manifest["training"]["options"]["seed"],)),
    Figure(D, "({n} human demonstrations)",
           lambda r: (r.rnn["setup"]["test_demonstrations"],)),
    # The RNN-vs-LSTM study
    Figure(R, "same budget ({n} units x {n} layers, {n} epochs, batch {n}, the same {n} training "
              "clips, seeds {n} and {n}), on the demo encoder's features of the {n}-frame and the "
              "{n}-frame lasa-airwriting clips",
           lambda r: (*(r.rnn["setup"][k] for k in ("units", "layers", "epochs", "batch_size",
                                                    "training_clips")),
                      *r.rnn["setup"]["seeds"], *r.rnn["setup"]["frames"])),
    Figure(R, "Measured (test top-1, mean of {n} seeds, {n} clips):",
           lambda r: (len(r.rnn["setup"]["seeds"]), r.rnn["setup"]["test_clips"])),
    Figure(R, "| 256 | {n} | **{n}** |", lambda r: mean_top1(r, 256)[1:]),
    Figure(R, "| 32 | {n} | **{n}** |", lambda r: mean_top1(r, 32)[1:]),
    Figure(R, "On {n} frames the SimpleRNN fits its training clips (train top-1 {n}) but scores "
              "the same from the last {n} frames of a test clip as from all {n}: it uses nothing "
              "older. The LSTM gains {n} points from those earlier frames.",
           lambda r: (256,
                      sum(x["train_top1"] for x in r.rnn["runs"]
                          if (x["frames"], x["cell"]) == (256, "SimpleRNN")) / 2,
                      one(r.rnn["older_frames"], frames=256)["last_k"], 256,
                      one(r.rnn["older_frames"], frames=256)["gain_points"]["LSTM"])),
    Figure(R, "({n} min on the shared 2-core CPU)", lambda r: (r.rnn["setup"]["wall_s"] / 60,)),
    # Caption a library offline (the batch benchmark)
    Figure(B, "--runtime litert   # CPU host: starts in {n} s",
           lambda r: (r.engines["local-litert"]["startup_s"],)),
    Figure(B, "(`make bench`, {n} clips of {n} s at {n}x{n} H.264, demo bundle; frames are the "
              "model's, {n} per second of video; `reports/bench.json`)",
           lambda r: (r.bench["batch"]["library"]["videos"],
                      r.bench["batch"]["library"]["seconds_each"],
                      *map(int, r.bench["batch"]["library"]["size"].split("x")),
                      r.engines["local"]["frames"] / r.engines["local"]["videos"]
                      / r.bench["batch"]["library"]["seconds_each"])),
    Figure(B, "| local, tf | {n} s | {n} | {n} | {n} s | {n} |",
           lambda r: engine_row(r.engines["local"])),
    Figure(B, "| local, litert | {n} s | {n} | {n} | {n} s | {n} |",
           lambda r: engine_row(r.engines["local-litert"])),
    Figure(B, "| ray, tf | {n} s | {n} | {n} | {n} s | {n} |",
           lambda r: engine_row(r.engines["ray"])),
    Figure(B, "Once running, they go at {n} (local, tf), {n} (local, litert) and {n} (ray) "
              "frames/s.",
           lambda r: tuple(r.engines[e]["steady_frames_per_s"]
                           for e in ("local", "local-litert", "ray"))),
    Figure(B, "Ray adds {n} s more start-up (cluster, actors loading the models) and, once "
              "running, goes at {n}x the local engine's frames/s",
           lambda r: (r.engines["ray"]["startup_s"] - r.engines["local"]["startup_s"],
                      r.bench["batch"]["ray_vs_local_steady_frames_per_s"])),
    # Serve over gRPC: the soak (reports/soak.json)
    Figure(G, "under, all at once, {n} StreamAnnotate clients",
           lambda r: (r.soak["settings"]["streams"],)),
    Figure(G, "half at {n}x real time (`FrameList`s of {n} frames), one in {n} of each with "
              "interim results; {n} AnnotateClip callers",
           lambda r: tuple(r.soak["settings"][k] for k in (
               "speedup", "fast_frames_per_message", "interim_share", "clip_callers"))),
    Figure(G, "for a call that ends within {n} s after the kill",
           lambda r: (r.soak["settings"]["kill_window_s"],)),
    Figure(G, "growth over {n}% from minute {n} to the end",
           lambda r: (r.soak["settings"]["max_rss_growth_pct"],
                      r.soak["rss"]["baseline_at_s"] / 60)),
    Figure(G, "The last run ({n} minutes of load, {n} calls;",
           lambda r: (r.soak["minutes"], r.soak["calls"]["total"])),
    Figure(G, "load average {n} at the end",
           lambda r: (r.soak["machine"]["load_average_1min_end"],)),
    Figure(G, "the server used {n} cores, its worker processes {n}, the clients {n})",
           lambda r: tuple(r.soak["machine"]["cpu_cores_used"][k]
                           for k in ("server", "server_children", "clients"))),
    Figure(G, "| streams, real time | {n} | – | {n} / {n} | {n} / {n} |",
           lambda r: (soak_calls(r, "stream_realtime"),
                      *soak_latency(r, "stream_realtime", "call_s", "finish_s"))),
    Figure(G, "| streams, {n}x | {n} | – | {n} / {n} | {n} / {n} |",
           lambda r: (r.soak["settings"]["speedup"], soak_calls(r, "stream_fast"),
                      *soak_latency(r, "stream_fast", "call_s", "finish_s"))),
    Figure(G, "| AnnotateClip (video files) | {n} | `INTERNAL` {n} (at the kill) | {n} / {n} | – |",
           lambda r: (soak_calls(r, "clip"), soak_calls(r, "clip", "INTERNAL"),
                      *soak_latency(r, "clip", "call_s"))),
    Figure(G, "| never reads | – | `DEADLINE_EXCEEDED` {n}, `CANCELLED` {n} (at the end) | – | – |",
           lambda r: (soak_calls(r, "never_reading", "DEADLINE_EXCEEDED"),
                      soak_calls(r, "never_reading", "CANCELLED"))),
    Figure(G, "| random bytes | – | `INVALID_ARGUMENT` {n} | – | – |",
           lambda r: (soak_calls(r, "garbage", "INVALID_ARGUMENT"),)),
    Figure(G, "Unexpected statuses: **{n}, {w}**.",
           lambda r: (r.soak["unexpected"]["count"], soak_floor(r, "unexpected_statuses"))),
    Figure(G, "Interim labels arrived {n} / {n} ms (p50 / p99)",
           lambda r: (r.soak["latency"]["interim_frame_ms"]["p50"],
                      r.soak["latency"]["interim_frame_ms"]["p99"])),
    Figure(G, "Events equal to the pipeline's: **{n} of {n}** streams and **{n} of {n}** clips, "
              "**{w}**.",
           lambda r: (*soak_compared(r, "streams"), *soak_compared(r, "clips"),
                      soak_floor(r, "events_equal"))),
    Figure(G, "Server RSS {n} MiB at minute {n}, {n} MiB at the end: growth **{n}%, {w}**",
           lambda r: (r.soak["rss"]["server_mib"]["baseline"], r.soak["rss"]["baseline_at_s"] / 60,
                      r.soak["rss"]["server_mib"]["end"], r.soak["rss"]["server_mib"]["growth_pct"],
                      soak_floor(r, "rss_growth_pct"))),
    Figure(G, "From minute {n} on, sampled every {n} s, the server's RSS stayed between {n} and "
              "{n} MiB",
           lambda r: (r.soak["rss"]["baseline_at_s"] / 60, r.soak["settings"]["progress_every_s"],
                      *soak_rss_band(r))),
    Figure(G, "child processes (encoder workers, clip decoder) {n} -> {n} MiB",
           lambda r: (r.soak["rss"]["workers_mib"]["baseline"],
                      r.soak["rss"]["workers_mib"]["end"])),
    Figure(G, "Streams still held by the server once the clients stopped: {n}.",
           lambda r: (r.soak["server_after"]["active_streams"],)),
]


def sections(text: str) -> dict[str, str]:
    """`## ` sections by title (their ### subsections included)."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {t: body for t, body in zip(parts[1::2], parts[2::2], strict=True) if t in SCOPES}


def pattern(template: str) -> re.Pattern:
    """The template as a regex: {n} a number, {w} a word, any space any run of white space."""
    pieces = re.split(r"(\{n\}|\{w\}|\s+)", template)
    return re.compile("".join(NUMBER if p == "{n}" else r"(\w+)" if p == "{w}" else
                              r"\s+" if p.isspace() else re.escape(p) for p in pieces))


def matches_as_printed(printed: str, value) -> bool:
    if isinstance(value, str):
        return printed == value
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    shown = float(printed.replace(",", ""))
    return abs(shown - value) <= 0.5 * 10 ** -decimals + 1e-9 * max(1.0, abs(value))


@pytest.fixture(scope="module")
def readme() -> dict[str, str]:
    found = sections(README.read_text(encoding="utf-8"))
    missing = sorted(set(SCOPES) - set(found))
    assert not missing, f"README.md has no section(s) {missing}: update SCOPES and FIGURES"
    return found


@pytest.fixture(scope="module")
def reports() -> Reports:
    return Reports()


@pytest.mark.parametrize("figure", FIGURES, ids=lambda f: f"{f.section}: {f.template[:50]}")
def test_readme_figure_is_the_report_s(figure, readme, reports):
    text = readme[figure.section]
    found = pattern(figure.template).findall(text)
    assert len(found) == 1, (f"README section {figure.section!r} should contain this once "
                             f"(found {len(found)}): {figure.template!r}")
    printed = found[0] if isinstance(found[0], tuple) else (found[0],)
    values = figure.values(reports)
    assert len(printed) == len(values), f"{figure.template!r}: {len(values)} values for the slots"
    wrong = [f"README {p!r} but the report says {v!r}" for p, v in zip(printed, values, strict=True)
             if not matches_as_printed(p, v)]
    assert not wrong, f"{figure.section}: {figure.template!r}: fix the README from the report: " \
                      + "; ".join(wrong)


@pytest.mark.parametrize("section", sorted(SCOPES))
def test_every_number_in_a_figure_section_has_a_source(section, readme):
    text, start = readme[section], SCOPES[section]
    if start:
        assert start in text, f"README section {section!r} has no {start!r}: update SCOPES"
        text = text[text.index(start):]
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)  # examples' settings
    for figure in FIGURES:
        if figure.section == section:
            text = pattern(figure.template).sub(" ", text)
    for allowed in ALLOWED:
        text = re.sub(allowed, " ", text)
    loose = [f"{m.group(0)} in '...{text[max(0, m.start() - 40):m.end() + 20]}...'"
             .replace("\n", " ") for m in LOOSE_NUMBER.finditer(text)]
    assert not loose, (f"README section {section!r} states numbers with no report behind them "
                       f"(add them to FIGURES in {Path(__file__).name}, or drop them): {loose}")


def test_litert_metrics_are_the_tensorflow_ones(reports):
    """The README says the LiteRT files reproduce the demo bundle's numbers exactly."""
    assert reports.manifest["litert"]["metrics"] == reports.metrics


def test_rnn_json_is_the_markdown_report_s(reports):
    """reports/rnn_vs_lstm.json is what `make experiment-rnn-vs-lstm` extracts from the .md."""
    from benchmarks.rnn_vs_lstm_json import extract

    markdown = (REPO / "reports" / "rnn_vs_lstm.md").read_text(encoding="utf-8")
    assert extract(markdown) == reports.rnn, \
        "stale: PYTHONPATH=tests python -m benchmarks.rnn_vs_lstm_json reports/rnn_vs_lstm.md"
