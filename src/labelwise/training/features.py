"""Features for linear models: cached sentence embeddings, or TF-IDF with no model at all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from labelwise.training.artifact import Array, Artifact

TFIDF_PARAMS = {
    "ngram_range": (1, 2),
    "sublinear_tf": True,
    "lowercase": True,
    "min_df": 1,
    "max_features": 50_000,
}


def embed(texts: Sequence[str], hashes: Sequence[str], cache: Any, encoder: Any) -> Array:
    """Sentence embeddings of ``texts`` by ``encoder``, through the embedding cache when one
    is given."""
    from labelwise.embeddings import embed_cached

    return np.asarray(embed_cached(encoder, texts, hashes, cache), dtype=np.float64)


def fit_tfidf(texts: Sequence[str]) -> tuple[list[str], Array]:
    """The vocabulary and idf of a TF-IDF model fitted on ``texts``."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(**TFIDF_PARAMS).fit(texts)
    vocab = [""] * len(vec.vocabulary_)
    for term, i in vec.vocabulary_.items():
        vocab[i] = term
    return vocab, np.asarray(vec.idf_, dtype=np.float64)


def tfidf(texts: Sequence[str], vocabulary: list[str], idf: Array) -> Any:
    """Sparse TF-IDF rows from a stored vocabulary and idf (sublinear tf, L2 norm): the same
    numbers sklearn's TfidfVectorizer gives, without keeping the vectorizer object."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    counts = CountVectorizer(vocabulary=vocabulary, ngram_range=(1, 2), lowercase=True).transform(
        texts
    )
    m = counts.astype(np.float64).tocsr()
    m.data = 1 + np.log(m.data)
    return normalize(m.multiply(idf).tocsr(), norm="l2")


def features_for(
    art: Artifact, texts: Sequence[str], hashes: Sequence[str], cache: Any = None
) -> Any:
    if art.algorithm == "tfidf-logreg":
        assert art.idf is not None
        return tfidf(texts, art.vocabulary, art.idf)
    from labelwise.embeddings.registry import encoder_for_model

    return embed(texts, hashes, cache, encoder_for_model(art.embedding_model))
