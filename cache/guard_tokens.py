"""The guard's reading of a prompt: tokens normalised to what decides the answer.

Case, contractions, light stemming, number words and Roman numerals → digits, units and common
abbreviations → one spelling, safe synonyms → one word; function words and request framing are
marked so `cache.guard` can drop them. See `cache.guard` for how two readings are compared.
"""

from __future__ import annotations

import re
from functools import lru_cache

from cache.guard_words import (
    _AGENT,
    _ING_KEEP,
    _IRREGULAR_PARTICIPLES,
    _NEGATIONS,
    _NUM_WORDS,
    _ORDINALS,
    _PHRASES,
    _PRONOUN_I_NEXT,
    _ROMAN,
    _ROMAN_LOWER,
    _ROMAN_VAL,
    _S_KEEP,
    _SCALES,
    _TOKEN,
    _UNITS,
    BE,
    MODAL,
    ORDER_ONLY,
    PERSON,
    ROMAN_CONTEXT,
    STOP,
    SYN,
)


def _roman(tok: str) -> int | None:
    up = tok.upper()
    if not up or not _ROMAN.match(up):
        return None
    total = 0
    for a, b in zip(up, up[1:] + " ", strict=True):
        v = _ROMAN_VAL[a]
        total += -v if b != " " and _ROMAN_VAL.get(b, 0) > v else v
    return total


