"""GStreamer element `framescribe`: timed captions (and gesture events) from a framescribe server.

    make gst-plugin && export GST_PLUGIN_PATH=$PWD/plugin/gstreamer
    gst-launch-1.0 filesrc location=talk.mp4 ! decodebin ! videoconvert ! video/x-raw,format=RGB \\
        ! framescribe server=localhost:50051 name=fs ! queue ! textoverlay name=overlay \\
        ! videoconvert ! autovideosink  fs.text_src ! queue ! overlay.text_sink

Pads: `sink` and `src` (video/x-raw, format=RGB; the video passes through unchanged) and
`text_src` (text/x-raw, format=utf8: one buffer per caption, PTS and duration = the caption's
start and end, in the video's timestamps). Every caption, gesture event and (with interim=true)
interim gesture label is also posted on the bus as an element message whose structure is named
`framescribe`: kind ("caption", "gesture", "interim-gesture"), text (captions) or label
(gestures), start and end (GstClockTime; "timestamp" for interim labels), log-prob (captions) or
confidence (gestures). Bus messages use framescribe's one clock, as every entry point does (the
first frame at 0, times repaired by models/video/frame_clock.py), so they equal what `framescribe
caption` gives for the same file; the text pad's buffers are in the video's own timestamps.
Frames are sampled to the model's frame rate here, as the server would, and streamed over
StreamAnnotate from a background thread; text goes out from a thread of its own.

A caption is known only once its segment's last frame has been sent, so while captions are
wanted the element holds each video buffer until the caption covering it has arrived (at most
`max-delay`; the latency query reports it): text and video then line up for textoverlay and
muxers. max-delay=0 passes video through at once (captions then reach the text pad after their
video; read them from the bus). Time with no caption is announced on the text pad with GAP
events, so downstream never waits on it.

local-landmarks=true (a landmark bundle: ModelInfo gesture_input "landmarks") runs the models'
one landmark stage, MediaPipe, in the element and sends the server only the landmarks, as
`framescribe caption --local-landmarks` does: no pixels leave the machine, and the events are
the same. It needs MediaPipe in the element's venv (`make gst-plugin` installs it) and the
.task files `make setup` builds.

Errors (server unreachable, wrong token, a task the bundle lacks) are posted as GStreamer error
messages naming the server, so gst-launch-1.0 stops with a non-zero status.

Debian's plugin loader embeds /usr/bin/python3: the element's own imports (framescribe's client,
grpcio, numpy, OpenCV; MediaPipe for local-landmarks) come from a venv of that interpreter,
`.gst-venv` beside this repository (made by `make gst-plugin`) or the one named by
FRAMESCRIBE_GST_VENV. Only gi is imported at load time, so gst-inspect-1.0 works even before that
venv exists.
"""

from __future__ import annotations

import collections
import os
import queue
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from framescribe_stream import (  # noqa: E402
    PUT_WAIT_S,
    StreamThread,
    event_message,
    to_ns,
    use_venv,
)
from gi.repository import GLib, GObject, Gst, GstVideo  # noqa: E402

use_venv()
Gst.init_check(None)

VIDEO_CAPS = "video/x-raw,format=RGB"
TEXT_CAPS = "text/x-raw,format=utf8"
DEFAULT_SERVER = "localhost:50051"
DEFAULT_MAX_DELAY = 5 * Gst.SECOND


def _valid(time: int) -> bool:
    return time != Gst.CLOCK_TIME_NONE


