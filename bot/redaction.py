"""Taking personal data out of a visitor's question before anything keeps it.

The redactor errs towards removing too much: a question the content team reads as "my name is [name]"
loses nothing they need, while a name or number that slips through is personal health data on disk.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

EMAIL = "[email]"
PHONE = "[phone]"
ADDRESS = "[address]"
NUMBER = "[number]"
DATE = "[date]"
NAME = "[name]"
URL = "[link]"
PLACEHOLDER = re.compile(r"\[(?:email|phone|address|number|date|name|link)\]")

_STREET_TYPES = (
    "street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|ter|"
    "circle|cir|highway|hwy|parkway|pkwy|square|sq|trail|trl|crescent|close|row|pike|route|rte|alley|"
    "calle|avenida"
)
_UNITS = r"(?:apt|apartment|unit|suite|ste|floor|fl|room|rm|#)\.?\s*#?\s*[\w-]+"

_EMAIL = re.compile(r"[\w.+%-]+\s*(?:@|\(at\)|\[at\])\s*[\w-]+(?:\s*(?:\.|\(dot\)|\[dot\])\s*[\w-]+)+", re.IGNORECASE)
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
# 7 to 15 digits with the usual separators, optionally a country code and an extension.
_PHONE = re.compile(
    r"(?<![\w])(?:\+|00)?(?:\d[\s.\-/]?){0,3}(?:\(\d{1,4}\)\s?)?\d{2,4}(?:[\s.\-/]?\d{2,4}){1,4}"
    r"(?:\s*(?:x|ext\.?|extension)\s*\d{1,6})?(?![\w])",
    re.IGNORECASE,
)
_ADDRESS = re.compile(
    rf"\b\d{{1,6}}[a-z]?\s+(?:[nsew]\.?\s+|north\s+|south\s+|east\s+|west\s+)?"
    rf"(?:[a-z0-9'.-]+\s+){{0,4}}(?:{_STREET_TYPES})\b\.?(?:,?\s*{_UNITS})?",
    re.IGNORECASE,
)
_PO_BOX = re.compile(r"\bp\.?\s*o\.?\s*box\s*\d+", re.IGNORECASE)
_UNIT = re.compile(rf"\b{_UNITS}\b", re.IGNORECASE)
_DATE = re.compile(r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b")
# A run of five or more digits, possibly split by spaces or dashes: ZIP codes, record, card and SSNs.
_DIGITS = re.compile(r"(?<!\w)\d(?:[\s-]?\d){4,}(?!\w)")

# Phrases after which a person gives a name. For the explicit ones any words count; after "I'm",
# "I am" and "this is" only capitalised words do, since "I'm worried" is not a name.
_NAME_ANYCASE = re.compile(
    r"\b(?:my\s+(?:full\s+|first\s+|last\s+|real\s+)?name\s*(?:is|'s|’s|:)|name\s*:|call\s+me|"
    r"my\s+(?:son|daughter|wife|husband|partner|mom|mother|dad|father|friend|brother|sister|child|kid|"
    r"boyfriend|girlfriend|doctor|therapist)(?:'s|’s)?\s+name\s+is|me\s+llamo|mi\s+nombre\s+es|signed,?)"
    r"\s+",
    re.IGNORECASE,
)
_NAME_CAPITALISED = re.compile(
    r"\b(?:i\s*['’]?\s*m|i\s+am|this\s+is|it\s*['’]?\s*s|soy|dr\.?|doctor|mr\.?|mrs\.?|ms\.?|miss|"
    r"nurse|named|called|thanks,?|regards,?|cheers,?)\s+",
    re.IGNORECASE,
)
_NAME_WORD = re.compile(r"[^\W\d_][\w'’.-]*")
# Words that end a name typed in lower case ("my name is jane and i ...").
_NAME_STOPS = frozenset(
    """
    and or but so because i im i'm and, is am was are have has had will would can could do does did
    my me the a an to of for in on at with from about if when what how why who which that this it
    please thanks thank hello hi hey ok okay asking wondering want need question also just y e o pero
    """.split()
)
# Capitalised words after "I'm"/"this is" that are not names.
_NOT_NAMES = frozenset(
    """
    a an the not so very really just also still only too going trying looking asking wondering
    worried scared afraid anxious nervous depressed sad happy curious interested pregnant sorry sure
    here there new old currently thinking considering taking on in at about from with having feeling
    i ketamine ok okay fine good bad glad tired done
    """.split()
)
MAX_NAME_WORDS = 3


def _names(text: str, opener: re.Pattern[str], capitalised: bool) -> str:
    out: list[str] = []
    position = 0
    for match in opener.finditer(text):
        if match.start() < position:
            continue
        cursor = match.end()
        taken = 0
        end = cursor
        while taken < MAX_NAME_WORDS:
            word = _NAME_WORD.match(text, cursor)
            if word is None:
                break
            token = word.group().rstrip(".").casefold()
            if token in _NAME_STOPS or (capitalised and (not word.group()[0].isupper() or token in _NOT_NAMES)):
                break
            taken += 1
            end = word.end()
            space = re.match(r"[ \t]+", text[end:])
            if space is None:
                break
            cursor = end + space.end()
        if taken:
            out.append(text[position : match.end()])
            out.append(NAME)
            position = end
    out.append(text[position:])
    return "".join(out)


def _phone(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group())
    return PHONE if 7 <= digits <= 15 else match.group()


STEPS: tuple[Callable[[str], str], ...] = (
    lambda t: _URL.sub(URL, t),
    lambda t: _EMAIL.sub(EMAIL, t),
    lambda t: _PO_BOX.sub(ADDRESS, t),
    lambda t: _ADDRESS.sub(ADDRESS, t),
    lambda t: _UNIT.sub(ADDRESS, t),
    lambda t: _DATE.sub(DATE, t),
    lambda t: _PHONE.sub(_phone, t),
    lambda t: _DIGITS.sub(NUMBER, t),
    lambda t: _names(t, _NAME_ANYCASE, capitalised=False),
    lambda t: _names(t, _NAME_CAPITALISED, capitalised=True),
)


def redact(text: str) -> str:
    """The text with e-mails, links, phone numbers, addresses, dates, long numbers and names replaced."""
    for step in STEPS:
        text = step(text)
    return " ".join(text.split())


class DropQueryStrings(logging.Filter):
    """For uvicorn's access log: keep the path, drop ``?q=...``, which may hold a visitor's question."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def quiet_access_log(logger_name: str = "uvicorn.access") -> None:
    """Install ``DropQueryStrings`` once on the access logger."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, DropQueryStrings) for f in logger.filters):
        logger.addFilter(DropQueryStrings())
