"""The console's French: every message of its templates and modules has a translation, and no
template shows text that bypasses translation."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from console.i18n import LANGUAGES, LOCALES, load_translations

CONSOLE = LOCALES.parent
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
#: Jinja constructs that hold no shown text of their own (trans blocks are translated).
JINJA = re.compile(r"{%-? *trans.*?endtrans *-?%}|{%.*?%}|{{.*?}}|{#.*?#}", re.S)
SHOWN_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt")


def extracted() -> set[str]:
    """The msgids Babel finds in the console, as ``pybabel extract`` with babel.cfg would."""
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        CONSOLE, METHODS, keywords={"_": None, "gettext": None, "N_": None}
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_has_a_french_translation_with_the_same_placeholders() -> None:
    assert set(LANGUAGES) == {"en", "fr"}
    with (LOCALES / "fr.po").open("rb") as po:
        catalog = read_po(po, locale="fr")
    translated = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    messages = extracted()
    assert len(messages) > 90
    assert sorted(messages - translated.keys()) == []
    assert sorted(translated.keys() - messages) == []  # none left over
    assert [(m.id, errors) for m, errors in catalog.check()] == []  # placeholders match
    french = load_translations()["fr"]
    assert french.gettext("Sign in") == "Se connecter"


class _ShownText(HTMLParser):
    """Text a browser shows: element text and the attributes read out or displayed."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[str] = []

    def handle_data(self, data: str) -> None:
        self.shown.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.shown += [value or "" for name, value in attrs if name in SHOWN_ATTRIBUTES]


def test_no_template_shows_text_outside_a_translation() -> None:
    templates = sorted((CONSOLE / "templates").glob("*.html"))
    assert len(templates) >= 9
    for template in templates:
        parser = _ShownText()
        parser.feed(JINJA.sub("", template.read_text()))
        words = [text.strip() for text in parser.shown if re.search(r"[^\W\d_]", text)]
        assert words == [], f"{template.name} shows untranslated text: {words}"


def test_the_checker_finds_text_outside_a_translation() -> None:
    parser = _ShownText()
    parser.feed(JINJA.sub("", '<p>{{ _("Fine") }} Oops</p><b aria-label="Label {{ x }}"></b>'))
    assert [t.strip() for t in parser.shown if re.search(r"[^\W\d_]", t)] == ["Oops", "Label"]
