"""SMS texts from a TOML file of templates (``sms/templates/confirmations.toml``), checked at start.

Every template the code sends (``EXPECTED``) must exist in every configured language and may use
only the ``{placeholders}`` its caller supplies; anything else is a :class:`TemplateError` naming
the file, template and language. Loading also reports each text's encoding and segment count
(with sample values filled in) and warns when a French text costs two segments or more.
"""

from __future__ import annotations

import logging
import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sms.segments import MAX_CHARS, Encoding, segment_info

logger = logging.getLogger(__name__)

DEFAULT_FILE = Path(__file__).parent / "templates" / "confirmations.toml"

#: The templates the gateway sends, with the placeholders each caller supplies and a sample
#: value of typical length for the segment estimate.
EXPECTED: Mapping[str, Mapping[str, str]] = {
    "request_recorded": {"reference": "4821"},
    "message_received": {},
    "switched_to_text": {},
    "relay_ended": {"pseudonym": "Loutre Courageuse"},
    "relay_callback": {"pseudonym": "Loutre Courageuse"},
    "relay_callback_refused": {"pseudonym": "Loutre Courageuse"},
    "relay_unknown": {},
}


class TemplateError(ValueError):
    """An invalid template file; the message names the file, template and language."""


@dataclass(frozen=True)
class TemplateInfo:
    """How one template costs in one language (with sample values)."""

    name: str
    language: str
    encoding: Encoding
    segments: int


@dataclass(frozen=True)
class Templates:
    """Validated texts: ``texts[name][language]``."""

    texts: Mapping[str, Mapping[str, str]]
    info: tuple[TemplateInfo, ...]

    def render(self, name: str, language: str, **values: str) -> str:
        """Template ``name`` in ``language`` (the first configured language if it has none)."""
        by_language = self.texts[name]
        text = by_language.get(language) or next(iter(by_language.values()))
        return text.format_map(values)


def load_templates(
    path: Path = DEFAULT_FILE,
    languages: Sequence[str] = ("en", "fr"),
    expected: Mapping[str, Mapping[str, str]] = EXPECTED,
) -> Templates:
    """Read and check ``path`` (see the module docstring); TemplateError on any problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read templates: {exc}") from exc
    texts: dict[str, dict[str, str]] = {}
    info = []
    for name, samples in expected.items():
        table = data.get(name)
        if not isinstance(table, dict):
            raise TemplateError(f"{path}: template '{name}' is missing")
        texts[name] = {}
        for language in languages:
            text = table.get(language)
            if not isinstance(text, str) or not text.strip():
                raise TemplateError(f"{path}: template '{name}' has no '{language}' text")
            _check_placeholders(path, name, language, text, samples)
            sample = text.format_map(samples)
            if len(sample) > MAX_CHARS:
                raise TemplateError(
                    f"{path}: template '{name}' ({language}): over {MAX_CHARS} characters"
                )
            cost = segment_info(sample)
            info.append(TemplateInfo(name, language, cost.encoding, cost.segments))
            texts[name][language] = text
            log = logger.warning if language == "fr" and cost.segments > 1 else logger.info
            log(
                "sms template %s (%s): %s, %d segment(s)",
                name,
                language,
                cost.encoding,
                cost.segments,
            )
    return Templates(texts, tuple(info))


def _check_placeholders(
    path: Path, name: str, language: str, text: str, samples: Mapping[str, str]
) -> None:
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]
    except ValueError as exc:
        raise TemplateError(f"{path}: template '{name}' ({language}): {exc}") from None
    for field in fields:
        if field not in samples:
            known = ", ".join(sorted(samples)) or "none"
            raise TemplateError(
                f"{path}: template '{name}' ({language}): unknown placeholder {{{field}}} "
                f"(known: {known})"
            )
