"""Typed errors; the HTTP status of each lives in ERROR_STATUS, looked up along the MRO."""

from __future__ import annotations


class WsiError(Exception):
    """Base of every error this plugin raises on purpose."""

    @property
    def headers(self) -> dict[str, str]:
        """Headers the error's answer must carry (e.g. Retry-After)."""
        return {}


class BadRequest(WsiError):
    """The request is malformed (bad id, index, parameter)."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class NotFound(WsiError):
    """The resource does not exist or is not of the right kind."""


class PayloadTooLarge(WsiError):
    """A request body over its documented limit."""


class NotAcceptable(WsiError):
    """No representation matches the Accept header."""


class UnsupportedFeature(WsiError):
    """Valid request for something we do not implement (IIIF: 501)."""


class UnsupportedTransferSyntax(UnsupportedFeature):
    """Pixel data in a transfer syntax or layout no decoder handles."""


class DecodeError(WsiError):
    """Stored pixel data could not be decoded."""


class UpstreamError(WsiError):
    """Orthanc answered an internal request with an error."""


class Overloaded(WsiError):
    """Too busy for this request now, or it ran over its time budget: 503, retry after `retry_after` s."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


ERROR_STATUS: dict[type[BaseException], int] = {
    BadRequest: 400,
    NotFound: 404,
    NotAcceptable: 406,
    PayloadTooLarge: 413,
    UnsupportedFeature: 501,
    DecodeError: 500,
    UpstreamError: 502,
    Overloaded: 503,
    WsiError: 500,
}


def status_for(error: BaseException) -> int:
    """HTTP status of an exception: the most specific class in ERROR_STATUS wins."""
    for cls in type(error).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return 500
