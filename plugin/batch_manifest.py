"""The job manifest of `framescribe batch`: OUTDIR/manifest.jsonl, append-only, one fsync'd
JSON object per line; what a rerun resumes from and what "exactly once" is checked against.

Records (every one has "v" (schema), "event", "run" (the run's id) and "time" (Unix s)):

- ``run``: a run began: engine, resume, options_hash, bundle {name, version, id}, the
  options, and counts (inputs, to_do, skipped).
- ``started``: an input was handed to the engine (``path``, ``name``).
- ``done``: all of an input's output files were written and renamed into place, then this
  record was appended: path, name, options_hash, bundle ("name@version"), bundle_id, source
  {size, mtime_ns}, frames, duration, captions, gestures, outputs [{path, sha256, bytes}]
  (relative to OUTDIR), timings {decode_s, infer_s, write_s}, engine.
- ``failed``: the input could not be captioned: path, name, stage (decode, inference, write),
  error_type, error (the message, naming the file).
- ``run_end``: the run finished (or was interrupted: ``interrupted`` true): its counts.

A kill at any moment leaves at worst a torn last line (dropped when the manifest is next
opened: its fsync never returned, so it was never acknowledged) and hidden temporary files of
the atomic writer (``.NAME.XXXXXXXXXXXX.tmp``, removed when the next run starts). A file is done
when its last ``done`` record matches the job's options hash and the file's fingerprint and its
outputs exist; everything else is (re)done. One run at a time per OUTDIR (an flock on
OUTDIR/.batch.lock, released by the kernel even on kill -9).

"Exactly once", as `verify_job` checks it, over the records since the last run started with
``--no-resume``: no input has two ``done`` records for the same options hash and fingerprint;
every ``started`` record has a later ``done`` or ``failed`` record for the same input; each
input's last ``done`` record names output files that exist with the SHA-256 it recorded; no
output-looking file is left that no ``done`` record names, and no temporary file is left.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterable
from typing import Any

MANIFEST_NAME = "manifest.jsonl"
LOCK_NAME = ".batch.lock"
SCHEMA_VERSION = 1
TERMINAL_EVENTS = ("done", "failed")
OUTPUT_EXTENSIONS = (".vtt", ".srt", ".json", ".jsonl")
# write_atomically's temporary files: "." + target name + "." + 12 hex digits + ".tmp"
TEMPORARY_FILE = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")


class ManifestError(ValueError):
    """The manifest cannot be used (corrupt in the middle, another run holds the lock)."""


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every record of a manifest, in order. A torn last line (a kill mid-write) is ignored;
    a bad line anywhere else is a ManifestError naming the line."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # tail: b"" when the file ends with a newline
    records = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ManifestError(f"{path}:{number}: not a JSON record ({error}); the manifest "
                                "is damaged: move it away to start the job afresh") from None
        if not isinstance(record, dict) or "event" not in record:
            raise ManifestError(f"{path}:{number}: not a manifest record")
        records.append(record)
    del tail  # never fsync'd completely: not a record
    return records


class BatchManifest:
    """OUTDIR/manifest.jsonl opened for one run: holds OUTDIR/.batch.lock, repairs a torn
    tail, then appends records (thread-safe, each written whole and fsync'd)."""

    def __init__(self, outdir: str | os.PathLike[str]):
        self.outdir = os.fspath(outdir)
        self.path = os.path.join(self.outdir, MANIFEST_NAME)
        self.records: list[dict[str, Any]] = []  # what earlier runs recorded
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._lock_fd: int | None = None

    def open(self) -> BatchManifest:
        os.makedirs(self.outdir, exist_ok=True)
        self._lock_fd = os.open(os.path.join(self.outdir, LOCK_NAME), os.O_RDWR | os.O_CREAT,
                                0o666)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(self._lock_fd)
            self._lock_fd = None
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise ManifestError(f"{self.outdir}: another framescribe batch run is writing "
                                    "here; wait for it or choose another output folder") \
                    from None
            raise
        os.ftruncate(self._lock_fd, 0)
        os.write(self._lock_fd, f"{os.getpid()}\n".encode())
        created = not os.path.exists(self.path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        self._repair_tail()
        if created:
            _fsync_directory(self.outdir)
        self.records = read_records(self.path)
        return self

    def _repair_tail(self) -> None:
        """Cut a torn last line so the next record starts on a line of its own."""
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        end = size
        while end > 0:
            start = max(0, end - 65536)
            chunk = os.pread(self._fd, end - start, start)
            if end == size and chunk.endswith(b"\n"):
                return
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                os.ftruncate(self._fd, start + newline + 1)
                os.fsync(self._fd)
                return
            end = start
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)

    def append(self, record: dict[str, Any]) -> None:
        """Append one record and fsync it: once this returns the record survives a crash."""
        self.append_many([record])

    def append_many(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records with one fsync for them all (each line is still written whole)."""
        data = b"".join(
            json.dumps({"v": SCHEMA_VERSION, **r}, ensure_ascii=False,
                       separators=(",", ":")).encode() + b"\n" for r in records)
        if not data:
            return
        with self._lock:
            if self._fd is None:
                raise ManifestError(f"{self.path}: the manifest is closed")
            view = memoryview(data)
            while view:  # O_APPEND: each write lands at the end
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> BatchManifest:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def since_last_reset(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records from the last run started with --no-resume on (all when there is none)."""
    start = 0
    for index, record in enumerate(records):
        if record.get("event") == "run" and record.get("resume") is False:
            start = index
    return records[start:]


def last_done(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """path -> the input's last ``done`` record (resume honours the last --no-resume)."""
    done: dict[str, dict[str, Any]] = {}
    for record in since_last_reset(records):
        if record.get("event") == "done":
            done[record["path"]] = record
    return done


def last_records(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """path -> the input's last record of any kind (started, done, failed)."""
    last: dict[str, dict[str, Any]] = {}
    for record in records:
        if "path" in record:
            last[record["path"]] = record
    return last


def is_done(record: dict[str, Any] | None, options_hash: str, fingerprint: dict[str, Any],
            outdir: str) -> bool:
    """True when ``record`` (an input's last done record) still stands for this job: same
    options hash, same file (size and mtime), and every output it names is in place."""
    if record is None or record.get("options_hash") != options_hash:
        return False
    if record.get("source") != fingerprint or fingerprint.get("size") is None:
        return False
    return all(os.path.isfile(os.path.join(outdir, o["path"])) for o in record["outputs"])


def clean_temporary_files(outdir: str | os.PathLike[str]) -> int:
    """Remove the atomic writer's leftover temporary files (a run killed mid-write) under
    ``outdir``; call only while holding the lock. Returns how many were removed."""
    removed = 0
    for directory, _, files in os.walk(outdir):
        for name in files:
            if TEMPORARY_FILE.match(name):
                try:
                    os.unlink(os.path.join(directory, name))
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_job(outdir: str | os.PathLike[str],
               expected: Iterable[str] | None = None) -> list[str]:
    """What breaks "every file done exactly once" in ``outdir`` (see the module docstring);
    an empty list means none. ``expected``: input paths that must all be done (the job is
    complete); without it only the records' own consistency is checked."""
    outdir = os.fspath(outdir)
    records = since_last_reset(read_records(os.path.join(outdir, MANIFEST_NAME)))
    problems: list[str] = []
    done_count: dict[tuple, int] = {}
    open_starts: dict[str, int] = {}
    for record in records:
        event, path = record.get("event"), record.get("path")
        if event == "started":
            open_starts[path] = open_starts.get(path, 0) + 1
        elif event in TERMINAL_EVENTS:
            open_starts.pop(path, None)
        if event == "done":
            key = (path, record.get("options_hash"), json.dumps(record.get("source"),
                                                                 sort_keys=True))
            done_count[key] = done_count.get(key, 0) + 1
    for (path, _, _), count in done_count.items():
        if count > 1:
            problems.append(f"{path}: done {count} times with the same options")
    for path in open_starts:
        problems.append(f"{path}: started but never done or failed")
    done = last_done(records)
    last = last_records(records)
    for path in expected or ():
        record = last.get(path)
        if record is None or record.get("event") != "done":
            state = "not in the manifest" if record is None else f"last {record['event']}"
            problems.append(f"{path}: not done ({state})")
    named: set[str] = set()
    for record in records:
        if record.get("event") == "done":
            named.update(o["path"] for o in record["outputs"])
    for path, record in done.items():
        for output in record["outputs"]:
            file = os.path.join(outdir, output["path"])
            if not os.path.isfile(file):
                problems.append(f"{path}: output {output['path']} is missing")
            elif file_sha256(file) != output["sha256"]:
                problems.append(f"{path}: output {output['path']} differs from its record")
    for directory, _, files in os.walk(outdir):
        for name in files:
            relative = os.path.relpath(os.path.join(directory, name), outdir).replace(
                os.sep, "/")
            if TEMPORARY_FILE.match(name):
                problems.append(f"{relative}: temporary file left behind")
            elif (name.endswith(OUTPUT_EXTENSIONS) and relative != MANIFEST_NAME
                  and relative not in named):
                problems.append(f"{relative}: output file that no done record names")
    return problems


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def new_run_id() -> str:
    """A sortable, unique id for a run: UTC time plus 6 random hex digits."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + os.urandom(3).hex()
