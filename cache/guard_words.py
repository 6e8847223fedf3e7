"""Word tables of the semantic-cache guard: stop words, units, synonyms, number words."""

from __future__ import annotations

import re

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
