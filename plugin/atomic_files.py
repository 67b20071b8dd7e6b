"""Write a file so that readers see either the old contents or the new, never a partial file."""

from __future__ import annotations

import os
import secrets
import stat


def write_atomically(path: str | os.PathLike[str], text: str | bytes,
                     encoding: str = "utf-8") -> None:
    """Write ``text`` (or ``bytes``, as they are) to ``path`` via a temporary file in the same
    directory and ``os.replace``.

    The temporary file lives beside the target so the final rename never crosses filesystems.
    A new file gets the usual permissions (0o666 less the umask); an existing file keeps its mode.
    On any error the temporary file is removed and the target is left untouched.
    """
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    tmp_path = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        binary = isinstance(text, bytes)
        with (open(fd, "wb") if binary else open(fd, "w", encoding=encoding, newline="")) as tmp:
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        try:
            os.chmod(tmp_path, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            pass
        os.replace(tmp_path, path)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename durable where the platform allows opening a directory (POSIX)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def update_json_key(path: str | os.PathLike[str], key: str, value) -> None:
    """Set one top-level key of a JSON object file, keeping the others (e.g. the sections of
    reports/bench.json that different benchmarks write). Read-modify-write under an flock on
    `.<name>.lock` beside it, written atomically; a missing or unreadable file starts empty."""
    import fcntl
    import json
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        document: dict = {}
        if path.is_file():
            try:
                existing = json.loads(path.read_text("utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                existing = None
            if isinstance(existing, dict):
                document = existing
        document[key] = value
        write_atomically(path, json.dumps(document, indent=2) + "\n")
