"""Prometheus metrics of one server, on its own registry (several servers may share a process).

Metric names: framescribe_requests_total{method}, framescribe_errors_total{method,code},
framescribe_request_latency_seconds{method}, framescribe_frame_latency_seconds (a streamed
frame's arrival to its result), framescribe_batch_size{stage}, framescribe_queue_depth{stage},
framescribe_active_streams. `method` is the RPC's short name (e.g. "AnnotateClip"); `stage` is a
batcher stage (e.g. "encoder", "gesture").
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import start_http_server as _start_http_server

BATCH_SIZE_BUCKETS = tuple(float(2**i) for i in range(9))  # 1, 2, 4, ..., 256 frames
REQUEST_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                           60.0)  # seconds
FRAME_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                         5.0)  # seconds


@dataclass(frozen=True)
class MetricsHttpServer:
    """A running /metrics endpoint; close() stops it."""

    server: WSGIServer
    thread: Thread
    port: int

    def close(self) -> None:
        """Stop serving and free the port (waits for the serving thread, a few ms)."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5.0)


class ServerMetrics:
    """The server's counters, histograms and gauges, on a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        options = {"registry": self.registry}
        self.requests = Counter("framescribe_requests", "RPCs started.", ["method"], **options)
        self.errors = Counter("framescribe_errors", "RPCs that ended with an error status.",
                              ["method", "code"], **options)
        self.request_latency = Histogram(
            "framescribe_request_latency_seconds", "RPC duration, seconds.", ["method"],
            buckets=REQUEST_LATENCY_BUCKETS, **options)
        self.frame_latency = Histogram(
            "framescribe_frame_latency_seconds",
            "Streamed frame's arrival to its result, seconds.",
            buckets=FRAME_LATENCY_BUCKETS, **options)
        self.batch_size = Histogram("framescribe_batch_size", "Items per model call.", ["stage"],
                                    buckets=BATCH_SIZE_BUCKETS, **options)
        self.queue_depth = Gauge("framescribe_queue_depth", "Items waiting for a model call.",
                                 ["stage"], **options)
        self.active_streams = Gauge("framescribe_active_streams",
                                    "StreamAnnotate calls in progress.", **options)

    def record_error(self, method: str, code: grpc.StatusCode | str) -> None:
        """Count an RPC that ended with a non-OK status."""
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        self.errors.labels(method=method, code=name).inc()

    @contextlib.contextmanager
    def track_request(self, method: str) -> Iterator[None]:
        """Count a request and time it (seconds), errors included."""
        self.requests.labels(method=method).inc()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.request_latency.labels(method=method).observe(time.perf_counter() - start)

    @contextlib.contextmanager
    def track_stream(self) -> Iterator[None]:
        """active_streams + 1 while the block runs."""
        self.active_streams.inc()
        try:
            yield
        finally:
            self.active_streams.dec()

    def observe_batch(self, stage: str, size: int) -> None:
        """One model call of `size` items at `stage`."""
        self.batch_size.labels(stage=stage).observe(size)

    def set_queue_depth(self, stage: str, depth: int) -> None:
        """Items now waiting at `stage`."""
        self.queue_depth.labels(stage=stage).set(depth)

    def render(self) -> str:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry).decode("utf-8")

    def start_http(self, port: int = 0,
                   host: str = "127.0.0.1") -> tuple[MetricsHttpServer, int]:
        """Serve /metrics over HTTP on a daemon thread; port 0 picks a free port.

        Returns (server, bound port); call server.close() to stop it.
        """
        server, thread = _start_http_server(port, addr=host, registry=self.registry)
        bound = server.server_port
        return MetricsHttpServer(server, thread, bound), bound
