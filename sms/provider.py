"""The SMS provider: Twilio's REST API through the ``twilio`` library, errors mapped to one type.

Nothing here logs or raises with a phone number: the library's request logging goes to a
silenced logger, urllib3's request lines lose their query string (a Messages lookup filters by
To), and ``ProviderError`` carries only Twilio's code and the HTTP status (the library's
messages quote the number, so they are dropped and never chained).
"""

from __future__ import annotations

import logging
from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

#: Twilio error codes that no retry can fix: invalid 'To', unsubscribed, not a mobile number,
#: unreachable, unknown, landline.
PERMANENT_CODES = frozenset({21211, 21610, 21614, 30003, 30005, 30006})

_silenced = logging.getLogger(f"{__name__}.twilio_http")
_silenced.disabled = True


class _DropQueryStrings(logging.Filter):
    """Cuts the query string off every URL argument of a log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.split("?", 1)[0] + "?..." if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        return True


_drop_query_strings = _DropQueryStrings()
logging.getLogger("urllib3.connectionpool").addFilter(_drop_query_strings)


class ProviderError(Exception):
    """A send or lookup the provider did not complete: Twilio's code, the HTTP status (None
    for a timeout or connection error) and whether a later attempt may succeed."""

    def __init__(
        self, code: int | None, status: int | None, retryable: bool, reason: str = ""
    ) -> None:
        self.code = code
        self.status = status
        self.retryable = retryable
        self.reason = reason or f"http-{status}"
        super().__init__(f"provider error {self.reason} code={code} status={status}")

    @property
    def may_have_been_sent(self) -> bool:
        """A timeout, a dropped connection or a 5xx leaves unknown whether Twilio took it."""
        return self.status is None or self.status >= 500

    @classmethod
    def from_twilio(cls, exc: TwilioRestException) -> ProviderError:
        """Map a REST error: 429 and 5xx are retryable, listed codes and other 4xx are not."""
        status = int(exc.status)
        code = int(exc.code) if exc.code is not None else None
        retryable = (status == 429 or status >= 500) and code not in PERMANENT_CODES
        return cls(code, status, retryable)


@dataclass(frozen=True)
class ProviderResult:
    """What the provider answered to an accepted message."""

    sid: str
    status: str
    segments: int


class SmsProvider(Protocol):
    """What the worker needs of a provider: ``TwilioProvider`` or ``sms.sip_provider``'s."""

    def send(self, to: str, from_: str, body: str, status_callback: str) -> ProviderResult:
        """Send one message; raise ProviderError if the provider did not accept it."""
        ...

    def find_sent(
        self, to: str, from_: str, since: datetime, body: str, exclude: Container[str] = ()
    ) -> str | None:
        """The sid of a matching message sent since ``since`` (not in ``exclude``), or None."""
        ...


class _RebasedHttpClient:
    """Twilio's HTTP client with every domain's URL (api, messaging, ...) sent to ``base``."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self._inner = TwilioHttpClient(timeout=timeout, logger=_silenced)
        self._base = urlsplit(base_url.rstrip("/")) if base_url else None

    def request(self, method: str, url: str, **kwargs: Any) -> Response:
        if self._base is not None:
            parts = urlsplit(url)
            url = urlunsplit(
                (
                    self._base.scheme,
                    self._base.netloc,
                    self._base.path + parts.path,
                    parts.query,
                    "",
                )
            )
        return self._inner.request(method, url, **kwargs)


class TwilioProvider:
    """Sends SMS and looks sent ones up through ``twilio.rest.Client`` (synchronous)."""

    def __init__(
        self, account_sid: str, auth_token: str, base_url: str | None = None, timeout: float = 10.0
    ) -> None:
        http = _RebasedHttpClient(base_url or "", timeout)
        self._client = Client(account_sid, auth_token, http_client=http)

    def __repr__(self) -> str:
        return "TwilioProvider()"

    def send(self, to: str, from_: str, body: str, status_callback: str) -> ProviderResult:
        """Create the message; raise ProviderError if Twilio did not accept it."""
        message = self._call(
            self._client.messages.create,
            to=to,
            from_=from_,
            body=body,
            status_callback=status_callback,
        )
        return ProviderResult(message.sid, message.status, int(message.num_segments or 0))

    def find_sent(
        self, to: str, from_: str, since: datetime, body: str, exclude: Container[str] = ()
    ) -> str | None:
        """The sid of the oldest message with ``body`` from ``from_`` to ``to`` created at or
        after ``since`` and not in ``exclude``, or None.

        Filters by To and From only: a message Twilio still queues has no DateSent yet, so a
        DateSent filter would miss exactly the message a crashed send may have left behind.
        """
        listed = self._call(self._client.messages.list, to=to, from_=from_, limit=100)
        found = [
            m
            for m in listed
            if m.body == body
            and m.date_created is not None
            and m.date_created >= since
            and m.sid not in exclude
        ]
        return min(found, key=lambda m: m.date_created).sid if found else None

    @staticmethod
    def _call(method: Any, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except TwilioRestException as exc:
            raise ProviderError.from_twilio(exc) from None
        except requests.Timeout:
            raise ProviderError(None, None, True, "timeout") from None
        except requests.ConnectionError:
            raise ProviderError(None, None, True, "connection") from None
