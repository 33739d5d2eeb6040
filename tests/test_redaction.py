"""The redactor: personal data out, the question itself kept readable for the content team."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from bot.redaction import DropQueryStrings, redact

DATA = Path(__file__).parent / "data"

# (what a visitor typed, what must be gone, what the content team still reads)
PERSONAL = [
    ("my email is jane.doe@example.com, is ketamine safe?", "jane.doe@example.com", "is ketamine safe?"),
    ("write to JANE_D+clinic@mail.example.org please", "JANE_D+clinic@mail.example.org", "write to [email]"),
    ("call me back at (856) 555-0134 about infusions", "555-0134", "about infusions"),
    ("my cell is 856-555-0134", "856-555-0134", "my cell is [phone]"),
    ("text +1 856 555 0134 about dosing", "555 0134", "about dosing"),
    ("number 856.555.0134", "856.555.0134", "number [phone]"),
    ("reach me on 8565550134", "8565550134", "reach me on [phone]"),
    ("uk number +44 20 7946 0958", "7946 0958", "uk number [phone]"),
    ("I live at 123 Main Street, Apt 4B, do you treat PTSD?", "123 Main Street", "do you treat PTSD?"),
    ("is there a clinic near 42 Wallaby Way Sydney", "Wallaby Way", "is there a clinic near"),
    ("my zip is 08012", "08012", "my zip is [number]"),
    ("member id 123456789 for insurance", "123456789", "for insurance"),
    ("card 4111 1111 1111 1111", "4111 1111", "card"),
    ("born 01/02/1980, can I have ketamine", "01/02/1980", "can I have ketamine"),
    ("My name is Jane Doe and I want to know about side effects", "Jane Doe", "I want to know about side effects"),
    ("my name is jane doe and i want ketamine", "jane doe", "i want ketamine"),
    ("Hi, I'm Jane. Is ketamine addictive?", "Jane", "Is ketamine addictive?"),
    ("I’m Gregory House, how long do infusions take?", "Gregory House", "how long do infusions take?"),
    ("This is Bob Smith calling about ketamine", "Bob Smith", "calling about ketamine"),
    ("call me Jane", "Jane", "call me [name]"),
    ("does it help? thanks, Jane", "Jane", "does it help?"),
    ("me llamo Maria Lopez y tengo preguntas", "Maria Lopez", "tengo preguntas"),
    ("see https://example.com/me?id=42", "example.com", "see [link]"),
    # What got through before: no lead-in, a date in words, a street without a number and the town
    # after it, an id of letters and digits.
    ("Jane Doe here, is there parking?", "Jane Doe", "here, is there parking?"),
    ("born on March 3rd, 1985", "March 3rd", "born on [date]"),
    ("I live on Elm Street in Springfield", "Springfield", "I live on [address]"),
    ("my patient id is AB12345", "AB12345", "my patient id is [number]"),
    ("I'm at 12 Oak Lane, Trenton, NJ", "Trenton", "I'm at [address]"),
]


@pytest.mark.parametrize(("text", "secret", "kept"), PERSONAL, ids=[p[0][:30] for p in PERSONAL])
def test_personal_data_is_removed_and_the_question_kept(text: str, secret: str, kept: str) -> None:
    redacted = redact(text)
    assert secret.casefold() not in redacted.casefold()
    assert kept in redacted


@pytest.mark.parametrize(
    "question",
    [
        "I'm worried about side effects of ketamine",
        "This is my first infusion, what should I expect?",
        "How much does ketamine cost in 2024?",
        "Can I take 2 infusions in 7 days?",
        "Is 0.5 mg/kg a normal dose?",
        "I am 34 and have PTSD",
        "What is esketamine nasal spray?",
        "can I drive myself home after an infusion?",
        "I'm a veteran with flashbacks and nightmares, could this help me",
        "can I bring my partner into the room with me",
        "Is 500mg a lot? I take it at 9am for 24hrs",
        "Can I start in March or May?",
        "Do you treat people from out of state?",
    ],
)
def test_ordinary_questions_are_left_alone(question: str) -> None:
    assert redact(question) == question


def test_access_log_filter_drops_query_strings() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/search?q=my%20name%20is%20Jane", "1.1", 200),
        None,
    )
    assert DropQueryStrings().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/search HTTP/1.1" 200'


def planted(name: str) -> list[tuple[str, str, str]]:
    """(message, kind, planted text) for each piece of personal data planted in a data file."""
    items = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    return [
        (item["text"], kind, str(value))
        for item in items
        for kind, values in item.items()
        if kind != "text"
        for value in values
    ]


def recall(rows: list[tuple[str, str, str]]) -> dict[str, float]:
    """The share of planted pieces that no longer appear in the redacted message, per kind and in all."""
    kinds: dict[str, list[bool]] = {"all": []}
    for text, kind, value in rows:
        removed = value.casefold() not in redact(text).casefold()
        kinds.setdefault(kind, []).append(removed)
        kinds["all"].append(removed)
    return {kind: sum(hits) / len(hits) for kind, hits in kinds.items()}


# The figures the README gives: on the messages the rules were written against, and on messages written
# after the rules were settled (never used to change them).
@pytest.mark.parametrize(
    ("name", "messages", "at_least"),
    [("planted-personal-data.yaml", 114, 0.99), ("planted-personal-data-unseen.yaml", 30, 0.92)],
)
def test_recall_on_messages_with_planted_personal_data(name: str, messages: int, at_least: float) -> None:
    rows = planted(name)
    assert len({text for text, _, _ in rows}) == messages
    figures = recall(rows)
    assert figures["all"] >= at_least, figures
    for kind in ("email", "phone", "date", "id", "address"):
        assert figures.get(kind, 1.0) == 1.0, (kind, figures)
