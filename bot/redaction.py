"""Taking personal data out of a visitor's question before anything keeps it.

The redactor errs towards removing too much: a question the content team reads as "my name is [name]"
loses nothing they need, while a name or number that slips through is personal health data on disk.

It is rules, not a trained model: a named-entity model (Presidio's needs spaCy's) would have to come
from a package, and spaCy's official English models are not published on PyPI; the copies third
parties re-uploaded there are weights from unknown hands, which a service holding health questions
should not run. ``tests/data/planted-personal-data.yaml`` measures what the rules catch.
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
# "Apt 4B", "Suite 200", "#12": the value holds a digit or is one letter ("floor would" is no unit).
_UNITS = r"(?:(?:apt|apartment|unit|suite|ste|floor|fl|room|rm)\b\.?|#)\s*#?\s*(?:\d[\w-]*|[a-z]\b)"

_EMAIL = re.compile(
    r"[\w.+%-]+\s*(?:@|\(at\)|\[at\])\s*[\w-]+(?:\s*(?:\.|\(dot\)|\[dot\])\s*[\w-]+)+|"
    r"\b\w+(?:\s+dot\s+\w+)*\s+at\s+\w+(?:\s+dot\s+\w+)+",  # "tom dot baker at example dot com"
    re.IGNORECASE,
)
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

# Dates in words: "March 3rd, 1985", "3 March 1985", "the 2nd of February", "Sept. 9", "May 2019".
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?:1[89]|20)\d{2}"
_WORD_DATE = re.compile(
    rf"\b(?:{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+(?:of\s+)?{_YEAR})?|{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?|"
    rf"{_MONTH},?\s+(?:of\s+)?{_YEAR})(?![\w])",
    re.IGNORECASE,
)
_SHORT_DATE = re.compile(r"(?<![\w/.])(?:0[1-9]|1[0-2])/(?:0[1-9]|[12]\d|3[01])(?![\w/])")
# An id that mixes letters and digits ("AB12345", "7H3K9Q2", "BCBS-4471-2290"); a number with its unit
# ("500mg", "10am", "24hrs", "2nd") is not one.
_MIXED = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[^\W\d_])\w+(?:-\w+)*(?![\w-])")
_WITH_UNIT = re.compile(
    r"\d+(?:[.,]\d+)?(?:mg|mcg|ug|ml|cc|kg|kgs|g|lb|lbs|h|hr|hrs|min|mins|s|sec|secs|x|am|pm|st|nd|rd|th|"
    r"yo|yr|yrs|d|wk|wks|mo|mos|k|km|mi|ft|cm|mm|in|iu|bpm|mmhg|hz|khz|gb|mb|p)",
    re.IGNORECASE,
)
# Named streets without a house number ("Elm Street", "Kings Highway"); "Dr"/"St" before a name is a title.
_STREET_NAMED = re.compile(
    r"\b(?:[A-Z][\w'’.-]*\s+){1,3}"
    r"(?:Street|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    r"Circle|Cir|Highway|Hwy|Parkway|Pkwy|Square|Trail|Crescent|Pike|Alley|(?:Dr|St)(?!\.?\s+[A-Z]))\b\.?"
    r"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b\.?)?"
)
_CALLE = re.compile(r"\b(?i:calle|avenida|rua)\s+(?:[\w'’.-]+\s+){1,3}\d{1,5}\b")
# The fifty states and DC; a two-letter code that is also an English word counts only after a comma.
_STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|"
    "Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|"
    "Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|"
    "North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|"
    "Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming|District of Columbia"
)
_STATE_CODES = "AK|AZ|AR|CA|CT|DC|FL|GA|IA|KS|KY|MI|MN|MT|NC|ND|NE|NH|NJ|NM|NV|NY|RI|SC|SD|TN|TX|UT|VA|VT|WA|WI|WV|WY"
_STATE_WORDS = "AL|CO|DE|HI|ID|IL|IN|LA|MA|MD|ME|MO|MS|OH|OK|OR|PA"
_TITLE = r"[A-Z][a-z'’.-]+"
_STATE = rf"(?:,\s*(?:{_STATE_NAMES}|{_STATE_CODES}|{_STATE_WORDS})|\s+(?:{_STATE_NAMES}|{_STATE_CODES}))\b"
_CITY_STATE = re.compile(rf"\b(?:{_TITLE}\s+){{0,2}}{_TITLE}{_STATE}")
# The town after a redacted street: "[address], Trenton, NJ", "[address] in Springfield".
_AFTER_ADDRESS = re.compile(rf"\[address\](?:,\s*|\s+(?:in|to)\s+)(?:{_TITLE}\s+){{0,2}}{_TITLE}(?:{_STATE})?")
# Where a visitor says they live or come from: "from Camden", "I live in Pennsauken".
_PLACE_OPENER = re.compile(
    r"\b(?:from|(?:live|living|lives|based|staying|located|moved|moving|i'?m|i\s+am|we'?re|we\s+are)\s+"
    r"(?:in|to|near|out\s+of))\s+(?=[A-Z])",
    re.IGNORECASE,
)

# Phrases after which a person gives a name. For the explicit ones any words count; after "I'm",
# "I am" and "this is" only capitalised words do, since "I'm worried" is not a name.
_NAME_ANYCASE = re.compile(
    r"\b(?:my\s+(?:full\s+|first\s+|last\s+|real\s+)?name\s*(?:is|'s|’s|:)|name\s*:|call\s+me|"
    r"my\s+(?:son|daughter|wife|husband|partner|mom|mother|dad|father|friend|brother|sister|child|kid|"
    r"boyfriend|girlfriend|doctor|therapist)(?:'s|’s)?\s+name\s+is|me\s+llamo|mi\s+nombre\s+es|signed,?|"
    r"name\s*-|patient\s*:|from\s*:|attn\.?:?)"
    r"\s+",
    re.IGNORECASE,
)
_RELATIONS = (
    r"son|daughter|wife|husband|partner|mom|mother|dad|father|friend|brother|sister|child|kid|boyfriend|"
    r"girlfriend|doctor|therapist|psychiatrist|counselor|counsellor|grandson|granddaughter|grandmother|"
    r"grandfather|grandma|grandpa|aunt|uncle|cousin|niece|nephew|fianc[eé]e?|caregiver|coworker|roommate"
)
_NAME_CAPITALISED = re.compile(
    r"(?:\b(?:i\s*['’]?\s*m|i\s+am|this\s+is|it\s*['’]?\s*s|soy|dr\.?|doctor|mr\.?|mrs\.?|ms\.?|miss|"
    r"nurse|named|called|thanks(?:\s+so\s+much)?[,!.]?|thank\s+you[,!.]?|regards,?|cheers,?|best,|"
    r"sincerely,?|love,|dear|hi,?|hello,?|hey,?|"
    rf"(?:{_RELATIONS})(?:'s|’s)?,?)|(?<!\w)[-–—])\s+",
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
    i ketamine ok okay fine good bad glad tired done team all everyone there is are can do does what how
    why when where who which will would should could may might please here
    """.split()
)
# Capitalised words that are not names when they stand without a lead-in ("Is Spravato Covered").
_NOT_BARE_NAMES = _NOT_NAMES | frozenset(
    """
    hi hello hey dear thanks thank anyone someone everyone nobody my our your his her their this that
    monday tuesday wednesday thursday friday saturday sunday january february march april may june july
    august september october november december english spanish french portuguese german italian
    esketamine spravato ptsd ocd covid medicare medicaid
    """.split()
)
_BARE = r"[A-Z][a-z'’-]+(?:\s+(?:[A-Z]\.|[A-Z][a-z'’-]+)){0,2}"
# A name with no lead-in: "Jane Doe here", "Sofia Marquez, 34", "Jacob Weiss DOB ...", and two or three
# capitalised words in the middle of a sentence ("can Sarah Whitfield pick me up").
_BARE_NAMES = (
    re.compile(rf"\b{_BARE}(?=\s+here\b)"),
    re.compile(
        r"\b[A-Z][a-z'’-]+(?:\s+(?:[A-Z]\.|[A-Z][a-z'’-]+)){1,2}"
        r"(?=[,.]\s*(?:\d{1,3}\b|\[|(?:RN|MD|NP|LPN|DO|PhD)\b)|\s+(?i:dob|d\.o\.b\.?|born)\b)"
    ),
    re.compile(r"(?<=[a-z,;:]\s)[A-Z][a-z'’-]+(?:\s+[A-Z][a-z'’-]+){1,2}\b"),
)
MAX_NAME_WORDS = 3


