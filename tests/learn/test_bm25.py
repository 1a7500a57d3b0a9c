"""BM25 and the identifier-aware tokenizer."""

from __future__ import annotations

from coderefl.learn.bm25 import BM25, tokenize


def test_tokenizer_splits_identifiers_and_keeps_the_whole_name():
    toks = tokenize("def is_palindrome(text): isPalindrome HTTPServerError parse2Count")
    assert "is_palindrome" in toks and "palindrome" in toks
    assert "ispalindrome" in toks and toks.count("palindrome") == 2
    assert {"http", "server", "error"} <= set(toks)
    assert {"parse", "2", "count"} <= set(toks)
    assert "def" not in toks and "the" not in tokenize("the list of the things")


def test_camel_and_snake_queries_find_the_same_problem():
    docs = [
        "def count_vowels(s): count the vowels in a string",
        "def is_palindrome(s): check whether a string reads the same backwards",
        "def sum_primes(n): sum of the prime numbers below n",
    ]
    index = BM25(docs)
    for query in ("isPalindrome", "IsPalindrome", "is_palindrome", "palindrome check"):
        assert index.top(query, k=1)[0].index == 1, query
    assert index.top("sumPrimes below 100", k=1)[0].index == 2


def test_rare_terms_weigh_more_and_length_is_normalised():
    docs = ["sort the list", "sort the list of tuples by key", "sort numbers", "reverse words"]
    index = BM25(docs)
    # "tuples" occurs once in the corpus, "sort" three times
    assert index.scores("tuples")[1] > index.scores("sort")[1]
    # same single match: the shorter document ranks first
    s = index.scores("sort")
    assert s[2] > s[1]


def test_no_overlap_scores_zero_and_empty_index_is_harmless():
    index = BM25(["alpha beta", "gamma delta"])
    assert index.scores("omega") == [0.0, 0.0]
    assert index.top("omega") == []
    assert BM25([]).top("anything") == []
    assert len(BM25([])) == 0


def test_ranking_is_deterministic_and_honours_k_and_exclude():
    index = BM25(["merge two lists", "merge two lists", "merge sorted arrays"])
    hits = index.top("merge lists", k=5)
    assert [h.index for h in hits][:2] == [0, 1]  # ties: earlier first
    assert [h.index for h in index.top("merge lists", k=1)] == [0]
    assert 0 not in [h.index for h in index.top("merge lists", exclude=[0])]
