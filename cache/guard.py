"""Lexical guard: a semantic candidate above the cosine threshold is served only if this agrees.

Embeddings score word-order swaps and single-entity changes as near-identical ("5 km to miles"
vs "5 miles to km" ≈ 0.99; "capital of France" vs "of Germany" ≈ 0.95), so a threshold alone
cannot give zero false hits (research note §3). The guard reduces each prompt to what decides the
answer and demands that both reductions agree:

1. **Content words** must match as a multiset, after normalisation: case, contractions, light
   stemming, number words and Roman numerals → digits, units and common abbreviations → one
   spelling, a small table of safe synonyms (create/generate, recommend/suggest, …). Request
   framing ("can you tell me", "please", "how do I") and function words are dropped; negations,
   question words, comparatives and direction words are kept. Any word left unexplained on either
   side — an entity (France/Germany), a number (II/I), an antonym (ascending/descending) — blocks
   the hit. A one-sided extra word blocks it too ("fruits" vs "red fruits").
2. **Order** of the shared content words (with "to" kept as a marker) must be the same, except
   for changes that keep the roles: noun compound ↔ prepositional phrase ("programmer joke" ↔
   "joke about programmers", "Hamlet's plot" ↔ "plot of Hamlet"), "largest ocean" ↔ "ocean is
   the largest", and active ↔ passive when exactly one side is passive ("who painted X" ↔ "X was
   painted by whom"). "dog bites man" / "man bites dog" and "from A to B" / "from B to A" fail.

Quoted text ('…', "…") is compared literally, word for word. The guard errs towards a miss: a
miss costs one upstream call, a false hit serves a wrong answer.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

_TOKEN = re.compile(
    r"(?P<num>\d+(?:[.,]\d+)*(?:st|nd|rd|th)?)"
    r"|(?P<word>[^\W\d_]+(?:['’][^\W\d_]+)*)"
    r"|(?P<sym>[%+*/=<>^$€£¥°#&|~]|(?<![^\W\d_])-(?=\s*\d))"
    r"|(?P<quote>(?<![^\W_])['\"“”‘’`]|['\"“”‘’`](?![^\W_]))"
)

STOP = frozenset(
    """
a an the is are am be been being do does doing have has having get got i me my mine myself you
your yours yourself we us our ours it its they them their theirs he she him her his this that
these those there here of in on at for with about by as and or but if so then can could would
may might should must shall need needs ought please kindly some any all just really actually
also very quite usually generally basically typically exactly let know tell give show explain
describe help want wonder curious like ok okay hey hi thanks whether one_pron
what which during calculate compute find determine
""".split()
)
# Words that mark order or direction: kept in the order check; "to" is not a content word
# ("how to X" / "X") but still splits "km to miles" from "miles to km".
ORDER_ONLY = frozenset({"to", "into"})
BE = frozenset({"is", "are", "am", "was", "were", "be", "been", "being", "get", "got"})
PREPS = frozenset({"of", "about", "for", "in", "on", "at", "with"})
ROMAN_CONTEXT = frozenset(
    """war part chapter episode season volume book act phase stage type
