"""The language of a battle (LMArena's `language` column): py3langid on the first prompt, kept only when sure.

Why py3langid with a confidence floor: on short prompts every detector guesses. Measured here: CLD2 called
"Quelle est la capitale de la France ?" English with 97% confidence; py3langid named it French (0.95) but gave
"Hello there" to Sotho at 0.34. A wrong label is worse than none in a per-language leaderboard, so below
MIN_CONFIDENCE (normalised probability) only a script that names its language (Han, kana, Hangul, Thai, ...)
decides; otherwise the column stays empty and the battle is simply not in any language's ratings. Names follow
LMArena's releases ("English", "Chinese", ...).
"""

from __future__ import annotations

import re
import threading
from typing import Any

MIN_CONFIDENCE = 0.9
MAX_CHARS = 2000  # enough to decide; bounds the cost of a 30,000-character prompt

# ISO 639 codes of py3langid's model -> English names. zxx ("no linguistic content": code, numbers) is no language.
NAMES = {
    "af": "Afrikaans", "am": "Amharic", "an": "Aragonese", "ar": "Arabic", "ary": "Moroccan Arabic",
    "arz": "Egyptian Arabic", "as": "Assamese", "ace": "Acehnese", "az": "Azerbaijani", "ba": "Bashkir",
    "bcl": "Central Bikol", "be": "Belarusian", "bg": "Bulgarian", "bn": "Bengali", "br": "Breton", "bs": "Bosnian",
    "ca": "Catalan", "crh": "Crimean Tatar", "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German",
    "dz": "Dzongkha", "el": "Greek", "en": "English", "eo": "Esperanto", "es": "Spanish", "et": "Estonian",
    "eu": "Basque", "ext": "Extremaduran", "fa": "Persian", "fi": "Finnish", "fo": "Faroese", "fr": "French",
    "fuv": "Nigerian Fulfulde", "fy": "Western Frisian", "ga": "Irish", "gcf": "Guadeloupean Creole",
    "gcr": "Guianese Creole", "gd": "Scottish Gaelic", "gl": "Galician", "gom": "Goan Konkani",
    "grc": "Ancient Greek", "gu": "Gujarati", "gug": "Paraguayan Guarani", "guw": "Gun", "ha": "Hausa",
    "hbo": "Ancient Hebrew", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "ht": "Haitian Creole",
    "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian", "ig": "Igbo", "is": "Icelandic", "it": "Italian",
    "ja": "Japanese", "jv": "Javanese", "ka": "Georgian", "kab": "Kabyle", "kik": "Kikuyu", "kk": "Kazakh",
    "km": "Khmer", "kn": "Kannada", "ko": "Korean", "ku": "Kurdish", "ky": "Kyrgyz", "la": "Latin",
    "lb": "Luxembourgish", "lg": "Ganda", "lij": "Ligurian", "ln": "Lingala", "lo": "Lao", "lt": "Lithuanian",
    "ltg": "Latgalian", "lv": "Latvian", "mg": "Malagasy", "mk": "Macedonian", "ml": "Malayalam", "mn": "Mongolian",
    "mr": "Marathi", "ms": "Malay", "mt": "Maltese", "my": "Burmese", "ne": "Nepali", "nl": "Dutch",
    "nn": "Norwegian Nynorsk", "no": "Norwegian", "nso": "Northern Sotho", "oc": "Occitan", "om": "Oromo",
    "or": "Odia", "pa": "Punjabi", "pcm": "Nigerian Pidgin", "pl": "Polish", "ps": "Pashto", "pt": "Portuguese",
    "qu": "Quechua", "ro": "Romanian", "ru": "Russian", "rw": "Kinyarwanda", "sa": "Sanskrit",
    "sdh": "Southern Kurdish", "se": "Northern Sami", "si": "Sinhala", "sk": "Slovak", "sl": "Slovenian",
    "sn": "Shona", "so": "Somali",
    "sq": "Albanian", "sr": "Serbian", "st": "Southern Sotho", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil",
    "te": "Telugu", "tg": "Tajik", "th": "Thai", "tk": "Turkmen", "tl": "Tagalog", "tr": "Turkish", "tt": "Tatar",
    "ug": "Uyghur", "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek", "uzs": "Southern Uzbek", "vec": "Venetian",
    "vi": "Vietnamese", "vo": "Volapük", "wa": "Walloon", "wuu": "Wu Chinese", "xh": "Xhosa", "yo": "Yoruba",
    "yue": "Cantonese", "zh": "Chinese", "zu": "Zulu",
}


# Scripts that name their language outright, for prompts too short for the model to be sure (it gave
# "请用中文写一首关于秋天的诗" 0.77). Checked in this order: kana means Japanese even among Han characters.
SCRIPTS = (
    ("Japanese", re.compile(r"[\u3040-\u30ff]")),
    ("Korean", re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")),
    ("Chinese", re.compile(r"[\u4e00-\u9fff]")),
    ("Thai", re.compile(r"[\u0e00-\u0e7f]")),
    ("Greek", re.compile(r"[\u0370-\u03ff]")),
    ("Hebrew", re.compile(r"[\u0590-\u05ff]")),
    ("Armenian", re.compile(r"[\u0530-\u058f]")),
    ("Georgian", re.compile(r"[\u10a0-\u10ff]")),
)
LETTER = re.compile(r"[^\W\d_]")


def script_language(text: str) -> str | None:
    """The language whose own script makes up most of the letters of `text`, if any."""
    letters = len(LETTER.findall(text))
    for name, pattern in SCRIPTS:
        if letters and len(pattern.findall(text)) >= 0.5 * letters:
            return name
    return None


class LanguageDetector:
    """`detector(text)` -> a language name, or None when the text is not clearly in one language."""

    def __init__(self, min_confidence: float = MIN_CONFIDENCE):
        self.min_confidence = min_confidence
        self._identifier: Any = None
        self._loading = threading.Lock()

    def load(self) -> None:
        """Load the model (~0.4 s; the arena does it at start-up, off the event loop)."""
        with self._loading:
            if self._identifier is None:
                from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

                self._identifier = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)

    def __call__(self, text: str) -> str | None:
        if self._identifier is None:
            self.load()
        sample = text[:MAX_CHARS]
        if not sample.strip():
            return None
        code, confidence = self._identifier.classify(sample)
        if confidence < self.min_confidence:
            return script_language(sample)
        return NAMES.get(code)  # zxx (code, numbers) and any code without a name: no language
