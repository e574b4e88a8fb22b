"""The offline zero-/few-shot labeler on sentence embeddings (the default: no key, no network).

Each class is scored by its text (name, description, examples) and, when the project has user
labels, by its labeled documents: ``(1 - a) * cos(doc, centroid) + a * max cos(doc, labeled
doc)``, where the centroid blends the class text with the mean of its documents and ``a`` is
chosen by leave-one-out on the labeled documents. Measured on Banking77
(bench/labeler_bench.py) this beats bare name similarity by 20 points with 5 labels a class.

Confidences are a softmax over the scores whose temperature is fitted on the user-labeled
documents (leave-one-out) when there are enough of them. Multi-label: per-class thresholds
fitted the same way, else every class close to the best one.

A run (single-label) first surveys a random sample of the documents it will label, and each
class vector moves toward the documents it draws (:func:`adapt_to_documents`): a class text, or
a few labeled documents, are a poor stand-in for how the class's documents read. With labels
it adapts only when the labeled documents, each left out, fit the adapted vectors clearly
better, and then everything fitted on them (the mix, the temperature, the head, the held-out
check) is fitted on the adapted similarities.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from labelwise.domain import DocInput, Example, LabelTask, ProjectKind
from labelwise.embeddings import TextEncoder, VectorCache, embed_cached
from labelwise.embeddings.encoder import Matrix, normalize
from labelwise.embeddings.registry import ENGLISH, get_encoder
from labelwise.labelers.base import Labeler, Outcome, Prediction
from labelwise.labelers.head import Head, best_temperature, fit_head, mean_nll, softmax

PROMPT_VERSION = "proto-v1"
DEFAULT_TEMPERATURE = 0.05
MULTI_MARGIN = 0.03  # multi-label without labels: classes this close to the best one
MIN_HELD_OUT = 10  # labeled documents before the fit's out-of-fold answers are evidence
SURVEY_MIN = 50  # sampled documents (and two a class) before class vectors move toward them
ADAPT_ROUNDS = 10
ADAPT_SHARPNESS = 0.15  # the soft assignment's temperature, a share of the similarities' spread
ADAPT_ANCHOR = 0.5  # weight of a class's own text against the mean of the documents it draws
ADAPT_PRIOR = 1.0  # documents' worth of pull toward the text: a class that draws next to none
ADAPT_MARGIN = 0.05  # with labels: the adapted fit's log-loss must be this much lower (relative)


@dataclass
class Model:
    """What :meth:`EmbeddingLabeler.fit` learns from a task."""

    names: tuple[str, ...]
    text_vecs: Matrix  # (classes, dim): the class texts
    centroids: Matrix  # (classes, dim): class text blended with the mean of its shots
    shots: list[Matrix]  # per class: embeddings of its labeled documents and examples
    temperature: float
    thresholds: npt.NDArray[np.float64] | None  # multi-label, per class

    head: Head | None = None  # single-label with enough user labels (labelers.head)
    alpha: float = 0.5  # weight of the nearest labeled document against the centroid
    # single-label: (content hash, confidence, right) of labeled documents, each suggested for
    # out of fold
    held_out: list[tuple[str, float, bool]] = field(default_factory=list)
    # per class, the mean of the surveyed documents it drew (weighed), when adapted
    drawn: Matrix | None = None

    @property
    def adapted(self) -> bool:
        """Whether the centroids moved toward a survey of the documents to label."""
        return self.drawn is not None

    def parts(self, docs: Matrix) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Similarity to each class centroid, and to its nearest shot (centroid if none)."""
        central = np.array(docs @ self.centroids.T, dtype=np.float64)
        nearest = central.copy()
        for j, shots in enumerate(self.shots):
            if len(shots):
                nearest[:, j] = (docs @ shots.T).max(axis=1)
        return central, nearest

    def scores(self, docs: Matrix) -> npt.NDArray[np.float64]:
        central, nearest = self.parts(docs)
        return (1 - self.alpha) * central + self.alpha * nearest