class grade level henry louis elizabeth george charles edward james william richard john pope
mary rocky star wars final fantasy world""".split()
)
MODAL = frozenset({"do", "does", "can", "could", "should", "would", "might", "may", "will"})
PERSON = frozenset({"i", "you", "we", "one"})

_UNITS = {}
for canon, forms in {
    "km": "km kms kilometer kilometers kilometre kilometres",
    "mile": "mi mile miles",
    "kg": "kg kgs kilo kilos kilogram kilograms kilogramme kilogrammes",
    "lb": "lb lbs pound pounds",
    "g": "g gram grams gramme grammes",
    "oz": "oz ounce ounces",
    "m": "meter meters metre metres",
    "cm": "cm centimeter centimeters centimetre centimetres",
    "mm": "mm millimeter millimeters millimetre millimetres",
    "ft": "ft foot feet",
    "l": "liter liters litre litres",
    "ml": "ml milliliter milliliters millilitre millilitres",
    "fahrenheit": "fahrenheit °f",
    "celsius": "celsius centigrade °c",
    "minute": "min mins minute minutes",
    "second_unit": "sec secs seconds",
    "hour": "hr hrs hour hours",
    "%": "% percent percentage",
    "usd": "usd dollar dollars $",
    "eur": "eur euro euros €",
    "gbp": "gbp £",
}.items():
    for f in forms.split():
        _UNITS[f] = canon

# Safe synonyms: words that ask for the same answer in a prompt. Each group maps to its first word.
_SYN_GROUPS = """
create generate make produce compose craft write
strong secure
big large huge
small little tiny
fast quick rapid speedy
short brief concise
simple easy plain
begin start
end finish
buy purchase
film movie
car automobile
suggest recommend
who whom
term word
author writer wrote written
summary summarize summarise summarization
definition define mean meaning
image picture photo pic
app application
db database
repo repository
info information
dict dictionary
js javascript
ts typescript
difference differ differences
name list
""".strip().splitlines()
SYN: dict[str, str] = {}
for _line in _SYN_GROUPS:
    _words = _line.split()
    for _w in _words:
        SYN[_w] = _words[0]

_PHRASES = [
    (re.compile(r"\bsci[\s-]?fi\b", re.I), "science fiction"),
    (re.compile(r"\bstand(?:s)? for\b", re.I), "short for"),
    (re.compile(r"\bper\s+cent\b", re.I), "percent"),
    (re.compile(r"\bversus\b|\bvs\.?(?=\s)", re.I), "vs"),
    (re.compile(r"°\s*([FC])\b"), r"°\1 "),
    (re.compile(r"\bhow\s+(?:do|would|can|could)\s+(?:you|i|we|one)\s+say\b", re.I), "translate"),
    (re.compile(r"\b(?:in\s+)?(?:what|which)\s+year\b", re.I), "when"),
    # "how <adjective>" asks for the matching noun: "how tall is X" = "the height of X".
    (re.compile(r"\bhow\s+(tall|high)\b", re.I), "height"),
    (re.compile(r"\bhow\s+old\b", re.I), "age"),
    (re.compile(r"\bhow\s+fast\b", re.I), "speed"),
    (re.compile(r"\bhow\s+far\b", re.I), "distance"),
    (re.compile(r"\bhow\s+(?:big|large)\b", re.I), "size"),
    (re.compile(r"\bhow\s+heavy\b", re.I), "weight"),
    (re.compile(r"\bhow\s+deep\b", re.I), "depth"),
    (re.compile(r"\bhow\s+wide\b", re.I), "width"),
]
_AGENT = {
    "inventor": "invent",
    "creator": "create",
    "discoverer": "discover",
    "painter": "paint",
    "founder": "found",
    "designer": "design",
    "composer": "compose",
    "builder": "build",
    "developer": "develop",
    "maker": "make",
    "translator": "translate",
    "teacher_": "teach",
}
_NUM_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_NUM_WORDS.update(
    {
        w: 10 * (i + 2)
        for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())
    }
)
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_ORDINALS = {
    w: i + 1
    for i, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth".split()
    )
}
_ROMAN = re.compile(r"^M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})$")
_ROMAN_LOWER = re.compile(r"^(x{0,3})(ix|iv|v?i{0,3})$")
_ROMAN_VAL = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_IRREGULAR_PARTICIPLES = frozenset(
    """written made built done given taken seen known born found
held shown thought told won sold paid said sent brought bought caught taught led left lost kept
begun drawn driven eaten fallen gone grown hidden ridden risen run spoken stolen sung thrown worn
chosen""".split()
)
_PRONOUN_I_NEXT = frozenset(
    """am have had do did can could will would should need want think
