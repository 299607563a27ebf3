"""The pure parts of SMS over SIP: numbers in SIP URIs, message ids, the provider setting."""

from __future__ import annotations

import pytest

from core.ari import TextMessageReceived
from core.config import ConfigError, SmsSettings
from sms.sip_provider import message_id, uri_number

CALLER = "+15145550123"


@pytest.mark.parametrize(
    ("uri", "number"),
    [
        (f"<sip:{CALLER}@192.0.2.1>", CALLER),
        (f'"Jane" <sip:{CALLER}@192.0.2.1:5060;transport=udp>;tag=x', CALLER),
        ("<sip:15145550123@192.0.2.1>", CALLER),
        ("pjsip:5145550123@192.0.2.2", CALLER),
        ("sips:%2B15145550123;npdi@carrier.example", CALLER),
        ("<sip:anonymous@anonymous.invalid>", "anonymous"),
        ("<sip:192.0.2.1>", ""),
    ],
)
def test_uri_number_reads_the_user_part_as_e164(uri: str, number: str) -> None:
    assert uri_number(uri, "CA") == number


def message(call_id: str = "", cseq: str = "1 MESSAGE", at: str = "t1") -> TextMessageReceived:
    variables = {"Call-ID": call_id, "CSeq": cseq} if call_id else {}
    return TextMessageReceived(
        "PJSIP/carrier", f"<sip:{CALLER}@h>", "pjsip:1@h", "hi", variables, at
    )


def test_message_id_follows_the_call_id_else_sender_body_and_time() -> None:
    assert message_id(message("a@h")) == message_id(message("a@h", at="t2"))
    assert message_id(message("a@h")) != message_id(message("a@h", cseq="2 MESSAGE"))
    assert message_id(message()) != message_id(message(at="t2"))
    assert message_id(message()).startswith("SIP")
    assert CALLER.lstrip("+") not in message_id(message())


def test_provider_setting() -> None:
    assert SmsSettings(provider="sip").provider == "sip"
    with pytest.raises(ConfigError, match="twilio, sip"):
        SmsSettings(provider="smpp")
