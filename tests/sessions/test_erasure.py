"""Which names an erasure takes out of a group session's document: the pure rule."""

from __future__ import annotations

from sessions.erasure import _redact, names_to_redact


def test_a_shared_first_name_stays_and_the_rest_goes() -> None:
    names = names_to_redact("Sam Smith", ["Sam Jones", "Taylor Tutor"])
    assert names == ["Sam Smith", "Smith"]
    text = "Sam Smith and Sam Jones practised; Smith asked why."
    assert _redact(text, names) == "a student and Sam Jones practised; a student asked why."


def test_whole_words_only_and_nested_content() -> None:
    names = names_to_redact("Ana Lee", ["Bo Kim"])
    doc = {"summary": "Ana read Banana; Ana Lee wrote.", "items": ["Ana", {"t": "Anaïs"}]}
    assert _redact(doc, names) == {
        "summary": "a student read Banana; a student wrote.",
        "items": ["a student", {"t": "Anaïs"}],
    }
