"""Exceptions raised by the ARI client and event stream.

Messages carry the HTTP method, the ARI path and Asterisk's reason only: never
credentials, query strings or request bodies (which may hold caller numbers).
"""

import os

import aiohttp


class AriError(Exception):
    """An ARI REST call failed; ``status`` is the HTTP status (0 if unreachable)."""

    def __init__(self, status: int, message: str, method: str, path: str) -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        super().__init__(f"ARI {method} {path} -> {status}: {message}")


class AriUnavailable(AriError):
    """Asterisk could not be reached (refused, reset or timed out); status is 0."""

    def __init__(self, message: str, method: str, path: str) -> None:
        super().__init__(0, message, method, path)


class AriRefused(AriUnavailable):
    """Nothing listens at Asterisk's address (connection refused): its process is gone, and
    every channel with it, unlike a timeout, which may be a slow or unreachable Asterisk."""


class AriAppReplaced(Exception):
    """Another websocket subscribed with the same app name; this stream is deaf now."""


def describe_failure(exc: BaseException) -> str:
    """Short reason for a connection failure, without URLs (their query may hold caller data)."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message}".rstrip()
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    return type(exc).__name__
