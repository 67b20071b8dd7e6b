"""Requests whose bytes are not the method's protobuf message (a client with a stale .proto,
garbage on the port) end with INVALID_ARGUMENT and a message naming the method, instead of
UNKNOWN and a traceback in the log per request.

    server = grpc.aio.server(interceptors=[WireGuardInterceptor(), ...])   # first in the list

The interceptor swaps each method handler's request deserializer for a tolerant one that
returns a marker instead of raising, and wraps the handler's behaviour: a marker in a unary
request aborts the call before the servicer runs; in a request stream, reading the bad message
raises MalformedRequest (a ValueError, so a servicer that turns ValueErrors into
INVALID_ARGUMENT answers it; otherwise the wrapper aborts the call). Servicers that read with
`context.read()` instead of iterating their requests are not covered. Bad requests are logged
as one line per method at most every `log_interval_s` seconds, with the count left out.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import grpc
import grpc.aio

log = logging.getLogger("framescribe.server")
LOG_INTERVAL_S = 10.0
_HINT = "(is the client's .proto current?)"


# The current unary call's request size in bytes as received (set by the guard for the
# behaviour it calls): admission reads it instead of ByteSize(), which walks a 3,000-frame
# message for milliseconds on the event loop every live stream shares.
_request_bytes: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "framescribe_request_bytes", default=None)


def received_request_bytes() -> int | None:
    """The serialized size of the unary request being served, or None outside a guarded
    unary call (a request stream, or a servicer called without the interceptor)."""
    return _request_bytes.get()


class MalformedRequest(ValueError):
    """A request message that does not parse as the method's request type."""


@dataclass(frozen=True)
class _Unparsable:
    """What the tolerant deserializer returns for bytes that do not parse."""

    reason: str


@dataclass(frozen=True)
class _Received:
    """A unary request as the tolerant deserializer returns it: the message (or _Unparsable)
    and its size on the wire, in bytes."""

    message: object
    size: int


class WireGuardInterceptor(grpc.aio.ServerInterceptor):
    """Turns request messages that do not parse into INVALID_ARGUMENT, logged rate-limited."""

    def __init__(self, log_interval_s: float = LOG_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic):
        self._log = _RateLimitedLog(log_interval_s, clock)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler  # unknown method, or one that takes raw bytes (e.g. refused calls)
        return _Guard(handler_call_details.method, handler, self._log).handler()


class _Guard:
    """One call's handler with a tolerant deserializer and a checking behaviour."""

    def __init__(self, method: str, handler: grpc.RpcMethodHandler, limited: _RateLimitedLog):
        self.method, self.original, self.limited = method, handler, limited
        self.type_name = _type_name(handler.request_deserializer)

    def handler(self) -> grpc.RpcMethodHandler:
        original = self.original
        streaming_in, streaming_out = original.request_streaming, original.response_streaming
        behaviour = (original.stream_stream if streaming_in and streaming_out else
                     original.stream_unary if streaming_in else
                     original.unary_stream if streaming_out else original.unary_unary)
        if not (inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour)):
            return original  # a sync behaviour: not ours to wrap (the aio servicers are async)
        wrapped = self._wrap(behaviour, streaming_in)
        make = {(False, False): grpc.unary_unary_rpc_method_handler,
                (False, True): grpc.unary_stream_rpc_method_handler,
                (True, False): grpc.stream_unary_rpc_method_handler,
                (True, True): grpc.stream_stream_rpc_method_handler}[streaming_in, streaming_out]
        deserialize = self._deserialize if streaming_in else self._deserialize_sized
        return make(wrapped, request_deserializer=deserialize,
                    response_serializer=original.response_serializer)

    def _deserialize_sized(self, data: bytes) -> _Received:
        return _Received(self._deserialize(data), len(data))

    def _deserialize(self, data: bytes):
        try:
            return self.original.request_deserializer(data)
        except Exception as error:  # noqa: BLE001 - any parse failure is the client's
            text = str(error)
            return _Unparsable(text.split("': ", 1)[-1] if "': " in text else
                               text or type(error).__name__)

    def _refusal(self, bad: _Unparsable, position: int | None) -> MalformedRequest:
        what = (f"the request to {self.method}" if position is None else
                f"message {position} of the stream to {self.method}")
        self.limited.warn(self.method, f"{what}: not a valid {self.type_name} ({bad.reason})")
        return MalformedRequest(f"{what} is not a valid {self.type_name} message: "
                                f"{bad.reason} {_HINT}")

    def _wrap(self, behaviour, streaming_in: bool):
        guard = self

        def arguments(request, context):
            if streaming_in:
                return guard._checked(request), context
            _request_bytes.set(request.size)  # this call's task only
            return request.message, context

        def refused_unary(request) -> MalformedRequest | None:
            if not streaming_in and isinstance(request.message, _Unparsable):
                return guard._refusal(request.message, None)
            return None

        if inspect.isasyncgenfunction(behaviour):
            async def generator(request, context):
                if (refusal := refused_unary(request)) is not None:
                    await _abort(context, refusal)
                try:
                    async with contextlib.aclosing(behaviour(*arguments(request, context))) \
                            as responses:
                        async for response in responses:
                            yield response
                except MalformedRequest as error:
                    await _abort(context, error)

            return generator

        async def coroutine(request, context):
            if (refusal := refused_unary(request)) is not None:
                await _abort(context, refusal)
            try:
                return await behaviour(*arguments(request, context))
            except MalformedRequest as error:
                await _abort(context, error)

        return coroutine

    async def _checked(self, requests: AsyncIterator) -> AsyncIterator:
        """The request stream, raising MalformedRequest at the first message that did not
        parse (its position counted from 1)."""
        position = 0
        async for request in requests:
            position += 1
            if isinstance(request, _Unparsable):
                raise self._refusal(request, position)
            yield request


async def _abort(context: grpc.aio.ServicerContext, error: MalformedRequest) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))


def _type_name(deserializer) -> str:
    """"AnnotateClipRequest" for AnnotateClipRequest.FromString; "request" when unknown."""
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return getattr(descriptor, "name", None) or "request"


class _RateLimitedLog:
    """At most one warning per key every `interval_s` seconds, counting the ones left out."""

    def __init__(self, interval_s: float, clock: Callable[[], float]):
        self.interval_s, self.clock = interval_s, clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warn(self, key: str, message: str) -> None:
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._last[key] = now
        left_out = self._suppressed.pop(key, 0)
        more = (f" ({left_out} more since the last such line, not logged)" if left_out else "")
        log.warning("malformed request refused with INVALID_ARGUMENT: %s%s", message, more)