def stem(w: str) -> str:
    """A deliberately light stemmer: plural, -ing, -ed, -ly, final e; equal stems, equal word."""
    if w in _AGENT:
        return _AGENT[w]
    if len(w) <= 3 or not w.isalpha():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith(("sses", "shes", "ches", "xes", "zes")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is", "ous")) and w not in _S_KEEP:
        w = w[:-1]
    if w.endswith("ing") and len(w) > 5 and w not in _ING_KEEP:
        w = w[:-3]
        if len(w) > 2 and w[-1] == w[-2] and w[-1] not in "lsz":
            w = w[:-1]
    elif w.endswith("ed") and len(w) > 4 and not w.endswith("eed"):
        w = w[:-2]
        if w.endswith("i"):
            w = w[:-1] + "y"
        elif len(w) > 2 and w[-1] == w[-2] and w[-1] not in "lsz":
            w = w[:-1]
    elif w.endswith("ly") and len(w) > 5:
        w = w[:-2] + ("l" if w[-3] in "bp" else "")
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    if w.endswith("y") and len(w) > 3:
        w = w[:-1] + "i"
    return w


class Token:
    __slots__ = ("raw", "norm", "pos", "content", "order", "quoted")

    def __init__(
        self, raw: str, norm: str, pos: int, *, content: bool, order: bool, quoted: bool = False
    ) -> None:
        self.raw, self.norm, self.pos = raw, norm, pos
        self.content, self.order, self.quoted = content, order, quoted

    def __repr__(self) -> str:
        return f"{self.norm}{'' if self.content else '?'}"


def _raw_tokens(text: str) -> list[tuple[str, str, bool]]:
    """(kind, text, quoted) for every token; quote marks toggle literal mode."""
    out = []
    quoted = False
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or ""
        if kind == "quote":
            quoted = not quoted
            continue
        out.append((kind, m.group(), quoted))
    if quoted:  # unbalanced: an apostrophe, not a quote; nothing was literal
        out = [(k, t, False) for k, t, _ in out]
    return out


def _expand_contractions(words: list[tuple[str, str, bool]]) -> list[tuple[str, str, bool]]:
    out = []
    for kind, tok, q in words:
        if kind == "word" and ("'" in tok or "’" in tok):
            t = tok.replace("’", "'")
            low = t.lower()
            if low.endswith("n't"):
                base = {"won": "will", "can": "can", "ca": "can", "sha": "shall"}.get(
                    low[:-3], t[:-3]
                )
                out += [(kind, base, q), (kind, "not", q)]
                continue
            head, _, tail = t.partition("'")
            if tail.lower() in ("s", "re", "ve", "ll", "d", "m"):
                out.append((kind, head, q))
                if tail.lower() == "ll":
                    out.append((kind, "will", q))
                continue
        out.append((kind, tok, q))
    return out


def _numbers(words: list[tuple[str, str, bool]]) -> list[tuple[str, str, bool]]:
    """Number words → digits (compound: "twenty five" → 25), ordinals → "2nd", Roman → digits."""
    out: list[tuple[str, str, bool]] = []
    i = 0
    while i < len(words):
        kind, tok, q = words[i]
        low = tok.lower()
        if kind == "word" and not q and (low in _NUM_WORDS or low in _SCALES):
            prev = words[i - 1][1].lower() if i else ""
            nxt = words[i + 1][1].lower() if i + 1 < len(words) else ""
            if low == "one" and (
                prev
                in ("which", "this", "that", "each", "every", "any", "no", "the", "another", "a")
                or nxt == "of"
            ):
                out.append(("word", "one_pron", q))
                i += 1
                continue
            total = current = 0
            j = i
            while j < len(words) and words[j][0] == "word":
                w = words[j][1].lower()
                if w in _NUM_WORDS:
                    current += _NUM_WORDS[w]
                elif w in _SCALES and (current or j == i):
                    current = max(current, 1) * _SCALES[w]
                    if _SCALES[w] >= 1000:
                        total, current = total + current, 0
                elif w == "and" and j + 1 < len(words) and words[j + 1][1].lower() in _NUM_WORDS:
                    pass
                else:
                    break
                j += 1
            out.append(("num", str(total + current), q))
            i = j
            continue
        if (
            kind == "word"
            and not q
            and low in _ORDINALS
            and not (low == "second" and (i == 0 or words[i - 1][1].lower() not in ("the", "a")))
        ):
            out.append(("num", f"{_ORDINALS[low]}th", q))
        elif kind == "num":
            t = tok.lower()
            if re.fullmatch(r"\d{1,3}(,\d{3})+", t):
                t = t.replace(",", "")
            m = re.fullmatch(r"(\d+)(st|nd|rd|th)", t)
            out.append(("num", f"{m.group(1)}th" if m else t, q))
        elif kind == "word" and not q and _is_roman(words, i):
            out.append(("num", str(_roman(tok)), q))
        else:
            out.append((kind, tok, q))
        i += 1
    return out


def _is_roman(words: list[tuple[str, str, bool]], i: int) -> bool:
    tok = words[i][1]
    if tok.isupper() and len(tok) >= 2 and _roman(tok):
        return True
    if tok.islower() and len(tok) >= 2 and _ROMAN_LOWER.match(tok):
        return True
    if tok in ("I", "V", "X") and i > 0:
        if tok == "I" and i + 1 < len(words) and words[i + 1][1].lower() in _PRONOUN_I_NEXT:
            return False  # "… Python I have": the pronoun, not Roman one
        prev = words[i - 1][1]
        if prev.lower() in ROMAN_CONTEXT:
            return True
        return prev[:1].isupper() and prev[1:].islower() and i > 1 and words[i - 2][0] == "word"
    return False


@lru_cache(maxsize=4096)
def analyse(text: str) -> tuple[Token, ...]:
    """The normalised token stream of a prompt (cached: a stored prompt is checked often)."""
    for pat, rep in _PHRASES:
        text = pat.sub(rep, text)
    words = _numbers(_expand_contractions(_raw_tokens(text)))
    lows = [w[1].lower() for w in words]
    out: list[Token] = []
    for i, (kind, tok, quoted) in enumerate(words):
        low = lows[i]
        if quoted:
            out.append(Token(tok, low, i, content=True, order=True, quoted=True))
            continue
        if kind == "num":
            out.append(Token(tok, low, i, content=True, order=True))
            continue
        if kind == "sym":
            norm = _UNITS.get(low, low)
            if low == "°" and i + 1 < len(words) and lows[i + 1] in ("f", "c"):
                continue
            out.append(Token(tok, norm, i, content=True, order=True))
            continue
        prev = lows[i - 1] if i else ""
        if low in ("f", "c") and prev == "°":
            out.append(
                Token(tok, "fahrenheit" if low == "f" else "celsius", i, content=True, order=True)
            )
            continue
        if low in ("degree", "degrees") and (
            (i + 1 < len(words) and lows[i + 1] in ("fahrenheit", "celsius", "kelvin", "f", "c"))
            or (i and words[i - 1][0] == "num")
        ):
            continue
        if low == "how" and _how_to(lows, i):
            continue
        if low in _NEGATIONS:
            out.append(Token(tok, _NEGATIONS[low], i, content=True, order=True))
            continue
        if low in ("will", "shall") and not (i + 1 < len(lows) and lows[i + 1] in PERSON):
            out.append(Token(tok, "#future", i, content=True, order=False))
            continue
        if low == "did":
            out.append(Token(tok, "#past", i, content=True, order=False))
            continue
        if low in ("was", "were"):
            if _passive_after(lows, i):
                continue
            out.append(Token(tok, "#past", i, content=True, order=False))
            continue
        if low in ORDER_ONLY:
            out.append(Token(tok, "to", i, content=False, order=True))
            continue
        if low in STOP or low in BE:
            continue
        if low in _UNITS:
            norm = _UNITS[low]
        else:
            norm = SYN.get(low) or SYN.get(stem(low)) or stem(low)
            norm = SYN.get(norm, norm)
        out.append(Token(tok, norm, i, content=True, order=True))
    return tuple(out)


def _how_to(lows: list[str], i: int) -> bool:
    """'how do I', 'how can you', 'how to' just frame a request: "how to X" ≈ "X"."""
    nxt = lows[i + 1 : i + 3]
    if nxt[:1] == ["to"]:
        return True
    return len(nxt) == 2 and nxt[0] in MODAL and nxt[1] in PERSON


def _passive_after(lows: list[str], i: int) -> bool:
    for w in lows[i + 1 : i + 3]:
        if w in _IRREGULAR_PARTICIPLES or (w.endswith("ed") and len(w) > 3):
            return "by" in lows[i + 1 :]
    return False
