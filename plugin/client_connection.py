"""How a client talks to its server: channel, credentials, retries and errors of unary calls,
and the pump that feeds a stream's requests to gRPC."""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

import grpc

from framescribe.plugin.client_types import FramescribeError


@dataclass(frozen=True)
class Connection:
    """A client's validated constructor arguments and what follows from them."""

    target: str
    tls: bool | str | os.PathLike | None
    token: str | None
    timeout: float | None  # seconds per unary attempt
    retries: int
    jpeg_quality: int
    max_message_bytes: int
    retry_delay: float  # seconds before the first retry; doubles after each
    max_retry_delay: float  # seconds

    def __post_init__(self) -> None:
        if not isinstance(self.target, str) or not self.target.strip():
            raise ValueError(f"target must be 'host:port', got {self.target!r}")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds or None, got {self.timeout}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1-100, got {self.jpeg_quality}")
        if self.max_message_bytes < 1024:
            raise ValueError(f"max_message_bytes must be >= 1024, got {self.max_message_bytes}")
        if self.retry_delay < 0 or self.max_retry_delay < 0:
            raise ValueError("retry delays must be >= 0 seconds")
        if self.token is not None and not self.token.strip():
            raise ValueError("token must not be empty (use None for no token)")

    def open_channel(self, module):
        """A channel from `module` (grpc or grpc.aio), TLS when asked."""
        options = [("grpc.max_send_message_length", self.max_message_bytes),
                   ("grpc.max_receive_message_length", self.max_message_bytes)]
        if self.tls is None or self.tls is False:
            return module.insecure_channel(self.target, options=options)
        roots = None
        if self.tls is not True:
            with open(self.tls, "rb") as file:
                roots = file.read()
        credentials = grpc.ssl_channel_credentials(root_certificates=roots)
        return module.secure_channel(self.target, credentials, options=options)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def retry_after(self, error: grpc.RpcError, attempt: int) -> float | None:
        """Seconds to wait before retrying a failed unary attempt (0-based), None to give up:
        UNAVAILABLE only, exponential backoff from retry_delay with jitter, capped."""
        if error.code() != grpc.StatusCode.UNAVAILABLE or attempt >= self.retries:
            return None
        return min(self.max_retry_delay, self.retry_delay * 2 ** attempt) * random.uniform(0.5, 1)

    def error(self, error: grpc.RpcError, attempts: int = 1) -> FramescribeError:
        code, details = error.code(), error.details() or ""
        if code == grpc.StatusCode.UNAVAILABLE:
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            details = f"{self.target} is unavailable{tries}: {details}"
        return FramescribeError(code, details)


class RequestPump:
    """Feeds a stream's requests to gRPC; an exception raised while producing them (a bad
    frame) cancels the call and is re-raised to the reader instead of being lost in gRPC."""

    def __init__(self, requests: Iterable | AsyncIterable):
        self._requests = requests
        self._call = None
        self.error: Exception | None = None

    def __iter__(self) -> Iterator:
        try:
            yield from self._requests
        except Exception as error:  # noqa: BLE001 - handed to the reading side
            self._fail(error)

    async def __aiter__(self) -> AsyncIterator:
        try:
            async for request in self._requests:
                yield request
        except Exception as error:  # noqa: BLE001 - handed to the reading side
            self._fail(error)

    def _fail(self, error: Exception) -> None:
        self.error = error
        if self._call is not None:
            self._call.cancel()

    def attach(self, call) -> None:
        self._call = call
        if self.error is not None:
            call.cancel()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error
