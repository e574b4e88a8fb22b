"""A logistic-regression head on the frozen embeddings, for the embedded labeler once a project
has user labels (single-label).

The head learns from the labeled documents and, as one more point per class, from the class text
(name, description) itself, so a class without labels is still known. Besides the embedding it
may read the words (TF-IDF of words and word pairs of the labeled texts): a sentence encoder
hears what a text is about, not its form, and some tasks are about form (a question's type is in
its "who" or "how many"). Whether to read the words, the head's weight against the similarity
scores and its temperature are chosen on out-of-fold predictions (``FOLDS``-fold for the head,
leave-one-out for the similarities): no labeled document judges a fit it was part of.
Measured with 8 labels per class (bench/labeler_bench.py) the head adds 2 to 4 points of
accuracy over the similarities alone on Banking77; the words add more on question types.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

C = 10.0  # inverse regularization, chosen on Banking77 and SMS spam with 8 labels a class
FOLDS = 4
MIN_LABELED = 8  # fewer labeled documents: the similarities alone
MAX_CV = 2000  # labeled documents the weight and temperature are chosen on (a seeded sample)
BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)


WORDS_WEIGHT = 1.0  # of the TF-IDF block against the unit-length embedding


WORD = re.compile(r"(?u)\b\w+\b")


def words_of(text: str) -> list[str]:
    """The words of ``text`` (lower-cased, one-letter words kept: "a", "I"), its word pairs,
    and its first word marked as first ("^ how"): the first word often tells a short text's
    form (TREC question types, 8 labels a class: 57.8 % right with it, 55.4 % without)."""
    words = WORD.findall(text.lower())
    pairs = [f"{a} {b}" for a, b in pairwise(words)]
    return [*words, *pairs, *(["^ " + words[0]] if words else [])]


class Words:
    """TF-IDF of the words, word pairs and first word (:func:`words_of`) of the texts it was
    fitted on."""

    def __init__(self, texts: Sequence[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(
            analyzer=words_of, sublinear_tf=True, dtype=np.float64
        ).fit(texts)

    def features(self, vecs: npt.NDArray[Any], texts: Sequence[str]) -> Any:
        """The embedding and the words side by side (a sparse matrix)."""
        from scipy import sparse

        words = self.vectorizer.transform(texts) * WORDS_WEIGHT
        return sparse.hstack([sparse.csr_matrix(vecs, dtype=np.float64), words]).tocsr()


@dataclass
class Head:
    coef: Array  # (classes, features)
    intercept: Array  # (classes,)
    temperature: float
    weight: float  # of the head's probabilities against the similarities'
    words: Words | None = None  # read the words too
    # the labeled documents it was chosen on (rows) and their blended probabilities, each from
    # a fit without it: what the labeler's confidences are worth on unseen documents
    out_of_fold: tuple[npt.NDArray[np.int64], Array] | None = None

    def probabilities(self, docs: npt.NDArray[np.float32], texts: Sequence[str] = ()) -> Array:
        """Class probabilities of documents: their embeddings and (read when the head reads
        words) their texts."""
        x = self.words.features(docs, texts) if self.words else docs
        return softmax(np.asarray(x @ self.coef.T) + self.intercept, self.temperature)


def softmax(scores: Array, temperature: float) -> Array:
    z = scores / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def mean_nll(probs: Array, truth: Sequence[int] | npt.NDArray[np.int64]) -> float:
    """The mean negative log-likelihood of the true classes under ``probs``."""
    return float(-np.log(np.maximum(probs[np.arange(len(truth)), list(truth)], 1e-12)).mean())


def best_temperature(
    scores: Array, truth: Sequence[int] | npt.NDArray[np.int64], grid: Array, default: float
) -> float:
    """The softmax temperature in ``grid`` with the lowest :func:`mean_nll` (``default`` when
    none is finite)."""
    best, best_nll = default, math.inf
    for t in grid:
        nll = mean_nll(softmax(scores, float(t)), truth)
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def _fit_lr(x: npt.NDArray[Any], y: npt.NDArray[np.int64], n_classes: int) -> tuple[Array, Array]:
    """Coefficients and intercepts for every class 0..n-1 (each is present: the class texts
    are among the points); two classes become the symmetric pair of a softmax."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=C, max_iter=2000, tol=1e-3).fit(x, y)
    coef = np.asarray(lr.coef_, dtype=np.float64)
    intercept = np.asarray(lr.intercept_, dtype=np.float64)
    if n_classes == 2:  # sklearn keeps one row: p(class 1) = sigmoid(z)
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return coef, intercept


