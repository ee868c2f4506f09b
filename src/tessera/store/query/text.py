"""Text search semantics as MongoDB's text indexes define them (version 3).

A document's indexed strings are split into words at anything that is not a letter, a
digit, an underscore or (in English) an apostrophe, folded (lower case, diacritics
removed), stop words dropped and the rest stemmed with Snowball's stemmer, the one
MongoDB uses. Each distinct term of a document gets MongoDB's score: for every string
holding it, ``weight * freq * coeff * adjust``, summed over the strings, where ``freq``
is ``1 + 1/2 + 1/4 + ...`` over its occurrences in that string,
``coeff = 0.5 * count / words + 0.5`` (``words``: the string's terms that are not stop
words), and ``adjust`` is 1.1 when the whole string is the term, else 1. A search
scores a document with the sum of the scores of the search's terms it holds.

A ``$search`` string is read as MongoDB reads it: words are ORed, ``"quoted phrases"``
must all appear (as written, ignoring case and diacritics, inside one indexed string),
and ``-word`` or ``-"phrase"`` excludes the documents holding it.
"""

import functools
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import Stemmer
from pymongo.errors import OperationFailure, WriteError

from tessera.store.values.paths import MISSING, path_values, split_path

__all__ = [
    "Analyzed",
    "Scored",
    "Search",
    "TextSpec",
    "analyze",
    "parse_search",
    "score_of",
    "terms_of",
]

_BAD_VALUE = 2
_NO_SCORE = 40218
_CANNOT_CREATE_INDEX = 67
_LANGUAGE_TYPE = 17261
_LANGUAGE_UNSUPPORTED = 17262

#: The languages the embedded store analyses, by every name MongoDB accepts for them.
LANGUAGES = {"english": "english", "en": "english", "none": "none"}
# Words: letters, digits and underscores, as MongoDB splits at spaces, dashes, quotes and
# punctuation; in English an ASCII apostrophe is part of a word too (don't, o'neil).
_WORDS = {"english": re.compile(r"[\w']+"), "none": re.compile(r"\w+")}
# A stemmer object is not safe to share between threads: each reader has its own.
_STEMMERS = threading.local()

# The English words MongoDB leaves out of its text indexes and searches.
_STOP_WORD_LIST = (
    "a about above after again against all am an and any are as at be because been before "
    "being below between both but by cannot could did do does doing down during each few "
    "for from further had has have having he her here hers herself him himself his how i "
    "if in into is it its itself me more most my myself no nor not of off on once only or "
    "other ought our ours ourselves out over own same she should so some such than that "
    "the their theirs them themselves then there these they this those through to too "
    "under until up very was we were what when where which while who whom why with would "
    "you your yours yourself yourselves aren't can't couldn't didn't doesn't don't hadn't "
    "hasn't haven't he'd he'll he's here's how's i'd i'll i'm i've isn't it's let's mustn't "
    "shan't she'd she'll she's shouldn't that's there's they'd they'll they're they've "
    "wasn't we'd we'll we're we've weren't what's when's where's who's why's won't "
    "wouldn't you'd you'll you're you've"
)
_STOP_WORDS = frozenset(_STOP_WORD_LIST.split())


class Scored(dict[str, Any]):
    """A document a text search found, with its score: MongoDB's ``textScore`` metadata,
    which ``{"$meta": "textScore"}`` reads in projections, sorts and expressions."""

    __slots__ = ("score",)

    def __init__(self, doc: Mapping[str, Any], score: float) -> None:
        super().__init__(doc)
        self.score = score


def score_of(doc: Any) -> float:
    """The text score of `doc`; MongoDB's error for a query that has none."""
    if isinstance(doc, Scored):
        return doc.score
    raise OperationFailure("query requires text score metadata, but it is not available", _NO_SCORE)


