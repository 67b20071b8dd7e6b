"""Smoke tests of the server benchmark's machinery (no timing assertions: the machine is shared).

The naive baseline server and the real server run as subprocesses on the tiny bundle; the load
generator's counts, the latency bookkeeping, the report table and the JSON merge are checked.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from benchmarks import benchmark_server as bench


@pytest.fixture(scope="module")
def jpegs():
    return bench.encode_jpegs(bench.lasa_frames(12, 64))


def test_lasa_frames_and_jpegs_round_trip(jpegs):
    frames = bench.lasa_frames(3, 96)
    assert frames.shape == (3, 96, 96, 3) and frames.dtype == np.uint8
    decoded = bench.decode_jpegs(jpegs)
    assert decoded.shape == (12, 64, 64, 3)
    assert bench.jpeg_decode_us(jpegs[:4], repeats=1) > 0


def test_naive_server_answers_every_frame(tiny_bundle, jpegs):
    with bench.naive_server(tiny_bundle) as server:
        result = asyncio.run(bench.run_load(server.address, jpegs, streams=2,
                                            frames_per_stream=5))
        memory = bench.process_memory_mib(server.pid)
    assert (result.streams, result.frames_sent, result.frames_acknowledged) == (2, 10, 10)
    assert result.frames_per_s > 0
    assert memory["rss_mib"] > 0 and memory["peak_rss_mib"] >= memory["rss_mib"]


def test_a_started_server_used_as_a_context_manager_is_one_process(tiny_bundle):
    """framescribe_server()/naive_server() return started servers; `with` must not start a
    second process (the first would be left running after the block)."""
    server = bench.naive_server(tiny_bundle)
    first = server.process
    with server as again:
        assert again is server and server.process is first
    assert first.poll() is not None


def test_load_generator_and_long_stream_against_the_real_server(tiny_bundle, jpegs):
    flags = ("--max-batch-size", "8", "--max-queue-delay-ms", "1")
    with bench.framescribe_server(tiny_bundle, "litert", flags) as server:
        result = asyncio.run(bench.run_load(server.address, jpegs, streams=3,
                                            frames_per_stream=20))
        listed = asyncio.run(bench.run_load(server.address, jpegs, streams=2,
                                            frames_per_stream=21, frames_per_message=8))
        latency = asyncio.run(bench.long_stream(server.address, jpegs, frames=60, rate=500))
    assert (result.frames_sent, result.frames_acknowledged) == (60, 60)
    assert (listed.frames_per_message, listed.frames_sent, listed.frames_acknowledged) == (
        8, 42, 42)
    assert latency.frames == 60
    assert 0 < latency.p50_ms <= latency.p99_ms <= latency.max_ms
    assert latency.first_ms > 0 and latency.last_ms > 0


def test_pipeline_measurement_runs_in_a_child(tiny_bundle, jpegs, tmp_path):
    saved = tmp_path / "jpegs.npz"
    bench.save_jpegs(saved, jpegs)
    assert bench.load_jpegs(saved) == jpegs
    measured = bench.measure_pipeline(tiny_bundle, "litert", saved, count=16, repeats=1)
    assert set(measured) == {"pipeline", "pipeline_cpu_ms", "pipeline_decoded",
                             "pipeline_decoded_cpu_ms", "encoder", "encoder_cpu_ms"}
    assert measured["pipeline"] > 0 and measured["encoder"] > 0
    assert measured["pipeline_decoded"] > 0 and measured["pipeline_decoded_cpu_ms"] > 0


def test_latency_summary_windows():
    latencies = np.full(300, 0.002)
    latencies[-bench.POINT_WINDOW:] = 0.003
    summary = bench.latency_summary(latencies, rate=100.0)
    assert summary.first_ms == pytest.approx(2.0)
    assert summary.last_ms == pytest.approx(3.0)
    assert summary.ratio == pytest.approx(1.5)


def _fake_report() -> dict:
    load = {"streams": 1, "frames_per_message": 1, "frames_sent": 10,
            "frames_acknowledged": 10, "seconds": 1.0, "frames_per_s": 10.0,
            "server_cpu_ms_per_frame": 3.0,
            "client_cpu_ms_per_frame": 0.3}
    memory = {"rss_mib": 100.0, "peak_rss_mib": 120.0}
    latency = {"frames": 200, "rate": 100.0, "first_ms": 2.0, "last_ms": 2.1, "p50_ms": 2.0,
               "p99_ms": 4.0, "max_ms": 9.0, "early_ms": 2.0, "late_ms": 2.0,
               "ratio": 1.05, "early_late_ratio": 1.0}
    result = bench.BundleResult(
        "mobilenet224", "untrained", "LASA", 5000.0, 240.0, {}, "litert", ["--x"],
        pipeline_fps={"litert": 500.0, "tf": 400.0}, encoder_fps={"litert": 600.0, "tf": 450.0},
        pipeline_decoded_fps={"litert": 600.0, "tf": 500.0},
        pipeline_decoded_cpu_ms={"litert": 2.9, "tf": 3.6},
        pipeline_cpu_ms={"litert": 3.3, "tf": 4.0}, encoder_cpu_ms={"litert": 3.0, "tf": 3.5},
        server=[{**load, "streams": s, "frames_per_s": 450.0} for s in (1, 8, 32)]
        + [{**load, "streams": s, "frames_per_message": 16, "frames_per_s": 540.0}
           for s in (1, 8, 32)],
        naive=[load], latency=latency,
        memory={k: memory for k in ("after_warmup", "after_load", "after_long_stream")},
        naive_memory=memory)
    result.ratios = bench.ratios(result)
    settings = bench.asdict(bench.QUICK)
    return {"machine": {"cpu_count": 2, "usable_cpus": 2, "load_average_1min": 1.0,
                        "load_average_1min_end": 1.5, "python": "3", "tensorflow": "2",
                        "keras": "3"},
            "quick": True, "settings": settings, "bundles": [bench.asdict(result)],
            "elapsed_s": 1.0}


def test_ratios_and_table():
    report = _fake_report()
    ratios = report["bundles"][0]["ratios"]
    assert ratios["server_32_over_pipeline"]["value"] == pytest.approx(0.9)
    assert ratios["server_32_over_pipeline"]["met"]
    assert ratios["server_32_over_naive"]["value"] == pytest.approx(45.0)
    assert ratios["latency_last_over_first"]["met"]
    assert not ratios["server_32_frames_per_s"]["met"]  # 450 < 1,000
    assert ratios["server_32_over_pipeline_decoded"]["value"] == pytest.approx(0.75)
    assert not ratios["server_32_over_pipeline_decoded"]["met"]
    assert ratios["server_32_lists16_over_pipeline"]["value"] == pytest.approx(1.08)
    assert ratios["server_32_lists16_frames_per_s"]["value"] == 540.0
    assert ratios["cpu_per_frame_pipeline_over_server_32"]["value"] == pytest.approx(1.0)
    assert ratios["latency_late_over_early"]["met"] is None
    table = bench.format_report(report)
    assert "(b) server, 32 streams x 1 frame/msg" in table and "NO" in table
    assert "(b) server, 32 streams x 16 frames/msg" in table


def test_write_json_keeps_other_keys(tmp_path):
    path = tmp_path / "reports" / "bench.json"
    bench.write_json(path, {"first": 1})
    path.write_text(json.dumps({"models": {"x": 1}, "server": {"old": True}}))
    bench.write_json(path, _fake_report())
    saved = json.loads(path.read_text())
    assert saved["models"] == {"x": 1}
    assert saved["server"]["bundles"][0]["bundle"] == "mobilenet224"
