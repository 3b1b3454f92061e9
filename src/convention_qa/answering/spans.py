"""Find the words a model copied in the sentence it copied them from, as the sentence writes them.

A small model copies loosely: another case, digits for a number the sentence spells ("5" for
"lima benua"), the other separator convention ("17,786,419" for "17.786.419"), a month in the
language asked ("25 October" for "25 Oktober"), or a digit misread ("26 Oktober" for "25
Oktober"). :func:`copy_span` gives the stretch of the sentence the words stand for, or None when
they are not taken from it. A number the model wrote never silently drops out of the answer: a
date keeps its day and month, and words whose number the sentence does not hold where they put
it are no copy at all.
"""

from __future__ import annotations

import re

from convention_qa.text import MONTHS

__all__ = ["copy_span"]

_NUMBER_WORDS = {
    str(n): set(names.split())
    for n, names in enumerate(
        [
            "nol zero không",
            "satu one một",
            "dua two hai",
            "tiga three ba",
            "empat four bốn",
            "lima five năm",
            "enam six sáu",
            "tujuh seven bảy",
            "delapan eight tám",
            "sembilan nine chín",
            "sepuluh ten mười",
        ]
    )
}
# Month names in Indonesian and English, folded to one token each ("#10" for "oktober" and
# "october": no word folds to a "#"), with two older Indonesian spellings. "May" is left out: in
# English it is mostly a verb.
_MONTHS = {name: f"#{n}" for names in MONTHS.values() for n, name in enumerate(names, start=1) if name != "may"} | {
    "pebruari": "#2",
    "nopember": "#11",
}


def copy_span(answer: str, sentence: str) -> str | None:
    """The words of ``sentence`` that ``answer`` copies, as the sentence writes them; None when the
    answer is not taken from it (its words match no stretch of the sentence by token F1 of 0.5,
    or the sentence holds none of its numbers there)."""
    wanted = answer.strip().strip("\"'“”").rstrip(".;,").strip()
    if not wanted:
        return None
    at = sentence.lower().find(wanted.lower())
    if at >= 0:
        return sentence[at : at + len(wanted)]
    # Word by word, each folded to its letters and digits: "17,786,419" is "17.786.419" as an
    # Indonesian sentence writes it.
    target = [_folded(w) for w in wanted.split() if _folded(w)]
    if not target:
        return None
    words = list(re.finditer(r"\S+", sentence))
    if len(target) <= 2 and target[0] in _NUMBER_WORDS:
        # "5" for a sentence that writes "lima benua": the model put the number in digits
        spelled = _NUMBER_WORDS[target[0]]
        for i, word in enumerate(words):
            if _folded(word.group()) in spelled:
                end = i + 1 if i + 1 < len(words) and words[i + 1].group().isalpha() else i
                return sentence[word.start() : words[end].end()].strip(" ,.;:()\"'")
    normalized = [_folded(w.group()) for w in words]
    best, best_f1 = None, 0.0
    for i in range(len(words)):
        for j in range(i, min(len(words), i + len(target) + 4)):
            window = [t for t in normalized[i : j + 1] if t]
            shared = sum(min(window.count(t), target.count(t)) for t in set(target))
            if not shared:
                continue
            precision, recall = shared / len(window), shared / len(target)
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best, best_f1 = (i, j), f1
    if best is None or best_f1 < 0.5:
        return None
    i, j = _with_date_parts(best, target, normalized)
    if any(_numeric(t) for t in target) and not any(_numeric(t) for t in normalized[i : j + 1]):
        return None  # "1,5 juta" against "satu setengah juta" would give "juta" alone: no answer
    return sentence[words[i].start() : words[j].end()].strip(" ,.;:()\"'")


def _with_date_parts(window: tuple[int, int], target: list[str], normalized: list[str]) -> tuple[int, int]:
    """The window widened over the numbers and month names next to it, as many as the model's
    words hold that the window lacks: "26 Oktober" read in "... 25 Oktober ..." matches "Oktober"
    and becomes "25 Oktober"; "12 Februari 2010" matched to "2010" becomes "21 September 2010"."""
    i, j = window
    lacking = sum(1 for t in target if _date_part(t) and t not in normalized[i : j + 1])
    while lacking > 0:
        if i > 0 and _date_part(normalized[i - 1]):
            i -= 1
        elif j + 1 < len(normalized) and _date_part(normalized[j + 1]):
            j += 1
        else:
            break
        lacking -= 1
    return i, j


def _folded(word: str) -> str:
    """A word lower-cased, its letters and digits only, a month name as its number: how copied
    words are compared."""
    folded = "".join(re.findall(r"\w+", word.lower()))
    return _MONTHS.get(folded, folded)


def _numeric(token: str) -> bool:
    return any(c.isdigit() for c in token) and not token.startswith("#")


def _date_part(token: str) -> bool:
    return _numeric(token) or token.startswith("#")
