"""What a volunteer's softphone needs to connect: server, transport, user, secret, as text and
as a QR code (``hotline phones``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import segno

from core.config import Settings


@dataclass(frozen=True)
class SoftphoneAccount:
    """One device's account settings, as a softphone asks for them."""

    user: str
    secret: str = field(repr=False)
    server: str
    port: int
    transport: str
    realm: str
    #: Media must be SRTP (SDES keys in the SDP, which only the TLS transport protects).
    srtp: bool

    @property
    def uri(self) -> str:
        """The account as one SIP URI with the secret in its user part (what the QR code
        holds; softphones that scan accounts read this form)."""
        secret = quote(self.secret, safe="")
        return f"sip:{self.user}:{secret}@{self.server}:{self.port};transport={self.transport}"

    def lines(self) -> list[str]:
        """The settings, one per line, for a person typing them into a softphone."""
        return [
            f"server:    {self.server}",
            f"port:      {self.port}",
            f"transport: {self.transport.upper()}",
            f"user:      {self.user} (also the authentication user)",
            f"secret:    {self.secret}",
            f"realm:     {self.realm}",
            f"media:     {'SRTP (SDES) required' if self.srtp else 'RTP'}",
        ]

    def save_qr(self, path: Path) -> None:
        """Write the account URI as a QR code image (PNG, by the file name's suffix)."""
        segno.make(self.uri, error="m").save(str(path), scale=8)


def softphone_account(settings: Settings, user: str, secret: str) -> SoftphoneAccount:
    """The account of device ``user`` with ``secret`` on this service: TLS and SRTP when the
    phones' TLS transport is on, else UDP and RTP."""
    phones = settings.phones
    tls = bool(phones.tls_port)
    return SoftphoneAccount(
        user=user,
        secret=secret,
        server=phones.public_host,
        port=phones.tls_port if tls else settings.asterisk.sip_port,
        transport="tls" if tls else "udp",
        realm=phones.realm,
        srtp=tls,
    )