class FramescribeElement(Gst.Element):
    __gtype_name__ = "GstFramescribe"
    GST_PLUGIN_NAME = "framescribe"

    __gstmetadata__ = (
        "framescribe captions",
        "Filter/Analyzer/Video",
        "Streams video frames to a framescribe gRPC server; passes the video through and emits "
        "its captions as timed text (text_src pad) and captions and gesture events as element "
        "messages named 'framescribe' on the bus",
        "framescribe",
    )

    __gsttemplates__ = (
        Gst.PadTemplate.new("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS,
                            Gst.Caps.from_string(VIDEO_CAPS)),
        Gst.PadTemplate.new("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS,
                            Gst.Caps.from_string(VIDEO_CAPS)),
        Gst.PadTemplate.new("text_src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS,
                            Gst.Caps.from_string(TEXT_CAPS)),
    )

    _RW = GObject.ParamFlags.READWRITE
    __gproperties__ = {
        "server": (str, "Server", "host:port of the framescribe gRPC server", DEFAULT_SERVER,
                   _RW),
        "tasks": (str, "Tasks", "Comma-separated tasks: captions, gestures; empty for all the "
                  "server's bundle supports", "", _RW),
        "token": (str, "Token", "Bearer token the server requires (empty: FRAMESCRIBE_TOKEN "
                  "from the environment, if set). A token set here is visible in pipeline "
                  "strings and gst-launch-1.0's command line (ps): prefer FRAMESCRIBE_TOKEN",
                  "", _RW),
        "tls": (bool, "TLS", "Connect with TLS", False, _RW),
        "ca-file": (str, "CA file", "PEM root certificates for TLS (empty: the system's)", "",
                    _RW),
        "interim": (bool, "Interim", "Also post an interim-gesture message for every sampled "
                    "frame", False, _RW),
        "max-delay": (GObject.TYPE_UINT64, "Max delay", "Longest time (ns) video is held back "
                      "waiting for the caption that covers it; 0 passes it through at once",
                      0, GLib.MAXUINT64, DEFAULT_MAX_DELAY, _RW),
        "local-landmarks": (bool, "Local landmarks", "For a bundle whose gestures read "
                            "landmarks: extract the MediaPipe landmarks in this element and send "
                            "the server only those, so no pixels leave this machine (an error "
                            "with a bundle that reads images). Needs the model side's MediaPipe "
                            "in the element's venv (`make gst-plugin` installs it) and its .task "
                            "files (`make setup`)", False, _RW),
    }

    def __init__(self):
        super().__init__()
        self._props = {"server": DEFAULT_SERVER, "tasks": "", "token": "", "tls": False,
                       "ca-file": "", "interim": False, "max-delay": DEFAULT_MAX_DELAY,
                       "local-landmarks": False}
        self.sinkpad = Gst.Pad.new_from_template(self.get_pad_template("sink"), "sink")
        self.sinkpad.set_chain_function_full(self._chain)
        self.sinkpad.set_event_function_full(self._sink_event)
        self.srcpad = Gst.Pad.new_from_template(self.get_pad_template("src"), "src")
        self.srcpad.set_event_function_full(self._src_event)
        self.srcpad.set_query_function_full(self._src_query)
        self.textpad = Gst.Pad.new_from_template(self.get_pad_template("text_src"), "text_src")
        self.textpad.set_event_function_full(self._src_event)
        self.textpad.set_query_function_full(self._src_query)
        for pad in (self.sinkpad, self.srcpad, self.textpad):
            self.add_pad(pad)
        self._lock = threading.Condition()
        self._stopping = threading.Event()  # flushing or shutting down: stop waiting
        self._text_items: queue.Queue = queue.Queue()
        self._text_thread: threading.Thread | None = None
        self._shape: tuple[int, int, int] | None = None  # width, height, row stride (caps)
        self._period = Gst.MSECOND  # a frame's duration when buffers have none (caps)
        self._seek_seqnum = None  # of the last seek sent upstream
        self._reset()

    # -- properties ------------------------------------------------------------------------
    def do_get_property(self, prop):
        return self._props[prop.name]

    def do_set_property(self, prop, value):
        with self._lock:
            self._props[prop.name] = value

    def settings(self) -> dict:
        with self._lock:
            props = dict(self._props)
        props["token"] = props["token"] or os.environ.get("FRAMESCRIBE_TOKEN", "")
        return props

    # -- state (the lock guards everything the stream threads touch) ------------------------
    def _reset(self) -> None:
        with self._lock:
            self._generation = getattr(self, "_generation", 0) + 1
            self._stream: StreamThread | None = None
            self._captioning: bool | None = None  # unknown until the server says
            self._settled = 0  # captions are known up to here (ns)
            self._text_end = 0  # the text pad is covered (caption or GAP) up to here (ns)
            self._error = False
            self._lock.notify_all()
        self._held: collections.deque = collections.deque()  # streaming thread only
        self._newest = Gst.CLOCK_TIME_NONE

    def do_change_state(self, transition):
        if transition == Gst.StateChange.READY_TO_PAUSED:
            self._stopping.clear()
            self._shape = None
            self._reset()
            self._text_items = queue.Queue()
            self._text_thread = threading.Thread(target=self._push_text, daemon=True,
                                                 args=(self._text_items,), name="framescribe-text")
            self._text_thread.start()
        if transition == Gst.StateChange.PAUSED_TO_READY:
            self._stopping.set()  # before the pads deactivate: a waiting chain returns
        result = Gst.Element.do_change_state(self, transition)
        if transition == Gst.StateChange.PAUSED_TO_READY:
            self._end_stream()
            self._text_items.put(None)
            if self._text_thread is not None:
                self._text_thread.join(5)
                self._text_thread = None
            self._held.clear()
        return result

    def _end_stream(self) -> None:
        """Forget the current stream: its thread ends on its own; its events are dropped."""
        with self._lock:
            stream, self._stream = self._stream, None
            self._generation += 1
            self._lock.notify_all()
        if stream is not None:
            try:
                stream.frames.put_nowait(None)
            except queue.Full:
                threading.Thread(target=stream.finish, args=(threading.Event(),),
                                 daemon=True).start()

    # -- called from the stream thread -----------------------------------------------------
    def set_captioning(self, generation: int, captioning: bool) -> None:
        with self._lock:
            if generation == self._generation:
                self._captioning = captioning
                self._lock.notify_all()

    def frame_period_ns(self) -> int:
        """The video's frame period from its caps (40 ms when they state no frame rate)."""
        with self._lock:
            return self._period if self._period > Gst.MSECOND else Gst.SECOND // 25

    def on_event(self, generation: int, event, origin_ns: int | None) -> None:
        """A stream event (times on the one clock) to the bus, and a caption also to the text
        pad at its place in the video's timestamps (origin_ns: the first frame's)."""
        message = event_message(event)
        if message is None:
            return
        with self._lock:
            if generation != self._generation:
                return
            if type(event).__name__ == "CaptionSegment":
                start, end = to_ns(event.start), to_ns(event.end)
                buffer = Gst.Buffer.new_wrapped(event.text.encode("utf-8"))
                buffer.pts, buffer.duration = start + (origin_ns or 0), max(end - start, 0)
                self._text_items.put((generation, "buffer", buffer))
                self._text_end = max(self._text_end, buffer.pts + buffer.duration)
                self._settled = max(self._settled, buffer.pts + buffer.duration)
                self._lock.notify_all()
        self.post_message(Gst.Message.new_element(self, message))

    def fail(self, generation: int, domain, code, text: str, debug: str) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._error = True
            self._lock.notify_all()
        error = GLib.Error.new_literal(domain, text, int(code))
        self.post_message(Gst.Message.new_error(self, error, debug))

    def stream_done(self, stream: StreamThread) -> None:
        with self._lock:  # wakes _drain
            self._lock.notify_all()

    # -- the text pad: its own thread, so text and video never wait on each other here --------
    def _push_text(self, items: queue.Queue) -> None:
        position = 0  # the end of what went out (captions and GAPs), ns
        while (item := items.get()) is not None:
            generation, kind, payload = item
            with self._lock:
                if generation != self._generation and kind in ("buffer", "gap"):
                    continue
            if kind == "buffer":
                end = payload.pts + payload.duration
                self.textpad.push(payload)  # NOT_LINKED, FLUSHING: nothing to do
                if end < position:
                    # A caption later than the video (max-delay reached or 0): textoverlay
                    # moved its text position back to the caption's start, so say again how
                    # far the text is known, or it would wait for text that is not coming.
                    self.textpad.push_event(Gst.Event.new_gap(end, position - end))
                position = max(position, end)
            elif kind == "gap":
                self.textpad.push_event(payload)
                start, duration = payload.parse_gap()
                position = max(position, start + duration)
            else:
                if payload.type == Gst.EventType.SEGMENT:  # a new stream (after a seek)
                    position = 0
                self.textpad.push_event(payload)

    def _queue_text_event(self, event: Gst.Event) -> None:
        with self._lock:
            self._text_items.put((self._generation, "event", event))

    def _cover_text(self, pts: int, duration: int) -> None:
        """Announce (GAP) that no caption covers the video about to go out at `pts`."""
        with self._lock:
            if self._text_end > pts:
                return
            start, end = self._text_end, pts + duration
            self._text_end = end
            self._text_items.put((self._generation, "gap", Gst.Event.new_gap(start, end - start)))

    # -- the video path ----------------------------------------------------------------------
    def _chain(self, pad, parent, buffer: Gst.Buffer) -> Gst.FlowReturn:
        if self._error:
            return Gst.FlowReturn.ERROR
        if _valid(buffer.pts) and self._shape is not None:
            stream = self._ensure_stream()
            item = (buffer.pts, buffer, self._shape)
            while True:
                if self._error:
                    return Gst.FlowReturn.ERROR
                if self._stopping.is_set():
                    return Gst.FlowReturn.FLUSHING
                try:
                    stream.frames.put(item, timeout=PUT_WAIT_S)
                    break
                except queue.Full:
                    self._release(final=False)
            if not _valid(self._newest) or buffer.pts > self._newest:
                self._newest = buffer.pts
        self._held.append(buffer)
        return self._release(final=False)

    def _ensure_stream(self) -> StreamThread:
        with self._lock:
            if self._stream is None:
                self._stream = StreamThread(self, self._generation)
                self._stream.start()
            return self._stream

    def _holding(self) -> bool:
        with self._lock:
            captioning = self._captioning
        return self._props["max-delay"] > 0 and captioning is not False

    def _release(self, final: bool) -> Gst.FlowReturn:
        """Push the held video (and the events between it) whose captions are known, or that
        waited max-delay; everything when `final`."""
        max_delay = self._props["max-delay"]
        while self._held:
            item = self._held[0]
            if isinstance(item, Gst.Event):
                self._held.popleft()
                self.srcpad.push_event(item)
                continue
            pts = item.pts
            if not final and _valid(pts) and self._holding():
                with self._lock:
                    settled = self._settled
                if pts >= settled and self._newest - pts < max_delay:
                    break
            self._held.popleft()
            if _valid(pts):
                duration = item.duration if _valid(item.duration) else self._period
                self._cover_text(pts, max(duration, 1))
            result = self.srcpad.push(item)
            if result != Gst.FlowReturn.OK:
                return result
        return Gst.FlowReturn.OK

    def _serialized(self, event: Gst.Event) -> bool:
        """Forward a serialized event on the video pad in order with the held buffers."""
        if self._held:
            self._held.append(event)
            return True
        return self.srcpad.push_event(event)

    def _sink_event(self, pad, parent, event: Gst.Event) -> bool:
        kind = event.type
        if kind == Gst.EventType.STREAM_START:
            text_start = Gst.Event.new_stream_start(self.textpad.create_stream_id(self, "text"))
            ok, group = event.parse_group_id()
            if ok:
                text_start.set_group_id(group)
            self._queue_text_event(text_start)
            self._queue_text_event(Gst.Event.new_caps(Gst.Caps.from_string(TEXT_CAPS)))
            return self._serialized(event)
        if kind == Gst.EventType.CAPS:
            info = GstVideo.VideoInfo.new_from_caps(event.parse_caps())
            if info is None:
                return False
            self._shape = (info.width, info.height, info.stride[0])
            if info.fps_n > 0:
                self._period = Gst.util_uint64_scale(Gst.SECOND, info.fps_d, info.fps_n)
            return self._serialized(event)
        if kind == Gst.EventType.SEGMENT:
            self._queue_text_event(Gst.Event.new_segment(event.parse_segment()))
            return self._serialized(event)
        if kind == Gst.EventType.EOS:
            return self._drain() and self.srcpad.push_event(event)
        if kind == Gst.EventType.FLUSH_START:
            self._stopping.set()
            self.textpad.push_event(Gst.Event.new_flush_start())
            return self.srcpad.push_event(event)
        if kind == Gst.EventType.FLUSH_STOP:
            self._end_stream()
            self._held.clear()
            self._reset()
            self._stopping.clear()
            reset_time = event.parse_flush_stop()
            self.textpad.push_event(Gst.Event.new_flush_stop(reset_time))
            return self.srcpad.push_event(event)
        if Gst.EventType.get_flags(kind) & Gst.EventTypeFlags.SERIALIZED:
            return self._serialized(event)
        return self.srcpad.push_event(event)

    def _drain(self) -> bool:
        """At EOS: end the stream, wait for its last events (releasing video as captions
        arrive), then release the rest and end the text pad."""
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.finish(self._stopping)
            while stream.is_alive() and not self._stopping.is_set():
                if self._release(final=False) not in (Gst.FlowReturn.OK,):
                    break
                with self._lock:
                    self._lock.wait(0.05)
            stream.join(1)
        if self._error or self._stopping.is_set():
            return False
        with self._lock:
            self._stream = None
        self._release(final=True)
        self._queue_text_event(Gst.Event.new_eos())
        return True

    # -- upstream events and queries -------------------------------------------------------
    def _src_event(self, pad, parent, event: Gst.Event) -> bool:
        if event.type == Gst.EventType.SEEK:
            seqnum = event.get_seqnum()  # both sinks send the same seek: forward it once
            if seqnum == self._seek_seqnum:
                return True
            self._seek_seqnum = seqnum
            return self.sinkpad.push_event(event)
        if pad is self.textpad:
            return True  # QoS and the like concern the video
        return self.sinkpad.push_event(event)

    def _src_query(self, pad, parent, query: Gst.Query) -> bool:
        if query.type == Gst.QueryType.LATENCY:
            if not self.sinkpad.peer_query(query):
                return False
            live, minimum, maximum = query.parse_latency()
            if self._props["max-delay"] > 0 and self._captioning is not False:
                delay = self._props["max-delay"]
                minimum += delay
                if _valid(maximum):
                    maximum += delay
            query.set_latency(live, minimum, maximum)
            return True
        return Gst.Pad.query_default(pad, parent, query)


GObject.type_register(FramescribeElement)
__gstelementfactory__ = ("framescribe", Gst.Rank.NONE, FramescribeElement)
