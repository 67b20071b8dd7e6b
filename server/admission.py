"""Admission: how many calls of each kind, and how many request bytes, the server holds at once.
Beyond a limit a call is refused at once with RESOURCE_EXHAUSTED (the client may retry later),
instead of queueing memory and latency without end. One event loop: no locks needed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from .request_errors import RequestError


class StreamSlots:
    """Counts active streams against max_streams."""

    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0

    def acquire(self) -> None:
        if self.active >= self.limit:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"too many streams: the server serves at most {self.limit} at "
                               "once; retry later")
        self.active += 1

    def release(self) -> None:
        self.active -= 1


class ClipAdmission:
    """AnnotateClip calls being served, against max_concurrent_clips, and the bytes of their
    requests (frames or a video file, held until the call ends), against
    max_request_bytes_in_flight."""

    def __init__(self, max_calls: int, max_bytes: int):
        self.max_calls = max_calls
        self.max_bytes = max_bytes
        self.calls = 0
        self.bytes = 0

    @contextmanager
    def admit(self, size: int) -> Iterator[None]:
        """Hold a call of `size` request bytes for the `with` block, or refuse it."""
        if self.calls >= self.max_calls:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"too many AnnotateClip calls: the server serves at most "
                               f"{self.max_calls} at once (max_concurrent_clips); retry later "
                               "or stream the frames")
        if self.bytes + size > self.max_bytes:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"the server already holds {self.bytes} bytes of clip requests; "
                               f"this one's {size} would pass max_request_bytes_in_flight "
                               f"({self.max_bytes}); retry later")
        self.calls += 1
        self.bytes += size
        try:
            yield
        finally:
            self.calls -= 1
            self.bytes -= size
