"""Bearer-token check for the grpc.aio server.

Every call except health checks and reflection must carry the metadata
``authorization: Bearer <token>``; others end with UNAUTHENTICATED and a message saying what was
missing or wrong (the expected token is never echoed).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import grpc
import grpc.aio

# Methods anyone may call: load balancers probe health, tools list services.
PUBLIC_METHOD_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
AUTHORIZATION = "authorization"
_SCHEME = "bearer"
_HOW = "send the metadata 'authorization: Bearer <token>'"


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Lets a call through only if its `authorization` metadata holds the expected token."""

    def __init__(self, token: str):
        if not token:
            raise ValueError("the bearer token must not be empty")
        self._token = token.encode("utf-8")

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler_call_details.method.startswith(PUBLIC_METHOD_PREFIXES):
            return handler
        problem = self.problem(handler_call_details.invocation_metadata)
        if problem is None:
            return handler
        return _abort_handler(handler, f"{problem}; {_HOW}")

    def problem(self, metadata) -> str | None:
        """What is wrong with a call's metadata, or None when the token is right."""
        values = [value for key, value in metadata or () if key.lower() == AUTHORIZATION]
        if not values:
            return "missing authorization metadata"
        value = values[0]
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != _SCHEME or not token.strip():
            return "authorization metadata is not of the form 'Bearer <token>'"
        if not hmac.compare_digest(token.strip().encode("utf-8"), self._token):
            return "invalid bearer token"
        return None


def _abort_handler(handler: grpc.RpcMethodHandler | None, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that ends the call with UNAUTHENTICATED.

    No deserializer is set, so the request bytes are never parsed for a rejected call.
    """

    async def abort(request_or_iterator, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    request_streaming = handler is not None and handler.request_streaming
    response_streaming = handler is not None and handler.response_streaming
    if request_streaming and response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort)
    if request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort)
    if response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort)
    return grpc.unary_unary_rpc_method_handler(abort)