@dataclass(frozen=True)
class TextSpec:
    """A text index's fields with their weights, and its languages."""

    weights: tuple[tuple[str, int], ...]
    default_language: str = "english"
    language_override: str = "language"

    @classmethod
    def build(cls, fields: Iterable[str], options: dict[str, Any]) -> "TextSpec":
        """The spec `create_index` asks for; takes its options out of `options`."""
        weights = dict.fromkeys(fields, 1)
        given = options.pop("weights", {})
        if not isinstance(given, Mapping):
            raise OperationFailure("text index option 'weights' must be an object", 67)
        for name, weight in given.items():
            if name == "$**" or not isinstance(name, str):
                raise OperationFailure(
                    "wildcard text indexes are not supported by the embedded store", 67
                )
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise OperationFailure(f"weight for text index needs numeric type: {name}", 67)
            if not 0 < weight < 100_000 or weight != int(weight):
                raise OperationFailure(
                    f"text index weight must be in an exclusive interval "
                    f"(0,100000) but found: {weight}",
                    67,
                )
            weights[name] = int(weight)
        language = options.pop("default_language", "english")
        if language not in LANGUAGES:
            raise OperationFailure(
                f"unsupported language: {language!r} for text index version 3 "
                f"(the embedded store supports {sorted(LANGUAGES)})",
                _CANNOT_CREATE_INDEX,
            )
        override = options.pop("language_override", "language")
        if not isinstance(override, str) or not override or override.startswith("$"):
            raise OperationFailure("language_override must be a field name", 67)
        version = options.pop("textIndexVersion", 3)
        if version != 3:
            raise OperationFailure(
                f"Currently only textIndexVersion 3 is supported, not {version!r}", 67
            )
        return cls(tuple(sorted(weights.items())), language, override)

    def options(self) -> dict[str, Any]:
        """The index's options as ``list_indexes`` shows them."""
        return {
            "weights": dict(self.weights),
            "default_language": self.default_language,
            "language_override": self.language_override,
            "textIndexVersion": 3,
        }

    def language_of(self, doc: Mapping[str, Any]) -> str:
        """The language `doc` is indexed in: its override field, else the default."""
        value = doc.get(self.language_override, MISSING)
        if value is MISSING:
            return LANGUAGES[self.default_language]
        if not isinstance(value, str):
            raise WriteError(
                f"found language override field in document with non-string type: {value!r}",
                _LANGUAGE_TYPE,
            )
        if value not in LANGUAGES:
            raise WriteError(f"language override unsupported: {value}", _LANGUAGE_UNSUPPORTED)
        return LANGUAGES[value]

    def strings(self, doc: Mapping[str, Any]) -> Iterator[tuple[str, int]]:
        """Each indexed string of `doc` with its field's weight (array elements one by one)."""
        for name, weight in self.weights:
            for value in path_values(doc, split_path(name)):
                if isinstance(value, str):
                    yield value, weight
                elif isinstance(value, list):
                    for item in value:
                        if isinstance(item, str):
                            yield item, weight


