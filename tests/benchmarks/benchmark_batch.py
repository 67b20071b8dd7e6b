"""Batch captioning throughput: `framescribe batch` with the local engine and the Ray engine on
the same generated library, on this machine; merged under "batch" into reports/bench.json.

    python -m benchmarks.benchmark_batch [--quick] [--json reports/bench.json]

Each engine runs as the real command in a fresh process (Python, TensorFlow, and for Ray the
cluster and its actors all start inside the measurement) on a library of H.264 clips made with
ffmpeg. Reported per engine: wall time, videos/hour and frames/s over the whole command; the
fixed start-up cost (the same command on one clip); the steady rate, (N - 1) clips over the
difference of the two wall times (what each further clip costs once running); and the time a
rerun takes to find everything already done. Frames are the model's (sampled to the bundle's
frame rate), not the source's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PATTERNS = ("testsrc2", "mandelbrot", "smptebars", "life", "rgbtestsrc", "cellauto")


def make_library(directory: Path, videos: int, seconds: float, size: str = "320x240",
                 fps: int = 25) -> list[Path]:
    """``videos`` H.264 clips of ``seconds`` each (a few distinct sources, copied)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("the batch benchmark needs ffmpeg to make its clips")
    directory.mkdir(parents=True, exist_ok=True)
    sources = []
    for pattern in PATTERNS[:min(videos, len(PATTERNS))]:
        source = directory / f".{pattern}.mkv"
        subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"{pattern}=size={size}:rate={fps}", "-t", str(seconds), "-c:v",
                        "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(source)],
                       check=True, timeout=300)
        sources.append(source)
    clips = []
    for index in range(videos):
        clip = directory / f"clip{index:03d}.mkv"
        shutil.copy(sources[index % len(sources)], clip)
        clips.append(clip)
    for source in sources:
        source.unlink()
    return clips


def _batch(variant: str, library: Path, outdir: Path, bundle: str, workers: int,
           extra: list[str]) -> tuple[float, list[str]]:
    engine, _, runtime = variant.partition("-")
    command = [sys.executable, "-m", "framescribe.plugin.cli", "batch", str(library), "-o",
               str(outdir), "--engine", engine, "--runtime", runtime or "tf", "--bundle",
               bundle, "--workers", str(workers), "--quiet", *extra]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    began = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.monotonic() - began, command


def run_engine(engine: str, library: Path, one_clip: Path, scratch: Path, bundle: str,
               workers: int, extra: list[str]) -> dict:
    """`framescribe batch` runs in fresh processes (one clip, the library, the library again
    with everything done); their timings and rates."""
    from framescribe.plugin.batch_manifest import MANIFEST_NAME, read_records

    startup, _ = _batch(engine, one_clip, scratch / f"{engine}-one", bundle, workers, extra)
    outdir = scratch / f"{engine}-all"
    wall, command = _batch(engine, library, outdir, bundle, workers, extra)
    rerun, _ = _batch(engine, library, outdir, bundle, workers, extra)
    records = [r for r in read_records(outdir / MANIFEST_NAME) if r["event"] == "done"]
    videos = len(records)
    frames = sum(r["frames"] for r in records)
    video_s = sum(r["duration"] for r in records)
    marginal = wall - startup
    steady = marginal > 0 and videos > 1
    return {
        "videos": videos, "frames": frames, "video_seconds": round(video_s, 1),
        "wall_s": round(wall, 2), "startup_s": round(startup, 2),
        "videos_per_hour": round(3600 * videos / wall),
        "frames_per_s": round(frames / wall, 1),
        "steady_videos_per_hour": round(3600 * (videos - 1) / marginal) if steady else None,
        "steady_frames_per_s": round(frames * (videos - 1) / videos / marginal, 1)
        if steady else None,
        "video_seconds_per_s": round(video_s / wall, 2),
        "rerun_all_done_s": round(rerun, 2),
        "command": " ".join(["framescribe", *command[3:]]).replace(str(library), "LIBRARY")
                   .replace(str(outdir), "OUTDIR").replace(f"{REPO}{os.sep}", ""),
    }


def write_json(path: str | os.PathLike[str], report: dict) -> None:
    """Put the report under "batch" in the JSON file, keeping its other top-level keys."""
    from framescribe.plugin.atomic_files import update_json_key

    update_json_key(path, "batch", report)