def fit_head(
    docs: npt.NDArray[np.float32],
    truth: Sequence[int],
    points: npt.NDArray[np.float32],
    point_classes: Sequence[int],
    n_classes: int,
    similarity_probs: Array,
    doc_texts: Sequence[str] | None = None,
    point_texts: Sequence[str] | None = None,
) -> Head | None:
    """The head for labeled documents ``docs`` (class index ``truth``) and the class points
    (class texts and examples, always learned from), given the similarity labeler's
    leave-one-out probabilities of the same documents. With the texts of both it also tries
    reading the words, and keeps them when they help out of fold. None with too few labeled
    documents or classes, or when the head does not improve on the similarities out of fold."""
    y = np.asarray(truth, dtype=np.int64)
    labels = np.asarray(point_classes, dtype=np.int64)
    if len(y) < MIN_LABELED or len(set(y.tolist())) < 2:
        return None
    rng = np.random.default_rng(0)
    cv = rng.permutation(len(y))[:MAX_CV]
    folds = np.arange(len(cv)) % FOLDS
    gold = y[cv]
    texts = list(doc_texts or ()), list(point_texts or ())
    known = len(texts[0]) == len(y) and len(texts[1]) == len(labels)
    best: tuple[float, bool, float, float] = (math.inf, False, 0.0, 1.0)  # nll, words, w, t
    best_probs = similarity_probs[cv]
    for read_words in (False, True) if known else (False,):
        logits = np.zeros((len(cv), n_classes))
        for f in range(FOLDS):
            held, kept = cv[folds == f], np.setdiff1d(np.arange(len(y)), cv[folds == f])
            train_x, held_x, _ = _features(docs, points, texts, kept, held, read_words)
            coef, intercept = _fit_lr(train_x, np.concatenate([y[kept], labels]), n_classes)
            logits[folds == f] = np.asarray(held_x @ coef.T) + intercept
        temperature = best_temperature(logits, gold, np.geomspace(0.05, 5.0, 41), 1.0)
        head_probs = softmax(logits, temperature)
        for w in BLENDS:
            blended = (1 - w) * similarity_probs[cv] + w * head_probs
            nll = mean_nll(blended, gold)
            if nll < best[0] - 1e-9:
                best, best_probs = (nll, read_words, w, temperature), blended
    _, read_words, weight, temperature = best
    if weight == 0.0:
        return None
    everything = np.arange(len(y))
    x, _, words = _features(docs, points, texts, everything, everything[:0], read_words)
    coef, intercept = _fit_lr(x, np.concatenate([y, labels]), n_classes)
    return Head(coef, intercept, temperature, weight, words, (cv, best_probs))


def _features(
    docs: npt.NDArray[np.float32],
    points: npt.NDArray[np.float32],
    texts: tuple[list[str], list[str]],
    kept: npt.NDArray[np.int64],
    held: npt.NDArray[np.int64],
    read_words: bool,
) -> tuple[Any, Any, Words | None]:
    """The features to fit on (the ``kept`` documents, then the class points), those of the
    ``held`` documents, and the words read: with ``read_words``, fitted on the kept texts
    alone."""
    train_vecs = np.vstack([docs[kept], points])
    if not read_words:
        return train_vecs, docs[held], None
    doc_texts, point_texts = texts
    train_texts = [*(doc_texts[i] for i in kept), *point_texts]
    words = Words(train_texts)
    held_x = words.features(docs[held], [doc_texts[i] for i in held]) if len(held) else None
    return words.features(train_vecs, train_texts), held_x, words
