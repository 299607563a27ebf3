"""The console's languages: English (the templates' own) and French (``locales/fr.po``, read
with Babel at startup). Each person picks theirs; the session keeps the choice."""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES: Final = Path(__file__).parent / "locales"
#: The languages offered, each named in itself; the first is the default.
LANGUAGES: Final = {"en": "English", "fr": "Français"}
DEFAULT: Final = "en"


def N_(message: str) -> str:
    """Mark ``message`` for translation later (Babel extracts it)."""
    return message


#: Words shown by ids (states, roles) or by the console's script, translated per request.
LABELS: Final = {
    "logged_out": N_("logged out"),
    "available": N_("available"),
    "paused": N_("paused"),
    "offered": N_("offered"),
    "on_call": N_("on call"),
    "wrap_up": N_("wrap-up"),
    "agent": N_("agent"),
    "supervisor": N_("supervisor"),
    "admin": N_("admin"),
    "saved": N_("Wrap-up saved."),
    "not_saved": N_("Not saved:"),
    "none": N_("none"),
    "last": N_("last:"),
    "callback": N_("callback, asked for at"),
    "direct": N_("straight from the line"),
    "text": N_("from a text conversation, asked for at"),
    "incoming": N_("Incoming call"),
    "calling_texter": N_("Calling a texter back"),
    "min": N_("min"),
    "s": N_("s"),
    "break": N_("break"),
    "meal": N_("meal"),
    "training": N_("training"),
    "debrief": N_("debrief"),
    "transferred": N_("Transferred to"),
    "not_transferred": N_("Not transferred:"),
    "hung_up": N_("Hung up."),
    "not_hung_up": N_("Not hung up:"),
    "monitored_listen": N_("A supervisor is listening to this call."),
    "monitored_whisper": N_("A supervisor is listening and may speak to you alone."),
    "monitored_barge": N_("A supervisor has joined this call."),
    "ringing_you": N_("Your phone is ringing:"),
    "not_monitoring": N_("Refused:"),
    "pledge_saved": N_("Pledge saved:"),
    "pledge_corrected": N_("Pledge corrected:"),
    "link_texted": N_("Payment link sent by SMS."),
    "from": N_("from"),
    "to": N_("to"),
    "one_off": N_("one-off"),
    "monthly": N_("monthly"),
    "pledged": N_("pledged"),
    "link_sent": N_("link sent"),
    "paid": N_("paid"),
    "failed": N_("failed"),
    "expired": N_("expired"),
    "cancelled": N_("cancelled"),
    "chat_caller": N_("Texter:"),
    "chat_agent": N_("You:"),
    "chat_system": N_("Note:"),
    "chat_sent": N_("Sent."),
    "chat_not_sent": N_("Not sent:"),
    "chat_called_back": N_("Call-back requested:"),
    "open": N_("open"),
    "ended": N_("ended"),
    "read": N_("Read"),
    "gone": N_("no longer in your queues"),
}


def load_translations() -> Mapping[str, gettext.NullTranslations]:
    """Each language's translations (English's are the messages themselves)."""
    found: dict[str, gettext.NullTranslations] = {DEFAULT: gettext.NullTranslations()}
    for code in LANGUAGES:
        if code == DEFAULT:
            continue
        with (LOCALES / f"{code}.po").open("rb") as po:
            catalog = read_po(po, locale=code)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        found[code] = gettext.GNUTranslations(compiled)
    return found
