"""The SMS provider: Twilio's REST API through the ``twilio`` library, errors mapped to one type.

Requests go over aiohttp (the worker's event loop), through a session built once per provider.
Nothing here logs or raises with a phone number: the library's logging goes to a silenced
logger, nothing logs request lines (a Messages lookup filters by To), and ``ProviderError``
carries only Twilio's code and the HTTP status (the library's and aiohttp's messages quote the
number or the URL, so they are dropped and never chained).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from core.ari.client import basic_auth_header

#: Twilio error codes that no retry can fix: invalid 'To', unsubscribed, not a mobile number,
#: unreachable, unknown, landline.
PERMANENT_CODES = frozenset({21211, 21610, 21614, 30003, 30005, 30006})

_silenced = logging.getLogger(f"{__name__}.twilio_http")
_silenced.disabled = True


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
    """What the worker needs of a provider: ``TwilioProvider`` or ``sms.sip_provider``'s,
    built once per worker and closed with it."""

    async def send(self, to: str, from_: str, body: str, status_callback: str) -> ProviderResult:
        """Send one message; raise ProviderError if the provider did not accept it."""
        ...

    async def find_sent(self, to: str, from_: str, since: datetime, body: str) -> list[str]:
        """The sids of the messages with ``body`` from ``from_`` to ``to`` created at or after
        ``since``, oldest first."""
        ...

    async def close(self) -> None:
        """Release the provider's connections."""
        ...


class _RebasedHttpClient(AsyncHttpClient):  # type: ignore[misc]  # twilio is untyped
    """An aiohttp session for the ``twilio`` library, with every domain's URL (api,
    messaging, ...) sent to ``base`` if given. Opened on first use, on the caller's loop."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(logger=_silenced, is_async=True, timeout=timeout)
        self._base = urlsplit(base_url.rstrip("/")) if base_url else None
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (twilio's signature; the session's applies)
        allow_redirects: bool = False,
    ) -> Response:
        if self._base is not None:
            parts = urlsplit(uri)
            uri = urlunsplit(
                (self._base.scheme, self._base.netloc, self._base.path + parts.path, "", "")
            )
        if self._session is None:
            limit = aiohttp.ClientTimeout(total=self.timeout)
            self._session = aiohttp.ClientSession(timeout=limit)
        async with self._session.request(
            method.upper(),
            uri,
            params=cast(Any, params),
            data=data,
            headers={**(headers or {}), **(basic_auth_header(*auth) if auth else {})},
            allow_redirects=allow_redirects,
        ) as response:
            return Response(response.status, await response.text(), response.headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class TwilioProvider:
    """Sends SMS and looks sent ones up through ``twilio.rest.Client`` on aiohttp."""

    def __init__(
        self, account_sid: str, auth_token: str, base_url: str | None = None, timeout: float = 10.0
    ) -> None:
        self._http = _RebasedHttpClient(base_url or "", timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)

    def __repr__(self) -> str:
        return "TwilioProvider()"

    async def send(self, to: str, from_: str, body: str, status_callback: str) -> ProviderResult:
        """Create the message; raise ProviderError if Twilio did not accept it."""
        message = await self._call(
            self._client.messages.create_async,
            to=to,
            from_=from_,
            body=body,
            status_callback=status_callback,
        )
        return ProviderResult(message.sid, message.status, int(message.num_segments or 0))

    async def find_sent(self, to: str, from_: str, since: datetime, body: str) -> list[str]:
        """The sids of the messages with ``body`` from ``from_`` to ``to`` created at or after
        ``since``, oldest first.

        Filters by To and From only: a message Twilio still queues has no DateSent yet, so a
        DateSent filter would miss exactly the message a crashed send may have left behind.
        """
        listed = await self._call(self._client.messages.list_async, to=to, from_=from_, limit=100)
        found = [
            m
            for m in listed
            if m.body == body and m.date_created is not None and m.date_created >= since
        ]
        return [m.sid for m in sorted(found, key=lambda m: m.date_created)]

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._http.close()

    @staticmethod
    async def _call(method: Any, **kwargs: Any) -> Any:
        try:
            return await method(**kwargs)
        except TwilioRestException as exc:
            raise ProviderError.from_twilio(exc) from None
        except TimeoutError:
            raise ProviderError(None, None, True, "timeout") from None
        except aiohttp.ClientError:
            raise ProviderError(None, None, True, "connection") from None
