"""Starting and stopping the gRPC server: bundle, batchers, health, reflection, auth, TLS,
metrics, graceful shutdown.

    options = load_server_options({"bundle": "models/bundles/demo", "port": 50051})
    asyncio.run(serve(options))          # until SIGTERM/SIGINT, then drains

`start_server(options)` returns a running `FrameScribeServer` (tests use it on port 0).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from framescribe.models.runtimes.tf_setup import configure_tensorflow
from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc

from .clip_decoder import ClipDecoder, ClipDecodeSettings
from .encoder_pool import EncoderPool, default_processes
from .frame_decoding import FrameLimits
from .server_options import ServerOptions, check_token_transport, read_token
from .servicer import CLIP_WINDOW, FrameScribeServicer
from .serving_model import ServingModel
from .wire_guard import WireGuardInterceptor

log = logging.getLogger("framescribe.server")


class _GoneClientFilter(logging.Filter):
    """grpc logs a traceback ("ExecuteBatchError raised in core by servicer method") when a
    call's client is gone or its stream was ended under it (e.g. the stream watchdog ending a
    client that reads nothing): expected churn, counted in the metrics, not a server bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "raised in core by servicer method" not in record.getMessage()


logging.getLogger("grpc._cython.cygrpc").addFilter(_GoneClientFilter())
BACKGROUND_ENCODER_PROCESSES = 1  # encoder workers for clips, beside encoder_processes
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["FrameScribeService"].full_name


def load_pipeline(options: ServerOptions):
    """The bundle on the chosen runtime. runtime "tf" turns on GPU memory growth (and mixed
    precision when asked) before any model is built; "litert" never imports TensorFlow."""
    from framescribe.models.inference.pipeline import Pipeline

    if options.runtime == "tf":
        configure_tensorflow(options.mixed_precision)
    return Pipeline.from_bundle(options.bundle, runtime=options.runtime,
                                threads=litert_threads(options))


def litert_threads(options: ServerOptions) -> int | None:
    """Threads per in-process LiteRT interpreter: the option; by default one when encoder
    workers encode (the interpreters left here step gestures and captions, which gain little
    from more, and spare threads only compete with live work: measured on 2 cores, a stream's
    interim p99 beside a big clip went from 2.5x to 1.9x its p99 alone), else None (the
    cores, at most 4)."""
    if options.litert_threads:
        return options.litert_threads
    return 1 if options.encoder_processes != 0 else None


def encoder_processes(options: ServerOptions, pipeline) -> int:
    """Encoder worker processes to start: options.encoder_processes, with -1 (auto) meaning
    default_processes() for a LiteRT bundle that encodes images, else 0."""
    if pipeline.runtime.name != "litert" or pipeline.reads_landmarks:
        return 0
    return default_processes() if options.encoder_processes < 0 else options.encoder_processes


async def _encoder_pool(options: ServerOptions, pipeline) -> EncoderPool | None:
    processes = encoder_processes(options, pipeline)
    if not processes:
        return None
    return await asyncio.to_thread(EncoderPool, options.bundle, processes,
                                   options.max_pixels_per_frame, options.worker_timeout_s,
                                   BACKGROUND_ENCODER_PROCESSES)


async def _clip_decoder(options: ServerOptions, pipeline) -> ClipDecoder | None:
    """The worker processes that decode AnnotateClip's video files (none for a landmark
    bundle, which refuses them)."""
    if pipeline.reads_landmarks:
        return None
    manifest = pipeline.manifest
    settings = ClipDecodeSettings(manifest.frame_rate, manifest.input_size, CLIP_WINDOW,
                                  options.max_pixels_per_frame, FrameLimits().max_side,
                                  options.max_frames_per_clip)
    return await ClipDecoder.start(settings, options.clip_decode_processes)


@dataclass
class FrameScribeServer:
    """A started server: its port, and the pieces shutdown needs."""

    server: grpc.aio.Server
    port: int
    servicer: FrameScribeServicer
    health: health.aio.HealthServicer
    model: ServingModel
    options: ServerOptions
    metrics_http: object | None = None

    async def stop(self, grace_s: float | None = None) -> None:
        """NOT_SERVING, refuse new calls (UNAVAILABLE), let in-flight calls finish within the
        grace period, then free the models."""
        grace = self.options.grace_period_s if grace_s is None else grace_s
        self.servicer.draining = True
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.model.close()
        if self.servicer.clip_decoder is not None:
            await self.servicer.clip_decoder.close()
        if self.metrics_http is not None:
            self.metrics_http.close()


async def start_server(options: ServerOptions, pipeline=None) -> FrameScribeServer:
    """Load the bundle (unless a pipeline is given) and start serving."""
    token = read_token(options)
    if check_token_transport(options, token):
        log.warning("the bearer token travels in clear text (no TLS, allow_plaintext_token "
                    "set): anyone on the network path can read it")
    pipeline = pipeline if pipeline is not None else load_pipeline(options)
    metrics, metrics_http = _metrics(options)
    model = ServingModel(pipeline, max_batch_size=options.max_batch_size,
                         max_delay_s=options.max_queue_delay_ms / 1000.0,
                         max_queued=options.max_queued_frames,
                         decode_threads=options.decode_threads,
                         on_batch=_batch_observer(metrics),
                         encoder_pool=await _encoder_pool(options, pipeline))
    servicer = FrameScribeServicer(model, options, metrics)
    servicer.clip_decoder = await _clip_decoder(options, pipeline)
    interceptors = [WireGuardInterceptor()]  # first: it sees the other interceptors' handlers
    servicer.requires_token = bool(token)
    if token:
        from .auth import BearerTokenInterceptor

        interceptors.append(BearerTokenInterceptor(token))
    size = options.max_message_bytes
    server = grpc.aio.server(interceptors=interceptors, options=[
        ("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size)])
    pb_grpc.add_FrameScribeServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME), server)
    address = f"{options.host}:{options.port}"
    if options.tls_cert:
        credentials = grpc.ssl_server_credentials(
            [(Path(options.tls_key).read_bytes(), Path(options.tls_cert).read_bytes())])
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    await server.start()
    for service in ("", SERVICE_NAME):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    return FrameScribeServer(server, port, servicer, health_servicer, model, options,
                             metrics_http)


def tune_garbage_collector() -> None:
    """Serving allocates many short-lived objects per frame (messages, futures); with the
    default thresholds the cyclic collector ran for ~9% of the event loop's time, rescanning
    the models' long-lived objects each time. Freeze those, and collect young objects less
    often (reference counting frees almost everything anyway; so a refused call must not
    leave reference cycles: servicer._stream ends a failed stream with set_code, not abort,
    whose exception tied ~80 objects per refused stream into cycles that outlived the young
    collections and grew a soak's server 34% in 8 minutes)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _metrics(options: ServerOptions):
    """Metrics are always counted; served over HTTP only when metrics_port is set."""
    from .metrics import ServerMetrics

    metrics = ServerMetrics()
    if options.metrics_port:
        http, _ = metrics.start_http(options.metrics_port, options.metrics_host)
        return metrics, http
    return metrics, None


def _batch_observer(metrics) -> Callable[[str, int, int], None]:
    def observe(stage: str, size: int, queued: int) -> None:
        metrics.observe_batch(stage, size)
        metrics.set_queue_depth(stage, queued)

    return observe


async def serve(options: ServerOptions, on_ready: Callable[[FrameScribeServer], None] =
                lambda s: None) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    running = await start_server(options)
    tune_garbage_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    on_ready(running)
    await stop.wait()
    log.info("shutting down: draining for up to %.0f s", options.grace_period_s)
    await running.stop()
