"""The framescribe element's StreamAnnotate client: a thread that sends the element's frames
(timed by the one clock, sampled to the model's rate, fitted and sent losslessly; with
local-landmarks, their landmarks extracted here instead) and hands the events back to the
element. Also where the element finds its venv (see its docstring).
GStreamer's Python loader puts this folder on sys.path, so the element imports it by name."""

from __future__ import annotations

import os
import queue
import site
import sys
import threading
import traceback
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GObject, Gst  # noqa: E402

FRAME_QUEUE = 32  # frames waiting for the sending thread; the chain blocks beyond that
PUT_WAIT_S = 0.1


def venv_dir() -> Path:
    return Path(os.environ.get("FRAMESCRIBE_GST_VENV") or
                Path(__file__).resolve().parents[3] / ".gst-venv")


def venv_site_packages() -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return venv_dir() / "lib" / version / "site-packages"


def use_venv() -> None:
    """Put the element's venv first on sys.path (the loader does not activate venvs)."""
    packages = venv_site_packages()
    if packages.is_dir() and str(packages) not in sys.path:
        sys.path.insert(0, str(packages))
        site.addsitedir(str(packages))  # its .pth files


class LandmarkStageMissing(RuntimeError):
    """local-landmarks=true, but MediaPipe does not import in the element's venv."""


def require_landmark_stage() -> None:
    """Import the landmark stage's MediaPipe before any frame is sent (local-landmarks);
    LandmarkStageMissing, saying what to install where, when the venv lacks it."""
    from framescribe.models.landmarks.mediapipe_import import MEDIAPIPE_VERSION, import_mediapipe

    try:
        import_mediapipe()
    except ImportError as error:
        raise LandmarkStageMissing(
            f"framescribe: local-landmarks=true extracts the landmarks here with MediaPipe, "
            f"which the element's venv {venv_dir()} cannot import ({error.__cause__ or error}): "
            f"run `make gst-plugin` in the framescribe repository (it installs MediaPipe "
            f"there), or install into that venv what `make setup` does: pip install --no-deps "
            f"mediapipe=={MEDIAPIPE_VERSION} and pip install 'framescribe[landmarks]'") from error


def parse_tasks(text: str) -> tuple[str, ...] | None:
    """'captions,gestures' -> ('captions', 'gestures'); '' -> None (all the bundle has)."""
    names = tuple(dict.fromkeys(t for t in text.replace(",", " ").split()))
    unknown = [t for t in names if t not in ("captions", "gestures")]
    if unknown:
        raise ValueError(f"tasks must be empty or a comma-separated list of captions, gestures; "
                         f"got {text!r}")
    return names or None


def frame_array(buffer: Gst.Buffer, shape: tuple[int, int, int]):
    """An RGB (height, width, 3) uint8 copy of a packed-RGB video buffer (rows may be padded)."""
    import numpy as np

    width, height, stride = shape
    data = buffer.extract_dup(0, buffer.get_size())
    needed = stride * (height - 1) + width * 3
    if len(data) < needed:
        raise ValueError(f"a {width}x{height} RGB buffer needs {needed} bytes, got {len(data)}")
    rows = np.ndarray((height, width, 3), np.uint8, buffer=data, strides=(stride, 3, 1))
    return np.ascontiguousarray(rows)


