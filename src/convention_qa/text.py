"""Language-aware word handling shared by retrieval and answering: tokens, stems, language guess.

Indonesian words are stemmed with Sastrawi; English words lose common inflections; Vietnamese
syllables are kept as they are. Stop words of the three languages are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "LANGUAGES",
    "MONTHS",
    "MONTH_NAMES",
    "STOP_WORDS",
    "anchors",
    "answer_language",
    "fold_marks",
    "guess_language",
    "looks_like_follow_up",
    "numbers",
    "strip_markers",
    "tokenize",
    "valid_text",
    "visible",
    "words_of",
]

LANGUAGES = {"id": "Indonesian", "en": "English", "vi": "Vietnamese"}  # the ones questions come in
# Month names, January first, as Indonesian and English text writes them (Vietnamese numbers them:
# "tháng 10").
_MONTHS_ID = "januari februari maret april mei juni juli agustus september oktober november desember"
_MONTHS_EN = "january february march april may june july august september october november december"
MONTHS = {"id": tuple(_MONTHS_ID.split()), "en": tuple(_MONTHS_EN.split())}
MONTH_NAMES = "|".join(sorted({name for names in MONTHS.values() for name in names}))  # for a regex
_WORD = re.compile(r"\w+", re.UNICODE)

_ID_STOP = """
ada adalah agar akan aku anda antara apa apakah atas atau bagai bagaimana bagi bahwa banyak
baru beberapa begitu belum berapa bisa boleh buat bukan dalam dan dapat dari dengan di dia
dimana ini itu jadi jika juga kami kamu kapan karena ke kenapa kepada ketika kita lagi lain
lalu maka mana masih mereka mengapa menjadi nya oleh pada para pun saat saja sama sampai
sangat saya se sebagai sebelum sedang sejak seperti serta setelah siapa sudah tanpa telah
tentang tersebut untuk yaitu yakni yang
"""
_EN_STOP = """
a about after all also an and any are as at be been before being but by can could did do does
during for from had has have he her his how i if in into is it its many may me more most much
my no not of on or other our over she should since so some such than that the their them then
there these they this those through to under until up was we were what when where which while
who whom whose why will with would you your
"""
_VI_STOP = """
và của là có được cho các những một trong với này đã không người để khi thì đến từ ra ở như
theo về bao nhiêu gì ai nào đâu sao tại vì nên cũng rằng đó thế mà hay hoặc bị
"""
STOP_WORDS = frozenset((_ID_STOP + _EN_STOP + _VI_STOP).split())

_ID_MARKERS = frozenset(_ID_STOP.split()) | {"berapa", "siapa", "kapan", "dimana", "mengapa"}
_EN_MARKERS = frozenset(_EN_STOP.split())
_VI_CHARS = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)


@lru_cache(maxsize=1)
def _stemmer() -> object:
    from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

    return StemmerFactory().create_stemmer()


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    if word.isdigit() or len(word) <= 3:
        return word
    if not word.isascii():
        return word  # Vietnamese syllables and other scripts: as they are
    stemmed: str = _stemmer().stem(word)  # type: ignore[attr-defined]
    if stemmed != word:
        return stemmed
    for suffix in ("ing", "ed", "s"):  # English inflections Sastrawi leaves alone
        # ...but not the s of Indonesian words such as jenis, khusus, universitas
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not (suffix == "s" and word[-2] in "aiusr"):
            return word[: -len(suffix)]
    return word


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).lower()


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed tokens of ``text``."""
    stems = (_stem(w) for w in _WORD.findall(_fold(text)) if w not in STOP_WORDS)
    return [s for s in stems if s not in STOP_WORDS]  # "berapakah" stems to a stop word


def guess_language(text: str) -> str:
    """ "id", "en" or "vi" for a question or passage (by stop words and diacritics), else "und".

    Works on short questions, where general-purpose detectors guess poorly.
    """
    folded = _fold(text)
    if len(_VI_CHARS.findall(folded)) >= 2:
        return "vi"
    words = _WORD.findall(folded)
    id_hits = sum(w in _ID_MARKERS for w in words)
    en_hits = sum(w in _EN_MARKERS for w in words)
    if id_hits == en_hits == 0:
        if any(w.startswith(("me", "ber", "di", "ter")) and len(w) > 5 for w in words):
            return "id"
        return "und"
    return "id" if id_hits >= en_hits else "en"