def _names(text: str, opener: re.Pattern[str], capitalised: bool, placeholder: str = NAME) -> str:
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
            not_names = _NOT_BARE_NAMES if placeholder != NAME else _NOT_NAMES
            if token in _NAME_STOPS or (capitalised and (not word.group()[0].isupper() or token in not_names)):
                break
            taken += 1
            end = word.end()
            space = re.match(r"[ \t]+", text[end:])
            if space is None:
                break
            cursor = end + space.end()
        if taken:
            out.append(text[position : match.end()])
            out.append(placeholder)
            position = end
    out.append(text[position:])
    return "".join(out)


def _bare_name(match: re.Match[str]) -> str:
    words = [word.rstrip(".").casefold() for word in match.group().split()]
    return match.group() if any(word in _NOT_BARE_NAMES for word in words) else NAME


def _mixed_id(match: re.Match[str]) -> str:
    token = match.group()
    digits = sum(ch.isdigit() for ch in token)
    if digits < 2 or len(token) < 4 or _WITH_UNIT.fullmatch(token):
        return token
    return NUMBER


def _places(text: str) -> str:
    return _names(text, _PLACE_OPENER, capitalised=True, placeholder=ADDRESS)


def _phone(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group())
    return PHONE if 7 <= digits <= 15 else match.group()


STEPS: tuple[Callable[[str], str], ...] = (
    lambda t: _URL.sub(URL, t),
    lambda t: _EMAIL.sub(EMAIL, t),
    lambda t: _PO_BOX.sub(ADDRESS, t),
    lambda t: _ADDRESS.sub(ADDRESS, t),
    lambda t: _UNIT.sub(ADDRESS, t),
    lambda t: _CALLE.sub(ADDRESS, t),
    lambda t: _STREET_NAMED.sub(ADDRESS, t),
    lambda t: _DATE.sub(DATE, t),
    lambda t: _WORD_DATE.sub(DATE, t),
    lambda t: _SHORT_DATE.sub(DATE, t),
    lambda t: _PHONE.sub(_phone, t),
    lambda t: _MIXED.sub(_mixed_id, t),
    lambda t: _DIGITS.sub(NUMBER, t),
    lambda t: _AFTER_ADDRESS.sub(ADDRESS, t),
    lambda t: _CITY_STATE.sub(ADDRESS, t),
    _places,
    lambda t: _names(t, _NAME_ANYCASE, capitalised=False),
    lambda t: _names(t, _NAME_CAPITALISED, capitalised=True),
    *(lambda t, pattern=pattern: pattern.sub(_bare_name, t) for pattern in _BARE_NAMES),
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
