"""Real media from Debian's packages, fetched once into the cache: opencv-doc's sample videos
and images (examples/data/Megamind.avi, vtest.avi, opencv4/html/handSrc.jpg, ...), for tests
and evaluation sets that need real footage without a network beyond the package mirror.

    path = opencv_doc_file("Megamind.avi")

The package is fetched with `apt-get download` and unpacked with `dpkg-deb -x` into
``cache_dir("debian", "opencv-doc")`` ($FRAMESCRIBE_CACHE_DIR, default ~/.cache/framescribe)
the first time a file is asked for (~95 MB download, ~300 MB unpacked), under a lock, so
concurrent callers fetch it once. A fresh machine's apt has no package lists: as root the lists
are updated (`apt-get update`) and the download retried; otherwise the error names the command.
`python -m framescribe.models.data.package_media` fetches it ahead of time (.ci/run does).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from framescribe.models.cache_dir import cache_dir

OPENCV_DOC = "opencv-doc"
OPENCV_DOC_ROOT = "usr/share/doc/opencv-doc"  # inside the package
OPENCV_DOC_SEARCH = ("examples/data", "opencv4/html")  # where bare file names are looked for
UNPACKED_MARKER = ".unpacked"  # written last: its presence means the unpack is complete


class PackageMediaError(FileNotFoundError):
    """A package's media cannot be fetched or has no such file; the message says why."""


def opencv_doc_file(name: str) -> Path:
    """A file of Debian's opencv-doc package: `name` is a path inside its doc folder
    ("examples/data/vtest.avi") or a bare file name, looked up in examples/data, then
    opencv4/html, then anywhere (where it must be unique)."""
    root = debian_package_dir(OPENCV_DOC) / OPENCV_DOC_ROOT
    if "/" in name:
        path = root / name
        if not path.is_file():
            raise PackageMediaError(f"{OPENCV_DOC}: no file {name} in {root}")
        return path
    for folder in OPENCV_DOC_SEARCH:
        if (root / folder / name).is_file():
            return root / folder / name
    found = sorted(p for p in root.rglob(name) if p.is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        raise PackageMediaError(f"{OPENCV_DOC}: no file named {name!r} in {root}")
    listed = ", ".join(str(p.relative_to(root)) for p in found[:5])
    raise PackageMediaError(f"{OPENCV_DOC}: {len(found)} files named {name!r} ({listed}); "
                            "give the path inside the doc folder")


def debian_package_dir(package: str) -> Path:
    """The folder a Debian package is unpacked in (its files under their installed paths),
    downloaded and unpacked on first use."""
    folder = cache_dir("debian", package)
    if (folder / UNPACKED_MARKER).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{package}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / UNPACKED_MARKER).is_file():
            _fetch_and_unpack(package, folder)
    return folder


def _fetch_and_unpack(package: str, folder: Path) -> None:
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise PackageMediaError(f"{package}: {tool} not found (Debian's {package} package "
                                    "is fetched with apt-get download and dpkg-deb)")
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{package}-") as temporary:
        work = Path(temporary)
        deb = _download(package, work)
        unpacked = work / "unpacked"
        result = subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise PackageMediaError(f"{package}: dpkg-deb -x failed: {_last_line(result)}")
        (unpacked / UNPACKED_MARKER).write_text(deb.name + "\n", encoding="utf-8")
        if folder.exists():  # a partial unpack left by an interrupted run (no marker)
            shutil.rmtree(folder)
        os.replace(unpacked, folder)


def _download(package: str, work: Path) -> Path:
    """`apt-get download package` into `work`: the .deb's path. Without package lists (a fresh
    machine), `apt-get update` first when running as root."""
    command = ["apt-get", "download", "-q", package]
    result = subprocess.run(command, cwd=work, capture_output=True, text=True)
    if result.returncode != 0 and os.geteuid() == 0:
        update = subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
        if update.returncode == 0:
            result = subprocess.run(command, cwd=work, capture_output=True, text=True)
    debs = sorted(work.glob(f"{package}_*.deb"))
    if result.returncode != 0 or not debs:
        raise PackageMediaError(
            f"{package}: `apt-get download {package}` failed ({_last_line(result)}); on a fresh "
            "machine run `apt-get update` (as root) first, and check that a Debian mirror is "
            "reachable")
    return debs[0]


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m framescribe.models.data.package_media",
        description=f"Fetch Debian's {OPENCV_DOC} package (sample videos and images) into the "
                    "cache now, rather than on first use; prints where its files are.")
    parser.parse_args(argv)
    try:
        root = debian_package_dir(OPENCV_DOC) / OPENCV_DOC_ROOT
    except PackageMediaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