know was use used get got like love make see go mean wonder""".split()
)
_NEGATIONS = {"no": "not", "never": "not", "not": "not", "nor": "not", "without": "without"}
_ING_KEEP = frozenset(
    {
        "string",
        "evening",
        "morning",
        "thing",
        "nothing",
        "something",
        "everything",
        "anything",
        "ring",
        "king",
        "wing",
        "spring",
        "sing",
        "bring",
        "during",
        "ceiling",
        "sibling",
        "wedding",
        "pudding",
    }
)
_S_KEEP = frozenset(
    {
        "news",
        "series",
        "species",
        "physics",
        "mathematics",
        "economics",
        "this",
        "his",
        "is",
        "was",
        "has",
        "does",
        "gas",
        "bus",
        "yes",
        "us",
        "its",
        "always",
        "perhaps",
        "whereas",
        "class",
        "glass",
        "grass",
    }
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


def _passive(text: str) -> bool:
    lows = [w[1].lower() for w in _raw_tokens(text)]
    return any(
        w in ("is", "are", "was", "were", "been", "being") and _passive_after(lows, i)
        for i, w in enumerate(lows)
    )


def _bag(tokens: tuple[Token, ...]) -> Counter[str]:
    return Counter(t.norm for t in tokens if t.content)


def _lows(text: str) -> list[str]:
    for pat, rep in _PHRASES:
        text = pat.sub(rep, text)
    return [w[1].lower() for w in _numbers(_expand_contractions(_raw_tokens(text)))]


def _movable(
    x: str, tp: tuple[Token, ...], lows_p: list[str], tq: tuple[Token, ...], lows_q: list[str]
) -> bool:
    """``x`` is a modifier in Q ("Python list", "good exercises", "Hamlet's plot") and stands
    after a preposition or a copula in P ("list in Python", "exercises are good", "plot of
    Hamlet"), where nothing depends on it. Such a move keeps every word's role."""
    content_q = {t.pos for t in tq if t.content}
    content_p = {t.pos for t in tp if t.content}
    occ_p = [t.pos for t in tp if t.norm == x]
    occ_q = [t.pos for t in tq if t.norm == x]
    if len(occ_p) != 1 or len(occ_q) != 1:
        return False
    p, q = occ_p[0], occ_q[0]
    if q + 1 not in content_q or p + 1 in content_p:
        return False
    before = lows_p[max(0, p - 2) : p]
    if before[-1:] and before[-1] in PREPS | BE:
        return True
    return len(before) == 2 and before[1] in ("the", "a", "an") and before[0] in PREPS | BE


def _order_ok(ta: tuple[Token, ...], tb: tuple[Token, ...], a: str, b: str) -> bool:
    shared = set(t.norm for t in ta if t.order) & set(t.norm for t in tb if t.order)
    sa = [t.norm for t in ta if t.order and t.norm in shared]
    sb = [t.norm for t in tb if t.order and t.norm in shared]
    if sa == sb:
        return True
    if _passive(a) != _passive(b):
        return True
    lows_a, lows_b = _lows(a), _lows(b)
    movable = [
        x
        for x in shared
        if x != "to"
        and (_movable(x, ta, lows_a, tb, lows_b) or _movable(x, tb, lows_b, ta, lows_a))
    ]
    for n in (1, 2):
        for i, x in enumerate(movable):
            for y in movable[i + 1 :] if n == 2 else [x]:
                drop = {x, y}
                if [w for w in sa if w not in drop] == [w for w in sb if w not in drop]:
                    return True
    return False


def explain(a: str, b: str) -> str | None:
    """Why the guard blocks the pair (for tests and debugging), or None if it allows it."""
    ta, tb = analyse(a), analyse(b)
    bag_a, bag_b = _bag(ta), _bag(tb)
    if bag_a != bag_b:
        only_a = sorted((bag_a - bag_b).elements())
        only_b = sorted((bag_b - bag_a).elements())
        return f"words differ: {only_a} vs {only_b}"
    if not bag_a:
        return "no content words"
    if not _order_ok(ta, tb, a, b):
        return "word order differs"
    return None


def allows(a: str, b: str) -> bool:
    """True when prompts ``a`` and ``b`` may share an answer, as far as their words tell."""
    return explain(a, b) is None


DEFAULT_THRESHOLD = 0.80
"""Cosine (MiniLM) a candidate needs before the guard is asked. Chosen on the tuning set
(tests/data/semantic_pairs_tuning.json): every guard-approved paraphrase but one scores ≥ 0.80,
and the guard, not the threshold, is what stops near-misses (they score up to 0.997)."""
