"""Okapi BM25 over code-aware tokens: lexical retrieval with no network.

Why BM25 and not embeddings: lessons are retrieved by the words of a
problem statement (function names, domain words like "palindrome" or
"prime"), the store stays small (hundreds to thousands of lessons), and the
result must be deterministic and offline. BM25 rewards rare shared terms
and saturates repeated ones, which is what "a similar past problem" means
here.

Why a tokenizer of our own: problem texts are full of identifiers, and
``is_palindrome`` / ``isPalindrome`` / ``IsPalindrome`` must all share the
terms ``is`` and ``palindrome`` with a prompt that says "palindrome".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z0-9_]+")
# split camelCase / PascalCase / acronyms: "HTTPServerError2" -> HTTP Server Error 2
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

#: very common English and Python words that say nothing about the problem
STOPWORDS = frozenset(
    """a an and are as at be by for from has have if in into is it its of on or that the this to was
    were will with which return returns given def self none true false list str int""".split()
)


def tokenize(text: str, *, keep_stopwords: bool = False) -> list[str]:
    """Lower-case terms, identifiers split on ``_`` and camelCase.

    The whole identifier is kept as a term too (``is_palindrome`` yields
    ``is_palindrome``, ``is``, ``palindrome``), so an exact name match
    scores above a match on its parts alone."""
    out: list[str] = []
    for word in _WORD.findall(text):
        parts = [p for chunk in word.split("_") for p in _CAMEL.findall(chunk)]
        lowered = [p.lower() for p in parts if p]
        whole = word.strip("_").lower()
        if whole and len(lowered) > 1:
            out.append(whole)
        out.extend(lowered)
    if keep_stopwords:
        return out
    return [t for t in out if t.isdigit() or (len(t) > 1 and t not in STOPWORDS)]


@dataclass(frozen=True)
class Hit:
    index: int
    score: float


class BM25:
    """An immutable BM25 index over a list of documents.

    ``k1`` controls term-frequency saturation, ``b`` length normalisation
    (the usual defaults). IDF is the non-negative variant
    ``log(1 + (N - df + 0.5) / (df + 0.5))``, so a term present in every
    document still never lowers a score.
    """

    def __init__(self, documents: Iterable[str], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.docs: list[Counter[str]] = [Counter(tokenize(d)) for d in documents]
        self.lengths = [sum(c.values()) for c in self.docs]
        n = len(self.docs)
        self.avgdl = (sum(self.lengths) / n) if n else 0.0
        df: Counter[str] = Counter()
        for c in self.docs:
            df.update(c.keys())
        self.idf = {t: math.log(1.0 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def __len__(self) -> int:
        return len(self.docs)

    def scores(self, query: str) -> list[float]:
        """The BM25 score of every document for ``query`` (0 when nothing is shared)."""
        terms = Counter(tokenize(query))
        out = [0.0] * len(self.docs)
        if not terms or not self.docs:
            return out
        k1, b, avgdl = self.k1, self.b, self.avgdl or 1.0
        for i, (doc, dl) in enumerate(zip(self.docs, self.lengths)):
            s = 0.0
            for term, qf in terms.items():
                f = doc.get(term)
                if not f:
                    continue
                s += self.idf[term] * f * (k1 + 1) / (f + k1 * (1 - b + b * dl / avgdl)) * qf
            out[i] = s
        return out

    def top(self, query: str, k: int = 3, *, min_score: float = 0.0, exclude: Sequence[int] = ()) -> list[Hit]:
        """The ``k`` best documents scoring above ``min_score``, best first
        (ties: the earlier document first, so results are deterministic)."""
        skip = set(exclude)
        ranked = sorted(
            (Hit(i, s) for i, s in enumerate(self.scores(query)) if s > min_score and i not in skip),
            key=lambda h: (-h.score, h.index),
        )
        return ranked[: max(0, k)]
