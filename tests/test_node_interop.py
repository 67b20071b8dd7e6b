"""Interop: a Node.js client (@grpc/grpc-js + @grpc/proto-loader) streams a clip to the real
server and receives the same gesture events as the in-process pipeline finds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from server_helpers import DEMO, ServerThread, decoded_jpegs, jpeg_frames

from framescribe.models.data.lasa_airwriting import ContinuousStreams
from framescribe.models.inference.pipeline import Pipeline, PipelineOptions
from framescribe.server.server_options import ServerOptions

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "node" / "stream_clip.js"


def node_ready() -> str | None:
    """Why the Node.js client cannot run here, or None. In CI it must run."""
    if shutil.which("node") is None:
        return "node is not installed (the CI script installs it)"
    if not (ROOT / "node_modules" / "@grpc" / "grpc-js").is_dir():
        return "node_modules missing: run `make setup` with npm installed"
    return None


@pytest.mark.skipif(node_ready() is not None and not os.environ.get("CI"),
                    reason=str(node_ready()))
def test_node_client_streams_a_clip_and_receives_events(tmp_path):
    assert node_ready() is None, node_ready()
    frames = jpeg_frames(ContinuousStreams("test", count=1, seed=1234)[0].frames)
    for i, frame in enumerate(frames):
        (tmp_path / f"{i:06d}.jpg").write_bytes(frame.image.data)
    pipeline = Pipeline.from_bundle(DEMO)
    server = ServerThread(ServerOptions(bundle=str(DEMO)), pipeline)
    try:
        result = subprocess.run(["node", str(SCRIPT), server.address, str(tmp_path), "100"],
                                capture_output=True, text=True, timeout=120, cwd=ROOT)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events and all(e["kind"] == "gesture" for e in events)
    images = decoded_jpegs(frames)
    expected = pipeline.annotate([(f.timestamp_ms / 1000, image) for f, image in zip(
        frames, images, strict=True)], PipelineOptions(tasks=("gestures",)))
    assert [(e["label"], e["start_ms"], e["end_ms"]) for e in events] == [
        (g.label, round(g.start * 1000), round(g.end * 1000)) for g in expected.gestures]