class StreamThread(threading.Thread):
    """One StreamAnnotate call: frames from `frames` (a queue; None ends it) out, events in."""

    def __init__(self, element, generation: int):
        super().__init__(name="framescribe-stream", daemon=True)
        self.element = element
        self.generation = generation
        self.frames: queue.Queue = queue.Queue(FRAME_QUEUE)
        self.settings = element.settings()
        self.period_ns = element.frame_period_ns()  # the video's frame period, from its caps
        self.origin_ns: int | None = None  # the first frame's timestamp

    def run(self) -> None:
        element, settings = self.element, self.settings
        try:
            try:
                from framescribe.models.video import FrameClock, FrameSampler
                from framescribe.plugin.client import Client, FramescribeError, StreamConfig
                from framescribe.plugin.client_requests import (
                    extracted_landmarks,
                    fitted_lossless,
                )
            except ImportError as error:
                element.fail(self.generation, Gst.CoreError.quark(), Gst.CoreError.MISSING_PLUGIN,
                             f"framescribe cannot import its client ({error}): run `make "
                             f"gst-plugin` in the framescribe repository, or set "
                             f"FRAMESCRIBE_GST_VENV to a venv made with `/usr/bin/python3 -m "
                             f"venv --system-site-packages` that has framescribe installed "
                             f"(looked in {venv_site_packages()})", traceback.format_exc())
                return
            try:
                tasks = parse_tasks(settings["tasks"])
                config = StreamConfig(tasks=tasks, interim=settings["interim"])
                tls = (settings["ca-file"] or True) if settings["tls"] else None
                with Client(settings["server"], tls=tls, token=settings["token"] or None,
                            timeout=10.0) as client:
                    info = client.model_info()
                    local = settings["local-landmarks"]
                    if local and info.gesture_input != "landmarks":
                        raise ValueError(f"local-landmarks=true: the bundle at "
                                         f"{settings['server']} reads images, not landmarks; "
                                         "leave the property out")
                    if local:
                        require_landmark_stage()
                    element.set_captioning(self.generation,
                                           "captions" in (tasks or info.tasks))
                    clock = FrameClock(self.period_ns / Gst.SECOND, reorder=0)
                    frames = self._frames(clock, FrameSampler(info.frame_rate))
                    sent = extracted_landmarks(frames, info.landmark_kind) if local \
                        else fitted_lossless(frames, info)
                    for event in client.stream(sent, config):
                        element.on_event(self.generation, event, self.origin_ns)
            except FramescribeError as error:
                code = {"UNAVAILABLE": Gst.ResourceError.OPEN_READ,
                        "UNAUTHENTICATED": Gst.ResourceError.NOT_AUTHORIZED,
                        "PERMISSION_DENIED": Gst.ResourceError.NOT_AUTHORIZED,
                        }.get(error.code.name, Gst.ResourceError.READ)
                element.fail(self.generation, Gst.ResourceError.quark(), code,
                             f"framescribe server {settings['server']}: {error}", repr(error))
            except LandmarkStageMissing as error:
                element.fail(self.generation, Gst.CoreError.quark(),
                             Gst.CoreError.MISSING_PLUGIN, str(error), traceback.format_exc())
            except ValueError as error:  # a bad property value (tasks, token, local-landmarks)
                element.fail(self.generation, Gst.ResourceError.quark(),
                             Gst.ResourceError.SETTINGS, f"framescribe: {error}",
                             traceback.format_exc())
        except Exception as error:  # noqa: BLE001 - becomes a pipeline error, never a hang
            element.fail(self.generation, Gst.StreamError.quark(), Gst.StreamError.FAILED,
                         f"framescribe: {type(error).__name__}: {error}", traceback.format_exc())
        finally:
            element.stream_done(self)

    def _frames(self, clock, sampler):
        """(seconds, RGB array) pairs of the sampled frames, until the queue yields None:
        buffer times through the one clock (first frame at 0 s; origin_ns remembers where
        that is in the video's timestamps), then sampled to the model's rate."""
        while (item := self.frames.get()) is not None:
            for seconds, (pts, buffer, shape) in clock.push(item[0] / Gst.SECOND, item):
                if self.origin_ns is None:
                    self.origin_ns = pts
                if sampler.accept(seconds):
                    yield seconds, frame_array(buffer, shape)

    def finish(self, stopping: threading.Event) -> None:
        """End the frames (blocks while the queue is full, unless `stopping` is set)."""
        while not stopping.is_set():
            try:
                self.frames.put(None, timeout=PUT_WAIT_S)
                return
            except queue.Full:
                if not self.is_alive():
                    return


def to_ns(seconds: float) -> int:
    return round(seconds * 1000) * 1_000_000  # the wire carries whole milliseconds


def event_message(event) -> Gst.Structure | None:
    """A stream event as the structure of the element's bus message (named `framescribe`;
    times as GstClockTime on the one clock); None for anything else."""
    kind = type(event).__name__
    if kind == "CaptionSegment":
        return _structure("caption", text=event.text, start=to_ns(event.start),
                          end=to_ns(event.end), log_prob=float(event.log_prob))
    if kind == "GestureEvent":
        return _structure("gesture", label=event.label, start=to_ns(event.start),
                          end=to_ns(event.end), confidence=float(event.confidence))
    if kind == "InterimGesture":
        return _structure("interim-gesture", label=event.label or "",
                          timestamp=to_ns(event.timestamp), confidence=float(event.confidence))
    return None


def _structure(kind: str, **fields) -> Gst.Structure:
    structure = Gst.Structure.new_empty("framescribe")
    structure.set_value("kind", kind)
    for name, value in fields.items():
        if isinstance(value, int) and not isinstance(value, bool):  # GstClockTime
            value = GObject.Value(GObject.TYPE_UINT64, value)
        structure.set_value(name.replace("_", "-"), value)
    return structure
