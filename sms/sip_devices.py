"""Texts to volunteers' own SIP phones: SIP MESSAGEs from the hotline number through ARI.

Asterisk sends each to the device's PJSIP endpoint, so it follows the endpoint's contact: behind
Kamailio (``[asterisk] sip_proxy``) the proxy, which finds where the phone registered. As with
SMS over the trunk (``sms.sip_provider``), Asterisk 16 accepts the MESSAGE (202) before the
phone answers and reports no outcome: a text is "handed to the PBX", never known delivered.
"""

from __future__ import annotations

import logging

from core.ari import AriClient, AriError, AriUnavailable

logger = logging.getLogger(__name__)


class SipDevices:
    """Sends texts to SIP devices by name (``PJSIP/NAME``) on the app's ARI client."""

    def __init__(self, ari: AriClient, from_number: str) -> None:
        self._ari = ari
        self._from = from_number

    async def send(self, device: str, body: str) -> bool:
        """Hand one MESSAGE for ``device`` to Asterisk; False (logged) if it did not take it."""
        try:
            await self._ari.send_message(f"pjsip:{device}", self._from, body)
        except AriError as exc:
            logger.error("sms relay: Asterisk refused a MESSAGE for %s (%s)", device, exc.status)
            return False
        except AriUnavailable:
            logger.error("sms relay: no MESSAGE for %s (Asterisk unreachable)", device)
            return False
        return True
