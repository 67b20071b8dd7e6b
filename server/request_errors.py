"""What a refused request becomes: a gRPC status code and a message a person can act on."""

from __future__ import annotations

import grpc

from framescribe.models.video import VideoError

from .dynamic_batcher import QueueFull
from .frame_decoding import FrameError


class RequestError(Exception):
    """A request the server refuses: a status code and an actionable message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


def status_for(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status a failure is answered with; INTERNAL (logged by the caller) for the rest."""
    if isinstance(error, RequestError):
        return error.code, error.message
    if isinstance(error, FrameError | VideoError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(error)
    if isinstance(error, QueueFull):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(error)
    if isinstance(error, ValueError):  # option checks of the model side
        return grpc.StatusCode.INVALID_ARGUMENT, str(error)
    return grpc.StatusCode.INTERNAL, "internal error (logged on the server)"
