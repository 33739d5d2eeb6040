"""Two facts every reader of text shares: how words are folded before they are compared, and where a
YAML file went wrong."""

from __future__ import annotations

import unicodedata

import yaml

QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "\u00a0": " "})


def fold(text: str) -> str:
    """Casefold, unify quotes, drop accents (más = mas) and collapse white space."""
    text = unicodedata.normalize("NFKD", text.translate(QUOTES).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.split())


def yaml_error(error: yaml.YAMLError) -> tuple[int, str]:
    """Where a YAML error is (the 1-based line of its text, 1 when YAML gives none) and what it says."""
    mark, context = getattr(error, "problem_mark", None), getattr(error, "context_mark", None)
    problem = str(getattr(error, "problem", None) or error)
    # An unclosed bracket or quote is found only at the end of the file: name the line where it opens.
    if context is not None and "end of stream" in problem.replace("<stream end>", "end of stream"):
        mark = context
    return (mark.line + 1 if mark is not None else 1), problem