def format_report(report: dict) -> str:
    lines = [f"batch captioning, {report['library']['videos']} videos x "
             f"{report['library']['seconds_each']} s ({report['library']['size']} H.264), "
             f"bundle {report['bundle']}, "
             f"{report['machine']['cpus']} CPUs, {report['machine']['gpus']} GPUs",
             f"{'engine':>12} {'wall s':>7} {'videos/h':>9} {'frames/s':>9} "
             f"{'steady videos/h':>16} {'steady frames/s':>16} {'start-up s':>11} "
             f"{'rerun s':>8}"]
    for name, row in report["engines"].items():
        lines.append(f"{name:>12} {row['wall_s']:>7.1f} {row['videos_per_hour']:>9,} "
                     f"{row['frames_per_s']:>9.1f} {row['steady_videos_per_hour'] or 0:>16,} "
                     f"{row['steady_frames_per_s'] or 0:>16.1f} {row['startup_s'] or 0:>11.1f} "
                     f"{row['rerun_all_done_s']:>8.1f}")
    return "\n".join(lines)


def _gpus() -> int:
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in listed.stdout.splitlines() if line.startswith("GPU "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.benchmark_batch",
        description="Measure `framescribe batch` throughput: the local engine (TensorFlow "
                    "and LiteRT runtimes) and the Ray engine.")
    parser.add_argument("--quick", action="store_true", help="a smaller library (noisier)")
    parser.add_argument("--videos", type=int, help="clips in the library (default 48; quick 12)")
    parser.add_argument("--seconds", type=float, help="length of each clip (default 20; "
                        "quick 8)")
    parser.add_argument("--engines", default="local,local-litert,ray",
                        help="comma-separated: local (runtime tf), local-litert, ray (runtime "
                             "tf); default all three (ray is skipped, with a note, when Ray "
                             "is not installed)")
    parser.add_argument("--bundle", default=str(REPO / "models" / "bundles" / "demo"))
    parser.add_argument("--json", metavar="PATH",
                        help="write the results under the 'batch' key of this JSON file")
    args = parser.parse_args(argv)
    videos = args.videos or (12 if args.quick else 48)
    seconds = args.seconds or (8.0 if args.quick else 20.0)
    cpus = os.cpu_count() or 1
    workers = min(4, cpus)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - {"local", "local-litert", "ray"}
    if unknown or not engines:
        print(f"benchmark_batch: error: --engines takes local, local-litert and/or ray, got "
              f"{args.engines!r}", file=sys.stderr)
        return 2
    from framescribe.plugin.batch_spec import BatchOptions, job_spec

    spec = job_spec(BatchOptions(bundle=args.bundle))

    def log(message: str) -> None:
        print(f"benchmark_batch: {message}", file=sys.stderr, flush=True)

    report = {"machine": {"cpus": cpus, "gpus": _gpus()},
              "library": {"videos": videos, "seconds_each": seconds, "size": "320x240",
                          "fps": 25, "codec": "h264"},
              "bundle": spec.bundle_label, "workers": workers,
              "formats": list(spec.formats), "engines": {}, "notes": []}
    with tempfile.TemporaryDirectory(prefix="framescribe-bench-batch-") as scratch:
        library = Path(scratch) / "library"
        log(f"making {videos} clips of {seconds:g} s with ffmpeg")
        clips = make_library(library, videos, seconds)
        one_clip = Path(scratch) / "one" / clips[0].name
        one_clip.parent.mkdir()
        shutil.copy(clips[0], one_clip)
        for engine in engines:
            extra: list[str] = []
            if engine == "ray":
                try:
                    import ray.data  # noqa: F401
                except ImportError:
                    report["notes"].append("ray not installed (pip install '.[ray]'): skipped")
                    log(report["notes"][-1])
                    continue
                extra = ["--ray-num-cpus", str(cpus)]
            log(f"{engine} engine ...")
            row = run_engine(engine, library, one_clip, Path(scratch), args.bundle, workers,
                             extra)
            report["engines"][engine] = row
            log(f"{engine}: {row['videos_per_hour']:,} videos/h, {row['frames_per_s']} "
                f"frames/s ({row['wall_s']} s)")
    rows = report["engines"]
    if "local" in rows and "ray" in rows:
        report["ray_vs_local_wall"] = round(rows["ray"]["wall_s"] / rows["local"]["wall_s"], 2)
        if rows["ray"]["steady_frames_per_s"] and rows["local"]["steady_frames_per_s"]:
            report["ray_vs_local_steady_frames_per_s"] = round(
                rows["ray"]["steady_frames_per_s"] / rows["local"]["steady_frames_per_s"], 2)
    print(format_report(report))
    if args.json:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
