"""SMS templates: the shipped file, validation errors naming template and language, segment
reports and the French two-segment warning; numbers cut out of message text."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sms.redact import redact_numbers
from sms.segments import Encoding
from sms.templates import TemplateError, load_templates


def test_shipped_templates_load_in_both_languages_in_one_gsm7_segment() -> None:
    templates = load_templates(languages=("fr", "en"))
    assert {(i.encoding, i.segments) for i in templates.info} == {(Encoding.GSM7, 1)}
    assert templates.render("request_recorded", "fr", reference="4821").startswith(
        "Votre demande est enregistrée, référence 4821."
    )
    assert templates.render("request_recorded", "en", reference="4821").startswith(
        "Your request is recorded, reference 4821."
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_placeholder_names_template_and_language(tmp_path: Path) -> None:
    path = write(tmp_path, '[ok]\nen = "Ref {reference}"\nfr = "Réf {referense}"\n')
    with pytest.raises(TemplateError) as caught:
        load_templates(path, expected={"ok": {"reference": "1234"}})
    assert str(caught.value) == (
        f"{path}: template 'ok' (fr): unknown placeholder {{referense}} (known: reference)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[ok]\nen = "Hi"\n', "template 'ok' has no 'fr' text"),
        ('[other]\nen = "Hi"\nfr = "Salut"\n', "template 'ok' is missing"),
        ('[ok]\nen = "Hi {"\nfr = "Salut"\n', r"template 'ok' \(en\): Single '{'"),
        (f'[ok]\nen = "Hi"\nfr = "{"x" * 1601}"\n', r"template 'ok' \(fr\): over 1600 characters"),
    ],
)
def test_missing_language_template_or_bad_syntax(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        load_templates(write(tmp_path, text), expected={"ok": {}})


def test_french_text_of_two_segments_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    long_fr = "Votre demande a été reçue, nous vous rappelons très bientôt. " * 2
    path = write(tmp_path, f'[ok]\nen = "Received."\nfr = "{long_fr}"\n')
    templates = load_templates(path, expected={"ok": {}})
    fr = next(i for i in templates.info if i.language == "fr")
    assert (fr.encoding, fr.segments) == (Encoding.UCS2, 2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["sms template ok (fr): UCS-2, 2 segment(s)"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("appelez-moi au 514-555-0123 svp", "appelez-moi au [#] svp"),
        ("my number is +1 (514) 555 0123.", "my number is [#]."),
        ("référence 4821, à 14:30 le 2024-05-01", "référence 4821, à 14:30 le 2024-05-01"),
    ],
)
def test_numbers_are_cut_out_of_text(text: str, expected: str) -> None:
    assert redact_numbers(text, "CA") == expected