_NUMBER = re.compile(r"\d+(?:[.,]\d{3})*(?:[.,]\d+)?")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-ZÀ-Ỹ][\w'-]*", re.UNICODE)


def fold_marks(text: str) -> str:
    """Lower case without diacritics ("Nguyễn Minh Vũ" -> "nguyen minh vu"), for matching names."""
    decomposed = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def numbers(text: str) -> set[str]:
    """The numbers in ``text``, thousands separators removed ("1.000" and "1,000" -> "1000")."""
    found = set()
    for match in _NUMBER.findall(text):
        digits = re.sub(r"[.,](?=\d{3}\b)", "", match)
        found.add(digits.replace(",", "."))
    return found


def anchors(text: str) -> set[str]:
    """Words that must match verbatim across languages: numbers and capitalised names (folded)."""
    names = {fold_marks(w) for w in _NAME.findall(text.strip()) if fold_marks(w) not in STOP_WORDS}
    return numbers(text) | names


# Citation markers, the one definition: "[3]", "[1, 2]", "[ 4 ]"; group 1 holds the numbers.
MARKER = re.compile(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")
_MARKERS = re.compile(r"\s*" + MARKER.pattern)  # a marker with the space before it
_SINGLE_MARKER = re.compile(r"\s*\[(\d+)\]")  # "[3]": one number, as resolved answers cite


def cited_numbers(text: str) -> list[int]:
    """The numbers of the one-number markers ("[3]") in ``text``, in order."""
    return [int(n) for n in _SINGLE_MARKER.findall(text)]


def without_single_markers(text: str) -> str:
    """``text`` without its one-number markers ("[3]") and the space before each."""
    return _SINGLE_MARKER.sub("", text)


def valid_text(text: str) -> str:
    """``text`` as valid Unicode: a lone surrogate (from a JSON, YAML or HTML escape) becomes
    U+FFFD, the same number of characters, so spans stay exact."""
    if text.isascii():
        return text
    return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def words_of(text: str) -> set[str]:
    """Folded words and normalized numbers of ``text``: where to look up a question's anchors()."""
    return set(_WORD.findall(fold_marks(text))) | numbers(text)


def strip_markers(text: str) -> str:
    """``text`` without its [n] citation markers."""
    return _MARKERS.sub("", text).strip()


def answer_language(text: str) -> str:
    """The language of an answer, "und" when it is language-neutral.

    Names and numbers read the same in every language ("Pham The Tung", "69"), so capitalised
    words after the first and numbers are set aside; what is left must hold at least two words.
    """
    words = _WORD.findall(strip_markers(text))
    rest = [w for i, w in enumerate(words) if not w[0].isdigit() and (i == 0 or not w[0].isupper())]
    if len(rest) < 2:
        return "und"
    return guess_language(" ".join(rest))


def visible(text: str) -> bool:
    """Whether the text has a character a reader can see (not only spaces, controls such as NUL,
    or invisible format characters such as zero-width spaces)."""
    return any(c.isprintable() and not c.isspace() for c in text)


@dataclass(frozen=True)
class Query:
    """A question (or a rewritten or translated one) read once: every step that matches its
    words against passages, sentences or answers takes these, and none reads the text again."""

    text: str
    language: str  # how it is read: "id", "en", "vi" (or "und")
    tokens: tuple[str, ...]  # tokenize(text), in order (BM25 counts repeats)
    token_set: frozenset[str]
    anchors: frozenset[str]  # numbers and capitalised names: match verbatim across languages
    words: frozenset[str]  # folded words and numbers: where another text's anchors are looked up
    numbers: frozenset[str]

    @classmethod
    def read(cls, text: str, language: str | None = None) -> Query:
        """``text`` read in ``language`` (by default, the language it looks like)."""
        tokens = tokenize(text)
        return cls(
            text=text,
            language=language or guess_language(text),
            tokens=tuple(tokens),
            token_set=frozenset(tokens),
            anchors=frozenset(anchors(text)),
            words=frozenset(words_of(text)),
            numbers=frozenset(numbers(text)),
        )


_FOLLOW_UP = re.compile(
    r"\b(it|its|he|his|him|she|her|they|them|their|this|that|those|these|there|"
    r"itu|tersebut|ini|dia|ia|beliau|mereka|nya|sana|"
    r"nó|đó|ấy|này|họ|ông|bà)\b|^(and|dan|và|lalu|terus|then|so|also|juga|còn)\b|\w+nya\b",
    re.IGNORECASE,
)


def looks_like_follow_up(question: Query) -> bool:
    """A question that leans on the one before: a pronoun ("it", "-nya", "nó"), an opening "and",
    or too few words to stand alone."""
    return len(question.tokens) <= 3 or bool(_FOLLOW_UP.search(question.text))
