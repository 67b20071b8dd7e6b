"""The files of a `framescribe batch` job: INPUTS (files, folders, manifests) -> BatchInputs.

An input is one of:
- a video file (any extension: named explicitly, it is taken as a video);
- a folder, searched recursively for files with a video extension (hidden files and folders,
  and the job's own output folder, are skipped), in sorted order;
- a list of paths: a text file (``.txt``, ``.list``, ``.lst``: one path per line, blank lines
  and ``#`` comments skipped) or JSON Lines (``.jsonl``, ``.ndjson``: each line a JSON string
  or an object with a ``"path"``); relative paths are relative to the list's folder. A listed
  path that does not exist is kept: the job records it as failed rather than dropping it.

Each file is keyed by its absolute path with symlinks resolved (a file named twice is one
input) and gets a stable, unique output name: its path relative to where it was found (the
folder given, the list's folder, or just its name for a file given directly), without the
extension, plus the first 8 hex digits of the SHA-256 of its key, so same-named files from
different folders never collide and a rerun names every file the same way:

    /data/tapes/2019/intro.mp4  (INPUTS: /data/tapes)  ->  2019/intro.3f2a91bc.vtt, ...
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg",
    ".ts", ".mts", ".m2ts", ".ogv", ".3gp", ".mxf", ".dv",
})
TEXT_LIST_EXTENSIONS = frozenset({".txt", ".list", ".lst"})
JSONL_LIST_EXTENSIONS = frozenset({".jsonl", ".ndjson"})
NAME_HASH_DIGITS = 8


class InputError(ValueError):
    """An INPUT that cannot be used (missing, an unreadable list); the message names it."""


@dataclass(frozen=True)
class BatchInput:
    """One video of the job."""

    path: str  # absolute, symlinks resolved: the file's key in the job manifest
    name: str  # output stem relative to the output folder, "/"-separated: "2019/intro.3f2a91bc"
    size: int | None = None  # bytes when listed (None: missing); with mtime_ns, the file's
    mtime_ns: int | None = None  # fingerprint: a changed file is captioned again

    @property
    def fingerprint(self) -> dict[str, int | None]:
        return {"size": self.size, "mtime_ns": self.mtime_ns}


def is_list_file(path: str | os.PathLike[str]) -> bool:
    """True for the extensions read as lists of paths rather than as videos."""
    suffix = Path(path).suffix.lower()
    return suffix in TEXT_LIST_EXTENSIONS or suffix in JSONL_LIST_EXTENSIONS


def output_name(key: str, relative: str | os.PathLike[str]) -> str:
    """The output stem of the file keyed ``key`` found at ``relative`` under its root."""
    relative = PurePosixPath(Path(relative).as_posix())
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    stem = f"{relative.stem}.{digest[:NAME_HASH_DIGITS]}"
    parent = relative.parent
    return stem if str(parent) in ("", ".") else f"{parent}/{stem}"


def expand_inputs(specs: Sequence[str | os.PathLike[str]], *,
                  exclude: Iterable[str | os.PathLike[str]] = (),
                  extensions: frozenset[str] = VIDEO_EXTENSIONS) -> list[BatchInput]:
    """The job's videos, in the order given (folders sorted), each once. ``exclude``: folders
    not to search (the output folder). InputError for an INPUT that does not exist."""
    excluded = {os.path.realpath(p) for p in exclude}
    seen: set[str] = set()
    found: list[BatchInput] = []
    for spec in specs:
        spec = os.fspath(spec)
        if os.path.isdir(spec):
            pairs = ((path, os.path.relpath(path, spec))
                     for path in _walk(spec, excluded, extensions))
        elif os.path.isfile(spec) and is_list_file(spec):
            pairs = _read_list(spec)
        elif os.path.isfile(spec):
            pairs = iter([(spec, os.path.basename(spec))])
        else:
            raise InputError(f"{spec}: no such file or directory")
        for path, relative in pairs:
            key = os.path.realpath(path)
            if key in seen:
                continue
            seen.add(key)
            found.append(_batch_input(key, relative))
    names: dict[str, str] = {}
    for item in found:  # 8 hex digits of SHA-256: a clash is astronomically unlikely; say so
        other = names.setdefault(item.name, item.path)
        if other != item.path:
            raise InputError(f"{item.path} and {other} would both be written as {item.name}; "
                             "rename one of them")
    return found


def _batch_input(key: str, relative: str) -> BatchInput:
    try:
        stat = os.stat(key)
        size, mtime_ns = stat.st_size, stat.st_mtime_ns
    except OSError:
        size = mtime_ns = None
    return BatchInput(key, output_name(key, relative), size, mtime_ns)


def _walk(root: str, excluded: set[str], extensions: frozenset[str]) -> Iterator[str]:
    """Files under ``root`` with a video extension, sorted, hidden names and ``excluded``
    folders skipped. Unreadable subfolders are skipped (os.walk's default)."""
    for directory, subdirectories, files in os.walk(root, followlinks=True):
        subdirectories[:] = sorted(
            d for d in subdirectories if not d.startswith(".")
            and os.path.realpath(os.path.join(directory, d)) not in excluded)
        if os.path.realpath(directory) in excluded:
            subdirectories[:] = []
            continue
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in extensions:
                yield os.path.join(directory, name)


def _read_list(path: str) -> Iterator[tuple[str, str]]:
    """(path, path relative to the list's folder or its name) for each entry of a list."""
    base = os.path.dirname(os.path.abspath(path))
    jsonl = Path(path).suffix.lower() in JSONL_LIST_EXTENSIONS
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the list of videos ({error})") from None
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or (not jsonl and text.startswith("#")):
            continue
        entry = _jsonl_entry(path, number, text) if jsonl else text
        full = os.path.normpath(os.path.join(base, os.path.expanduser(entry)))
        relative = os.path.relpath(full, base)
        if relative == ".." or relative.startswith(".." + os.sep):
            relative = os.path.basename(full)
        yield full, relative


def _jsonl_entry(path: str, number: int, text: str) -> str:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}:{number}: not JSON ({error.msg})") from None
    if isinstance(value, dict):
        value = value.get("path")
    if not isinstance(value, str) or not value:
        raise InputError(f"{path}:{number}: expected a path string or an object with a "
                         f"\"path\", got {text[:80]}")
    return value
