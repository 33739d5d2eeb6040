"""Which language a visitor writes in, so that a question in another language gets one fixed line in
that language: the information here is in English, and here is how to reach a person who speaks yours.

The detector is lingua's (its small, low-accuracy models: 36 MB, well under a millisecond), limited to
the languages a New Jersey clinic's visitors write in. On short English it sometimes names another
language, so a message counts as that language only when most of its words are more common there
than in English (wordfreq), and at least a few words long.
"""

from __future__ import annotations

from functools import cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder
from wordfreq import zipf_frequency

from bot.query import words

# The fixed line for each language: {name} and {phone} come from the settings.
NOTICES = {
    Language.SPANISH: "Esta información está en inglés. "
    "Para hablar con una persona en español, llame a {name} al {phone}.",
    Language.PORTUGUESE: "Estas informações estão em inglês. "
    "Para falar com uma pessoa em português, ligue para {name}: {phone}.",
    Language.FRENCH: "Ces informations sont en anglais. "
    "Pour parler à quelqu'un en français, appelez {name} au {phone}.",
    Language.GERMAN: "Diese Informationen sind auf Englisch. "
    "Wenn Sie mit jemandem auf Deutsch sprechen möchten, rufen Sie {name} unter {phone} an.",
    Language.ITALIAN: "Queste informazioni sono in inglese. "
    "Per parlare con una persona in italiano, chiami {name} al {phone}.",
}
LEAST_CONFIDENCE = 0.5
LEAST_WORDS = 2


@cache
def _detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(Language.ENGLISH, *NOTICES).with_low_accuracy_mode().build()


def language_of(text: str) -> Language:
    """The message's language: English unless another one is clearly the one it is written in."""
    found = [w for w in words(text) if not w.isdigit()]
    if len(found) < LEAST_WORDS:
        return Language.ENGLISH
    best = _detector().compute_language_confidence_values(text)[0]
    if best.language == Language.ENGLISH or best.value < LEAST_CONFIDENCE:
        return Language.ENGLISH
    code = best.language.iso_code_639_1.name.lower()
    theirs = sum(zipf_frequency(w, code) > zipf_frequency(w, "en") for w in found)
    return best.language if 2 * theirs > len(found) else Language.ENGLISH


def language_notice(text: str, name: str, phone: str) -> str | None:
    """The fixed line for a message not in English, in its language; None for English."""
    notice = NOTICES.get(language_of(text))
    return notice.format(name=name, phone=phone) if notice else None
