"""Which language a visitor writes in, so that a question in another language gets one fixed line in
that language: the information here is in English, and here is how to reach a person who speaks yours.

The detector is langdetect's (about 60 MB of profiles). On short English it sometimes names another
language, so a message counts as that language only when most of its words are more common there than
in English (wordfreq), and it is at least two words long.
"""

from __future__ import annotations

from langdetect import DetectorFactory, LangDetectException, detect_langs
from wordfreq import zipf_frequency

from bot.query import words

# The fixed line for each language: {name} and {phone} come from the settings.
NOTICES = {
    "es": "Esta información está en inglés. Para hablar con una persona en español, llame a {name} al {phone}.",
    "pt": "Estas informações estão em inglês. Para falar com uma pessoa em português, ligue para {name}: {phone}.",
    "fr": "Ces informations sont en anglais. Pour parler à quelqu'un en français, appelez {name} au {phone}.",
    "de": "Diese Informationen sind auf Englisch. "
    "Wenn Sie mit jemandem auf Deutsch sprechen möchten, rufen Sie {name} unter {phone} an.",
    "it": "Queste informazioni sono in inglese. Per parlare con una persona in italiano, chiami {name} al {phone}.",
}
LEAST_CONFIDENCE = 0.5
# wordfreq's short lists: enough to tell which language everyday words belong to, at 15 MB for all six
# (its full lists for the five other languages took 180 MB a worker).
WORDLIST = "small"
LEAST_WORDS = 2
DetectorFactory.seed = 0  # langdetect samples at random: the same message always gets the same answer


def language_of(text: str) -> str:
    """The message's language as an ISO 639-1 code: "en" unless another one is clearly the one used.

    The word-frequency check runs first because it is cheap (a dictionary lookup a word): langdetect
    takes about 5 ms a message, so it is asked only about a message most of whose words are more common
    in one of the other languages than in English.
    """
    found = [w for w in words(text) if not w.isdigit()]
    if len(found) < LEAST_WORDS:
        return "en"
    english = [zipf_frequency(w, "en", wordlist=WORDLIST) for w in found]
    likely = {
        code
        for code in NOTICES
        if 2 * sum(zipf_frequency(w, code, wordlist=WORDLIST) > e for w, e in zip(found, english, strict=True))
        > len(found)
    }
    if not likely:
        return "en"
    try:
        best = detect_langs(text)[0]
    except LangDetectException:  # nothing it can read as language: digits, symbols
        return "en"
    return str(best.lang) if best.lang in likely and best.prob >= LEAST_CONFIDENCE else "en"


def language_notice(text: str, name: str, phone: str) -> str | None:
    """The fixed line for a message not in English, in its language; None for English."""
    notice = NOTICES.get(language_of(text))
    return notice.format(name=name, phone=phone) if notice else None