class EmbeddingLabeler(Labeler):
    """Zero-/few-shot classification by similarity to class texts and labeled documents."""

    name = "embedding"

    def __init__(
        self,
        options: Labeler.Options | None = None,
        *,
        encoder: TextEncoder | None = None,
        cache: VectorCache | None = None,
    ) -> None:
        super().__init__(options)
        self.encoder = encoder or get_encoder(ENGLISH)
        self.cache = cache
        self._fitted: tuple[int, Model] | None = None
        self._surveyed: tuple[int, Matrix] | None = None  # (task hash, the sample's vectors)

    @property
    def model_id(self) -> str:
        return self.encoder.model_id

    @property
    def prompt_version(self) -> str:
        return PROMPT_VERSION

    # -- embeddings -------------------------------------------------------------------------

    def embed(self, texts: Sequence[str], hashes: Sequence[str] | None = None) -> Matrix:
        """Embeddings of ``texts``, from the cache where their hashes are known."""
        return embed_cached(self.encoder, texts, hashes, self.cache)

    # -- fitting ----------------------------------------------------------------------------

    def fit(self, task: LabelTask) -> Model:
        """Class vectors, temperature and thresholds for ``task`` (cached per task)."""
        key = hash(task)
        if self._fitted and self._fitted[0] == key:
            return self._fitted[1]
        names = task.class_names
        index = {n: i for i, n in enumerate(names)}
        text_vecs = self.encoder.encode([c.text for c in task.classes])
        labeled = [e for e in task.examples if any(lab in index for lab in e.labels)]
        doc_vecs = self.embed([e.text for e in labeled], [e.content_hash for e in labeled])
        example_texts = [(index[c.name], ex) for c in task.classes for ex in c.examples]
        example_vecs = self.encoder.encode([t for _, t in example_texts])
        members: list[list[int]] = [[] for _ in names]  # rows of `pool` per class
        pool = np.vstack([doc_vecs, example_vecs]) if len(example_vecs) else doc_vecs
        for row, e in enumerate(labeled):
            for lab in e.labels:
                if lab in index:
                    members[index[lab]].append(row)
        for k, (cls, _) in enumerate(example_texts):
            members[cls].append(len(labeled) + k)
        shots = [pool[m] if m else np.zeros((0, self.encoder.dim), np.float32) for m in members]
        centroids = normalize(
            np.stack(
                [
                    0.5 * text_vecs[j] + (shots[j].mean(axis=0) if len(shots[j]) else 0)
                    if len(shots[j])
                    else text_vecs[j]
                    for j in range(len(names))
                ]
            )
        )
        model = Model(names, text_vecs, centroids, shots, DEFAULT_TEMPERATURE, None)
        variants: list[tuple[Matrix, Matrix | None]] = [(centroids, None)]
        if self._surveyed is not None and self._surveyed[0] == key:
            variants.append(adapt_to_documents(centroids, self._surveyed[1]))
        truth = [[index[lab] for lab in e.labels if lab in index] for e in labeled]
        model.centroids, model.drawn = variants[-1]  # without labels, adapted when surveyed
        if len(labeled) >= 4:
            # with labels, adapted only where the labeled documents (each left out) say so
            single = task.kind == ProjectKind.SINGLE_LABEL
            loo = self._best_variant(model, variants, doc_vecs, truth, single)
            if task.kind == ProjectKind.SINGLE_LABEL:
                firsts = [t[0] for t in truth]
                points = np.vstack([text_vecs, example_vecs]) if len(example_vecs) else text_vecs
                model.head = fit_head(
                    doc_vecs,
                    firsts,
                    points,
                    [*range(len(names)), *(cls for cls, _ in example_texts)],
                    len(names),
                    softmax(loo, model.temperature),
                    [e.text for e in labeled],
                    [*(c.text for c in task.classes), *(t for _, t in example_texts)],
                )
                if len(labeled) >= MIN_HELD_OUT:
                    model.held_out = _out_of_fold(
                        model,
                        softmax(loo, model.temperature),
                        firsts,
                        [e.content_hash for e in labeled],
                    )
            else:
                model.thresholds = fit_thresholds(loo, truth)
        self._fitted = (key, model)
        return model

    def _best_variant(
        self,
        model: Model,
        variants: Sequence[tuple[Matrix, Matrix | None]],
        docs: Matrix,
        truth: list[list[int]],
        single: bool,
    ) -> npt.NDArray[np.float64]:
        """Set ``model``'s class vectors to the variant (as they are, or adapted) whose
        leave-one-out similarities fit the labeled documents best (single-label: log-loss at
        its own temperature; a later variant must be ``ADAPT_MARGIN`` better), with its mix and
        temperature; returns those similarities. Adapting can hurt: fine intents (Banking77,
        multilingual encoder) lose 4 points with 8 labels a class where news gains 5. Where it
        helped (bench, two draws), its log-loss was 16-90 % lower; on Banking77, where it did
        not, within 1 % either way, or higher."""
        best: tuple[float, npt.NDArray[np.float64], float, float, int] | None = None
        for k, (centroids, drawn) in enumerate(variants):
            model.centroids, model.drawn = centroids, drawn
            central, nearest = self._leave_one_out_parts(model, docs, truth)
            alpha = fit_alpha(central, nearest, truth)
            loo = (1 - alpha) * central + alpha * nearest
            temperature, loss = DEFAULT_TEMPERATURE, 0.0
            if single:  # multi-label keeps the default (its thresholds are fitted instead)
                firsts = [t[0] for t in truth]
                temperature = fit_temperature(loo, firsts)
                loss = mean_nll(softmax(loo, temperature), firsts)
            if best is None or loss < best[0] * (1 - ADAPT_MARGIN):
                best = (loss, loo, alpha, temperature, k)
        assert best is not None
        _, loo, model.alpha, model.temperature, k = best
        model.centroids, model.drawn = variants[k]
        return loo

    @staticmethod
    def _leave_one_out_parts(
        model: Model, docs: Matrix, truth: list[list[int]]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """:meth:`Model.parts` of each labeled document with itself taken out of the shots
        (and, adapted, its class vector adapted from the class without it: what the class drew
        in the survey stays, as one document of the class moves it little)."""
        central, nearest = model.parts(docs)
        for i, classes in enumerate(truth):
            for j in classes:
                shots = model.shots[j]
                others = shots[~np.all(shots == docs[i], axis=1)] if len(shots) else shots
                cen = model.text_vecs[j]
                if len(others):
                    cen = normalize(0.5 * cen + others.mean(axis=0))
                if model.drawn is not None:
                    cen = normalize(ADAPT_ANCHOR * cen + model.drawn[j])
                central[i, j] = float(docs[i] @ cen)
                nearest[i, j] = float((others @ docs[i]).max()) if len(others) else central[i, j]
        return central, nearest

    def held_out(
        self, task: LabelTask, only: Collection[str] | None = None
    ) -> list[tuple[float, bool]]:
        """What the fit already measured out of fold (single-label, from ``MIN_HELD_OUT``
        labeled documents): each labeled document's suggestion (of those whose content hash is
        in ``only``, when given) from the similarities without it (leave-one-out) blended with
        the head fitted without its fold, as :meth:`label` blends them. It costs nothing
        beyond the fit; the weight and temperature were chosen on the same documents, a slight
        optimism the 90 % bound of accepting absorbs. Multi-label: none (its thresholds are
        fitted on the very scores they would judge)."""
        if task.kind != ProjectKind.SINGLE_LABEL:
            return []
        return [(c, r) for h, c, r in self.fit(task).held_out if only is None or h in only]

    # -- surveying the documents to label ---------------------------------------------------

    def wants_survey(self, task: LabelTask) -> bool:
        """Single-label: one class a document, the assumption the survey's soft assignment
        makes."""
        return task.kind == ProjectKind.SINGLE_LABEL

    def survey(self, task: LabelTask, docs: Sequence[DocInput]) -> None:
        """Fit ``task`` with the class vectors moved toward the sampled documents they draw
        (with at least ``SURVEY_MIN`` of them and two a class; fewer would move them on
        noise). The vectors it makes are kept, so the run does not make them again: the English
        encoder gives a text the same vector whatever it is encoded with, the multilingual one
        within cosine 0.996."""
        if not self.wants_survey(task) or len(docs) < max(SURVEY_MIN, 2 * len(task.classes)):
            return
        vecs = self.embed([d.text for d in docs], [d.content_hash for d in docs])
        self._surveyed, self._fitted = (hash(task), vecs), None

    # -- labeling ---------------------------------------------------------------------------

    def label(self, task: LabelTask, docs: Sequence[DocInput]) -> list[Outcome]:
        model = self.fit(task)
        vecs = self.embed([d.text for d in docs], [d.content_hash for d in docs])
        scores = model.scores(vecs)
        if task.kind == ProjectKind.SINGLE_LABEL:
            scores = softmax(scores, model.temperature)
            if model.head is not None:
                w = model.head.weight
                texts = [d.text for d in docs]
                scores = (1 - w) * scores + w * model.head.probabilities(vecs, texts)
        return [self._decide(task, model, doc, row) for doc, row in zip(docs, scores, strict=True)]

    def _decide(
        self, task: LabelTask, model: Model, doc: DocInput, row: npt.NDArray[np.float64]
    ) -> Outcome:
        """The suggestion(s) for one document from its row: class probabilities
        (single-label) or similarity scores (multi-label)."""
        allowed = np.array([n not in doc.exclude for n in model.names])
        out = Outcome(doc.id, confidence_source=confidence_source(model))
        if not allowed.any():
            return out
        if task.kind == ProjectKind.SINGLE_LABEL:  # row: probabilities
            probs = row
            best = int(np.argmax(np.where(allowed, probs, -1)))
            out.predictions.append(Prediction(model.names[best], round(float(probs[best]), 6)))
            return out
        top = float(row[allowed].max())
        for j in np.argsort(-row):
            if not allowed[j]:
                continue
            thr = model.thresholds[j] if model.thresholds is not None else top - MULTI_MARGIN
            # a class must also be close to the best one: thresholds fitted on a few positives
            # alone let through four labels a document where one or two are right (GoEmotions)
            near = row[j] >= top - MULTI_MARGIN
            if (row[j] >= thr and near) or (not out.predictions and row[j] == top):
                conf = 1 / (1 + math.exp(-(row[j] - thr) / model.temperature))
                out.predictions.append(Prediction(model.names[j], round(conf, 6)))
        out.confidence_source = Source.MULTI
        return out


class Source(StrEnum):
    """What a suggestion's confidence is (stored with it, at most 40 characters)."""

    SIMILARITIES = "softmax over similarities"
    ADAPTED = "similarities adapted to the documents"  # without a head, after a survey
    HEAD = "similarities and a logistic head"
    WORDS = "similarities, logistic head, words"
    MULTI = "sigmoid of similarity minus threshold"  # multi-label, per class


def _out_of_fold(
    model: Model,
    similarity: npt.NDArray[np.float64],
    truth: Sequence[int],
    hashes: Sequence[str],
) -> list[tuple[str, float, bool]]:
    """(content hash, confidence, right) of each labeled document's suggestion out of fold:
    the head's blend where the head was chosen on it, else the leave-one-out similarities."""
    rows: npt.NDArray[np.int64] = np.arange(len(truth))
    probs = similarity
    if model.head is not None and model.head.out_of_fold is not None:
        rows, probs = model.head.out_of_fold
    best = probs.argmax(axis=1)
    return [
        (hashes[int(r)], round(float(probs[k, j]), 6), int(j) == truth[int(r)])
        for k, (r, j) in enumerate(zip(rows, best, strict=True))
    ]


def confidence_source(model: Model) -> Source:
    """What gave a single-label suggestion's confidence."""
    if model.head is None:
        return Source.ADAPTED if model.adapted else Source.SIMILARITIES
    return Source.WORDS if model.head.words else Source.HEAD


def adapt_to_documents(anchors: Matrix, docs: Matrix) -> tuple[Matrix, Matrix]:
    """Class vectors moved toward the documents that read like each class: a soft k-means over
    ``docs`` started at ``anchors`` (the class texts, or their blend with the labeled
    documents), each class vector kept anchored there (without the anchor a class can drift
    onto another's documents, and a class that draws next to none onto the few nearest it).
    The assignment's temperature is a share of the similarities' spread, as encoders differ in
    how far apart their cosines lie. Returns the class vectors and, per class, the mean of the
    documents it drew (weighed)."""
    d, a = docs.astype(np.float64), anchors.astype(np.float64)
    spread = float((d @ a.T).std())
    temperature = ADAPT_SHARPNESS * spread if spread > 1e-6 else DEFAULT_TEMPERATURE
    centroids, means = a, np.zeros_like(a)
    for _ in range(ADAPT_ROUNDS):
        s = d @ centroids.T / temperature
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        means = (p.T @ d) / (p.sum(axis=0)[:, None] + ADAPT_PRIOR)  # stays at its text
        centroids = normalize(ADAPT_ANCHOR * a + means).astype(np.float64)
    return centroids.astype(np.float32), means.astype(np.float32)


def fit_alpha(
    central: npt.NDArray[np.float64],
    nearest: npt.NDArray[np.float64],
    truth: Sequence[Sequence[int]],
) -> float:
    """The mix of centroid and nearest-neighbour similarity whose top class is most often a
    true label (leave-one-out): clean intents favour the neighbour, noisy text the centroid."""
    best, best_hits = 0.5, -1
    for alpha in (0.0, 0.25, 0.5, 0.75):
        top = ((1 - alpha) * central + alpha * nearest).argmax(axis=1)
        hits = sum(int(t) in classes for t, classes in zip(top, truth, strict=True))
        if hits > best_hits:
            best, best_hits = alpha, hits
    return best


def fit_temperature(scores: npt.NDArray[np.float64], truth: Sequence[int]) -> float:
    """The softmax temperature with the lowest negative log-likelihood on labeled documents."""
    return best_temperature(scores, truth, np.geomspace(0.005, 0.5, 40), DEFAULT_TEMPERATURE)


def fit_thresholds(
    scores: npt.NDArray[np.float64], truth: Sequence[Sequence[int]]
) -> npt.NDArray[np.float64]:
    """Per class, the score threshold with the best F1 on labeled documents."""
    n_classes = scores.shape[1]
    thresholds = np.full(n_classes, np.inf)
    for j in range(n_classes):
        positive = np.array([j in t for t in truth])
        if not positive.any():
            thresholds[j] = float(scores[:, j].max()) + 1e-6  # never seen: be strict
            continue
        best_f1 = -1.0
        for thr in np.unique(scores[:, j]):
            pred = scores[:, j] >= thr
            tp = float((pred & positive).sum())
            f1 = 2 * tp / max(float(pred.sum() + positive.sum()), 1.0)
            if f1 > best_f1:
                best_f1, thresholds[j] = f1, float(thr)
    return thresholds


__all__ = ["EmbeddingLabeler", "Example", "VectorCache"]
