"""The error dataset loaders raise, and the split names and checked file access they share.

Every message names the file (or folder) and says what is wrong and what was expected, e.g.
``"data/msvd/annotations.json: entry 'vid3' has no 'captions' (expected a list of strings)"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mkv", ".webm", ".mov")  # preference order
SPLITS: tuple[str, ...] = ("train", "validation", "test")  # the names loaders return


class DatasetError(ValueError):
    """A dataset's annotation or media files cannot be used; the message names the file."""


def check_split(split: str | None, where: object) -> str | None:
    """``split`` if it is None or one of SPLITS, else a DatasetError naming ``where``."""
    if split is not None and split not in SPLITS:
        raise DatasetError(
            f"{where}: unknown split {split!r} requested (expected one of {', '.join(SPLITS)}"
            " or None for all)"
        )
    return split


def read_json(path: Path) -> object:
    """The parsed JSON content of ``path``; a missing or malformed file is a DatasetError."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file (expected a JSON annotation file)") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None


def video_index(folder: Path) -> dict[str, Path]:
    """Video files in ``folder`` by file stem: {video_id: path}, VIDEO_EXTENSIONS only.

    Extensions match case-insensitively; when one id has several files, the earliest extension
    in VIDEO_EXTENSIONS wins. A missing folder is a DatasetError.
    """
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder (expected the dataset's video files here)")
    rank = {ext: i for i, ext in enumerate(VIDEO_EXTENSIONS)}
    best: dict[str, tuple[int, Path]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            stem, ext = os.path.splitext(entry.name)
            order = rank.get(ext.lower())
            if order is None or not entry.is_file():
                continue
            if stem not in best or order < best[stem][0]:
                best[stem] = (order, Path(entry.path))
    return {stem: path for stem, (_, path) in best.items()}


def require_type(value: object, kind: type | tuple[type, ...], where: str, expected: str) -> None:
    """Raise DatasetError ``"{where} is <actual type> (expected {expected})"`` unless it fits.

    ``bool`` never counts as ``int`` (JSON true/false are not frame numbers).
    """
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        raise DatasetError(f"{where} is {_json_type(value)} (expected {expected})")


def require_key(entry: Mapping[str, object], key: str, where: str, expected: str) -> object:
    """``entry[key]``, or DatasetError ``"{where} has no '{key}' (expected {expected})"``."""
    if key not in entry:
        raise DatasetError(f"{where} has no {key!r} (expected {expected})")
    return entry[key]


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"a number ({value!r})"
    return names.get(type(value), type(value).__name__)