def fold(text: str, case: bool = False, diacritics: bool = False) -> str:
    """`text` lower-cased unless `case`, with diacritics removed unless `diacritics`."""
    if not diacritics and not text.isascii():
        decomposed = unicodedata.normalize("NFD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return text if case else text.lower()


def terms_of(text: str, language: str, case: bool = False, diacritics: bool = False) -> list[str]:
    """The terms of `text`, in order: words folded, stop words left out, stemmed."""
    words = _WORDS[language].findall(fold(text, case, diacritics))
    if language == "none":
        return words
    if case:
        kept = [w for w in words if w.lower() not in _STOP_WORDS]
    else:
        kept = [w for w in words if w not in _STOP_WORDS]
    stemmer = getattr(_STEMMERS, "english", None)
    if stemmer is None:
        stemmer = _STEMMERS.english = Stemmer.Stemmer("english")
    return [term for term in stemmer.stemWords(kept) if term]  # "'" stems to nothing


@dataclass
class Analyzed:
    """What a document puts in a text index: its terms with their scores."""

    scores: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The terms separated by spaces, as the FTS5 table holds them."""
        return " ".join(self.scores)


def analyze(spec: TextSpec, doc: Mapping[str, Any]) -> Analyzed:
    """The terms and scores `doc` gives the text index `spec` (see the module's formula)."""
    language = spec.language_of(doc)
    out = Analyzed()
    for raw, weight in spec.strings(doc):
        terms = terms_of(raw, language)
        if not terms:
            continue
        counts: dict[str, int] = {}
        for term in terms:
            counts[term] = counts.get(term, 0) + 1
        for term, count in counts.items():
            freq = 2.0 - 0.5 ** (count - 1)  # 1 + 1/2 + ... + 1/2**(count-1)
            coeff = 0.5 * count / len(terms) + 0.5
            adjust = 1.1 if len(raw) == len(term) and raw.lower() == term else 1.0
            out.scores[term] = out.scores.get(term, 0.0) + weight * freq * coeff * adjust
    return out


@dataclass
class Search:
    """A parsed ``$text`` query."""

    terms: list[str]
    negated: list[str]
    phrases: list[str]
    negated_phrases: list[str]
    language: str
    case: bool = False
    diacritics: bool = False

    @property
    def index_decides(self) -> bool:
        """Whether the index's answer is the search's: no phrase, nothing sensitive."""
        return not (self.phrases or self.negated_phrases or self.case or self.diacritics)

    def residual(self, spec: TextSpec, doc: Mapping[str, Any]) -> bool:
        """Whether `doc`, which the index found holding a term and none of the negated
        ones, also passes what the index does not decide: phrases and, for a case or
        diacritic sensitive search, the terms as written."""
        if self.index_decides:
            return True
        strings = [fold(raw, self.case, self.diacritics) for raw, _ in spec.strings(doc)]
        for phrase in self.phrases:
            wanted = fold(phrase, self.case, self.diacritics)
            if not any(wanted in s for s in strings):
                return False
        for phrase in self.negated_phrases:
            unwanted = fold(phrase, self.case, self.diacritics)
            if any(unwanted in s for s in strings):
                return False
        if self.case or self.diacritics:
            language = spec.language_of(doc)
            held = {t for s in strings for t in terms_of(s, language, self.case, self.diacritics)}
            terms, negated = self._sensitive_terms
            if held.isdisjoint(terms) or not held.isdisjoint(negated):
                return False
        return True

    @functools.cached_property
    def _sensitive_terms(self) -> tuple[set[str], set[str]]:
        # The terms and negated terms kept as written (the index holds them folded).
        def sensitive(words: list[str]) -> set[str]:
            return {
                t for w in words for t in terms_of(w, self.language, self.case, self.diacritics)
            }

        return sensitive(self.terms), sensitive(self.negated)

    def fts_query(self) -> str | None:
        """The FTS5 MATCH expression for the index's part, None when nothing can match."""
        terms, negated = self._index_terms
        if not terms:
            return None  # no word, or only stop words
        query = " OR ".join(_quote(term) for term in terms)
        if negated:
            query = f"({query}) NOT ({' OR '.join(_quote(term) for term in negated)})"
        return query

    def score_terms(self) -> list[str]:
        """The index terms whose scores a matching document's score adds up."""
        return self._index_terms[0]

    def holds(self, terms: Mapping[str, float]) -> bool:
        """Whether a document with index terms `terms` passes the index's part: a
        searched term, no negated one (what `fts_query` asks FTS5)."""
        wanted, negated = self._index_terms
        return any(t in terms for t in wanted) and not any(t in terms for t in negated)

    @functools.cached_property
    def _index_terms(self) -> tuple[list[str], list[str]]:
        # A sensitive search's negations are the words as written, which the folded index
        # cannot tell apart: they are checked on the documents (see `residual`).
        sensitive = self.case or self.diacritics
        negated = [] if sensitive else _folded(self.negated, self.language)
        return _folded(self.terms, self.language), negated


def _folded(words: list[str], language: str) -> list[str]:
    # The search's words as the index holds them, each once.
    return list(dict.fromkeys(t for w in words for t in terms_of(w, language)))


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


_QUERY_PART = re.compile(r'"|-|[^\s"\-]+|\s+')


def parse_search(value: Any, default_language: str) -> Search:
    """A ``$text`` operand ({"$search", "$language", "$caseSensitive",
    "$diacriticSensitive"}) parsed as MongoDB parses it; without ``$language``, the
    search is in the index's default language."""
    if not isinstance(value, Mapping):
        raise OperationFailure("$text expects an object", _BAD_VALUE)
    unknown = set(value) - {"$search", "$language", "$caseSensitive", "$diacriticSensitive"}
    if unknown:
        raise OperationFailure(f"Unexpected field in $text query: {sorted(unknown)[0]}", 2)
    search = value.get("$search")
    if not isinstance(search, str):
        raise OperationFailure("$search must be a string", _BAD_VALUE)
    language = value.get("$language", default_language)
    if language not in LANGUAGES:
        raise OperationFailure(
            f"unsupported language: {language!r} for text index version 3", _LANGUAGE_UNSUPPORTED
        )
    flags = {}
    for key in ("$caseSensitive", "$diacriticSensitive"):
        flag = value.get(key, False)
        if not isinstance(flag, bool):
            raise OperationFailure(f"{key} must be a boolean", _BAD_VALUE)
        flags[key] = flag
    parsed = Search([], [], [], [], LANGUAGES[language])
    parsed.case, parsed.diacritics = flags["$caseSensitive"], flags["$diacriticSensitive"]
    negate = in_phrase = False
    after_space = True
    start = 0
    for match in _QUERY_PART.finditer(search):
        part = match.group()
        if part == '"':
            if in_phrase:
                phrase = search[start : match.start()]
                (parsed.negated_phrases if negate else parsed.phrases).append(phrase)
                negate = in_phrase = False
            else:
                in_phrase, start = True, match.end()
        elif part == "-":
            if not in_phrase and after_space:
                negate = True
        elif part.isspace():
            if not in_phrase:
                negate = False
        elif not (in_phrase and negate):
            (parsed.negated if negate and not in_phrase else parsed.terms).append(part)
        after_space = part.isspace()
    return parsed
