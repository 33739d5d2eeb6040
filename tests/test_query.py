"""Reading a visitor's question: misspellings mended into the knowledge's words, lay words joined by
the document's terms, and the content team's lists read with the line of each mistake."""

from __future__ import annotations

from pathlib import Path

from bot.query import QueryReader, load_out_of_scope, load_synonyms, words

TEXTS = ["Ketamine infusions are given intravenously.", "Dissociation is a common side effect."]


def reader(synonyms: dict[str, list[str]] | None = None) -> QueryReader:
    return QueryReader.for_texts(TEXTS, synonyms or {})


def test_words_are_folded_like_the_knowledge() -> None:
    assert words("What’s KETAMINE’s  Café-style dose?") == ["whats", "ketamines", "cafe-style", "dose"]


def test_a_misspelt_word_is_mended_into_the_knowledge_base_word() -> None:
    query = reader().read("are ketamin infusoins safe")
    assert query.text == "are ketamin infusoins safe"  # what the visitor typed is kept as typed
    assert "ketamine" in query.expanded
    assert "infusions" in query.expanded


def test_a_real_word_is_never_mended_into_a_document_word() -> None:
    """'site' is one letter from the knowledge's 'side', and still means what the visitor typed."""
    assert reader().read("which site is it given at").expanded == "which site is it given at"
    assert reader().mend("sidde") == "side"
    assert reader().mend("2024") is None


def test_lay_words_are_joined_by_the_document_terms_longest_phrase_first() -> None:
    synonyms = {"iv": ["intravenously"], "out of body": ["dissociation"], "body": ["physical"]}
    query = reader(synonyms).read("is the out of body feeling normal with an iv")
    assert "dissociation" in query.expanded
    assert "intravenously" in query.expanded
    assert "physical" not in query.expanded  # "body" was read as part of the longer phrase


def test_the_lists_are_read_with_the_line_of_each_mistake(tmp_path: Path) -> None:
    synonyms = tmp_path / "synonyms.yaml"
    synonyms.write_text("iv: intravenous\nIV: twice\nempty:\n", encoding="utf-8")
    entries, problems = load_synonyms(synonyms)
    assert entries == {"iv": ["intravenous"]}
    assert [(p.line, p.message) for p in problems] == [
        (2, "'IV' is listed twice"),
        (3, "each entry must be 'lay word: document term' (or a list of terms)"),
    ]
    out_of_scope = tmp_path / "out-of-scope.yaml"
    out_of_scope.write_text("cost:\n  - How much is it?\n  - [broken\n", encoding="utf-8")
    examples, problems = load_out_of_scope(out_of_scope)
    assert examples == []
    assert [p.line for p in problems] == [3]  # where the bracket opens, not the end of the file
    assert load_out_of_scope(tmp_path / "missing.yaml") == ([], [])
