"""`framescribe serve`: a bundle over gRPC (cli.py only registers it). The options mirror
ServerOptions' fields; nothing of the server is imported until it runs."""

from __future__ import annotations

import os
import sys

from framescribe.plugin.model_side import quiet_tensorflow, require_model_side

SERVE_HELP = {
    "host": "address to listen on (default 127.0.0.1; 0.0.0.0 for all interfaces)",
    "port": "TCP port (default 50051; 0 picks a free one)",
    "runtime": "tf (TensorFlow, GPU when present) or litert (CPU, no TensorFlow)",
    "max_batch_size": "frames per encoder call (default 32)",
    "max_queue_delay_ms": "ms a frame may wait for a fuller batch (default 5)",
    "max_streams": "StreamAnnotate calls served at once (default 64)",
    "idle_timeout_s": "seconds without a message before a stream is closed (default 60)",
    "max_message_bytes": "largest gRPC message, bytes (default 32 MiB)",
    "max_pixels_per_frame": "largest image, width * height (default 3840*2160)",
    "max_frames_per_clip": "frames in one AnnotateClip request (default 3000)",
    "max_frames_per_message": "frames in one StreamAnnotate FrameList message (default 64)",
    "max_clip_bytes": "largest video file in AnnotateClip, bytes (default 32 MiB)",
    "max_queued_frames": "frames waiting for the encoder before RESOURCE_EXHAUSTED (2048)",
    "max_concurrent_clips": "AnnotateClip calls served at once (default 4)",
    "max_request_bytes_in_flight": "bytes of AnnotateClip requests held at once "
                                   "(default 128 MiB)",
    "max_stream_duration_s": "longest a stream may run, s (default 14400)",
    "min_stream_frame_rate": "frames/s a stream must average over each 60 s (default 0.5; "
                             "0 = no rule)",
    "max_queued_responses": "events a stream's client has not read before the server stops "
                            "reading its frames (default 256)",
    "max_pending_captions": "caption segments of one stream in decoding before the server "
                            "stops reading its frames (default 8)",
    "clip_decode_processes": "worker processes that demux and decode AnnotateClip video "
                             "files (default 1)",
    "clip_decode_timeout_s": "longest a video file may take to decode, s (default 300; the "
                             "call's deadline also applies)",
    "worker_timeout_s": "s an encoder worker may take to answer a batch before it is "
                        "replaced (default 30)",
    "decode_threads": "threads decoding images in the server process (default 2)",
    "encoder_processes": "LiteRT encoder worker processes that decode and encode frames "
                         "(default -1: the cores + 1, at most 8, with --runtime litert; 0 = in "
                         "the server process)",
    "metrics_port": "serve Prometheus metrics on this HTTP port (default off)",
    "metrics_host": "address of the metrics endpoint (default 127.0.0.1)",
    "tls_cert": "PEM certificate chain; with --tls-key the server speaks TLS",
    "tls_key": "PEM private key for --tls-cert",
    "token_file": "file with the bearer token clients must send (or set FRAMESCRIBE_TOKEN)",
    "allow_plaintext_token": "accept a token without TLS (it travels in clear text)",
    "grace_period_s": "seconds in-flight calls may finish after SIGTERM (default 10)",
    "mixed_precision": "float16 compute on GPU (runtime tf)",
    "litert_threads": "threads per LiteRT interpreter in the server process (default: 1 "
                      "with encoder worker processes, else the cores, at most 4)",
}


def run_serve(args) -> int:
    import asyncio
    import logging

    from framescribe.plugin.cli import default_bundle
    from framescribe.server.server_options import ServerOptionsError, load_server_options

    overrides = {name: getattr(args, name) for name in SERVE_HELP}
    overrides["bundle"] = args.bundle
    environ = dict(os.environ)
    if args.bundle is None and "FRAMESCRIBE_BUNDLE" not in environ and args.config is None:
        overrides["bundle"] = default_bundle()
    try:
        options = load_server_options(overrides, environ, args.config)
    except ServerOptionsError as error:  # a bad option: one line, exit 2 (as usage errors)
        print(f"framescribe serve: error: {error}", file=sys.stderr)
        return 2
    require_model_side("serve", options.runtime, also=("grpc_reflection",))
    quiet_tensorflow()
    from framescribe.server.app import serve

    logging.basicConfig(level=logging.INFO, format="framescribe: %(message)s")

    def ready(running) -> None:
        secure = "TLS" if options.tls_cert else "plaintext"
        pool = running.model.encoder_pool
        workers = (f", {pool.processes} + {pool.background_processes} (clips) encoder "
                   "processes") if pool is not None else ""
        print(f"framescribe: serving {options.bundle} on {options.host}:{running.port} "
              f"(runtime {running.servicer.pipeline.runtime.name}{workers}, {secure}"
              f"{', token required' if running.servicer.requires_token else ''})",
              file=sys.stderr, flush=True)
        if running.metrics_http is not None:
            print(f"framescribe: metrics on http://{options.metrics_host}:"
                  f"{running.metrics_http.port}"
                  "/metrics", file=sys.stderr, flush=True)

    try:
        asyncio.run(serve(options, ready))
    except ServerOptionsError as error:  # e.g. a token without TLS (checked at start-up)
        print(f"framescribe serve: error: {error}", file=sys.stderr)
        return 2
    print("framescribe: stopped", file=sys.stderr)
    return 0


def add_serve_parser(commands) -> None:
    from dataclasses import MISSING, fields

    from framescribe.server.server_options import ServerOptions

    serve = commands.add_parser(
        "serve", help="serve a bundle over gRPC",
        description="Serve a bundle's models over gRPC (framescribe.v1.FrameScribeService, "
                    "plus grpc.health.v1 and server reflection). Every option can also come "
                    "from a TOML config file (--config; keys are the option names with "
                    "underscores) or an environment variable FRAMESCRIBE_<OPTION> (e.g. "
                    "FRAMESCRIBE_MAX_STREAMS); flags win over variables, variables over the "
                    "file. SIGTERM or Ctrl-C drains in-flight calls, then exits.")
    serve.add_argument("--bundle", help="model bundle directory (default: the demo bundle)")
    serve.add_argument("--config", help="TOML file of server options")
    for spec in fields(ServerOptions):
        if spec.name == "bundle":
            continue
        flag = "--" + spec.name.replace("_", "-")
        if isinstance(spec.default, bool):
            serve.add_argument(flag, action="store_const", const=True, default=None,
                               help=SERVE_HELP[spec.name])
            continue
        default = None if spec.default is MISSING else spec.default
        kind = {int: int, float: float}.get(type(default), str)
        choices = ("tf", "litert") if spec.name == "runtime" else None
        serve.add_argument(flag, type=kind, choices=choices, help=SERVE_HELP[spec.name])
    serve.set_defaults(handler=run_serve)
