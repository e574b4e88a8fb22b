"""Train a project's classifier on its user labels, evaluate it, and store it.

Only user-defined labels are used; starting a training deletes every suggestion that was not
accepted (counted first, so a labeler's accept rate survives). One training per project runs
at a time (the database enforces it).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.exc import IntegrityError

from labelwise.domain import ClassSpec, LabelwiseError, Progress, ProjectKind
from labelwise.store import Store, trained
from labelwise.store import labels as rules
from labelwise.store.documents import labels_by_document
from labelwise.store.embeddings import StoreVectorCache
from labelwise.store.models import Document, Label
from labelwise.store.projects import get_project
from labelwise.training import features
from labelwise.training.artifact import ALGORITHMS, Artifact
from labelwise.training.metrics import FEW_LABELS, evaluate
from labelwise.training.split import LabeledDoc, auto_split, manual_split

STEPS = 4  # features, fit, evaluate, save


@dataclass
class TrainOptions:
    algorithm: str = "embedding-logreg"
    split: int = 80
    manual_split: bool = False
    c: float = 20.0
    seed: int = 0


@dataclass
class TrainResult:
    model: str
    algorithm: str
    train_documents: int
    test_documents: int
    discarded_suggestions: int
    seconds: float
    evaluation: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def labeled_documents(store: Store, project_name: str) -> list[LabeledDoc]:
    with store.session() as session:
        project = get_project(session, project_name)
        docs = list(
            session.query(Document)
            .filter(
                Document.project_id == project.id, Document.id.in_(session.query(Label.document_id))
            )
            .order_by(Document.id)
        )
        labels = labels_by_document(session, [d.id for d in docs])
    return [
        LabeledDoc(d.id, d.name, d.text, d.content_hash, d.dataset, tuple(labels[d.id]))
        for d in docs
    ]


def check_classes(classes: list[str], train: list[LabeledDoc]) -> list[str]:
    """Refuse when a class has no training document; warn under 15."""
    counts = {c: sum(c in d.labels for d in train) for c in classes}
    empty = [c for c, n in counts.items() if n == 0]
    if empty:
        raise LabelwiseError(
            f"{len(empty)} class(es) have no labeled training document: {', '.join(empty)}. "
            "Label some (labelwise label / accept suggestions), or remove the class"
        )
    return [
        f"class {c!r} has only {n} training documents; Azure recommends at least {FEW_LABELS}"
        for c, n in counts.items()
        if n < FEW_LABELS
    ]


@dataclass
class Training:
    """A training that has been checked and recorded (status ``training``), not yet fitted."""

    project: str
    model: str
    model_id: int
    options: TrainOptions
    kind: ProjectKind
    classes: list[str]
    train_docs: list[LabeledDoc]
    test_docs: list[LabeledDoc]
    discarded: int
    warnings: list[str]
    started: float
    encoder: str = "minilm"  # the project's, for embedding features
    class_texts: list[str] = field(default_factory=list)  # one more training point per class


def train_model(
    store: Store,
    project_name: str,
    model_name: str,
    options: TrainOptions | None = None,
    on_progress: Progress | None = None,
) -> TrainResult:
    """Train, evaluate and store ``model_name``; returns its evaluation."""
    return complete_training(
        store, begin_training(store, project_name, model_name, options), on_progress
    )


def check_options(opts: TrainOptions) -> TrainOptions:
    """The options, or an error naming the one that cannot work (before anything changes)."""
    if opts.algorithm not in ALGORITHMS:
        raise LabelwiseError(
            f"algorithm {opts.algorithm!r} is unknown; use " + " or ".join(ALGORITHMS)
        )
    if not opts.manual_split and not 1 <= opts.split <= 99:
        raise LabelwiseError(f"a training share of {opts.split} %: give a percentage from 1 to 99")
    return opts


def begin_training(
    store: Store, project_name: str, model_name: str, options: TrainOptions | None = None
) -> Training:
    """Check the data and the split, record the training (one per project) and delete the
    suggestions that were not accepted; quick, so the API can answer 202 after it."""
    opts = check_options(options or TrainOptions())
    start = time.perf_counter()
    with store.session() as session:
        project = get_project(session, project_name)
        kind = ProjectKind(project.kind)
        classes = [c.name for c in project.classes]
        class_texts = [ClassSpec(c.name, c.description).text for c in project.classes]
        if len(classes) < 2:
            raise LabelwiseError("training needs at least two classes")
    docs = labeled_documents(store, project_name)
    train_docs, test_docs = (
        manual_split(docs) if opts.manual_split else auto_split(docs, opts.split, opts.seed)
    )
    warnings = check_classes(classes, train_docs)
    try:
        with store.session() as session:
            project = get_project(session, project_name)
            model_id = trained.start_training(session, project, model_name, opts.algorithm).id
            discarded = rules.discard_suggestions(session, project)
            encoder = project.encoder
    except IntegrityError:  # another process started a training between check and insert
        raise trained.training_running(project_name) from None
    return Training(
        project_name,
        model_name,
        model_id,
        opts,
        kind,
        classes,
        train_docs,
        test_docs,
        discarded,
        warnings,
        start,
        encoder,
        class_texts,
    )


def complete_training(
    store: Store, t: Training, on_progress: Progress | None = None
) -> TrainResult:
    """Fit, evaluate and store a training begun by :func:`begin_training`."""
    progress = on_progress or (lambda done, total: None)
    project_name, model_name, model_id, opts = t.project, t.model, t.model_id, t.options
    kind, classes, train_docs, test_docs = t.kind, t.classes, t.train_docs, t.test_docs
    try:
        progress(0, STEPS)
        art = _fit(store, kind, classes, train_docs, opts, t.encoder, t.class_texts)
        progress(2, STEPS)
        test_x = (
            features.features_for(
                art,
                [d.text for d in test_docs],
                [d.content_hash for d in test_docs],
                StoreVectorCache(store),
            )
            if test_docs
            else None
        )
        predicted = art.decide(art.probabilities(test_x)) if test_x is not None else []
        counts = {c: sum(c in d.labels for d in train_docs) for c in classes}
        evaluation = evaluate(
            kind,
            classes,
            [d.labels for d in test_docs],
            [[c for c, _ in p] for p in predicted],
            [d.name for d in test_docs],
            counts,
        )
        progress(3, STEPS)
        art.meta = {
            "model_name": model_name,
            "project": project_name,
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "training_data_hash": _data_hash(train_docs),
            "train_documents": len(train_docs),
            "test_documents": len(test_docs),
            "split": "manual" if opts.manual_split else f"auto {opts.split}/{100 - opts.split}",
            "c": opts.c,
            "micro_f1": evaluation["micro"]["f1"],
            "macro_f1": evaluation["macro"]["f1"],
        }
        data, config = art.to_bytes()
        with store.session() as session:
            trained.finish_training(session, model_id, data, config, evaluation)
        progress(STEPS, STEPS)
    except BaseException as exc:
        with store.session() as session:
            trained.fail_training(session, model_id, f"{type(exc).__name__}: {exc}")
        raise
    return TrainResult(
        model_name,
        opts.algorithm,
        len(train_docs),
        len(test_docs),
        t.discarded,
        time.perf_counter() - t.started,
        evaluation,
        t.warnings,
    )


def _data_hash(docs: list[LabeledDoc]) -> str:
    h = hashlib.sha256()
    for d in sorted(docs, key=lambda d: d.content_hash):
        h.update(f"{d.content_hash}:{','.join(sorted(d.labels))}\n".encode())
    return h.hexdigest()


def _fit(
    store: Store,
    kind: ProjectKind,
    classes: list[str],
    docs: list[LabeledDoc],
    opts: TrainOptions,
    encoder_name: str,
    class_texts: Sequence[str] = (),
) -> Artifact:
    from sklearn.linear_model import LogisticRegression

    texts = [d.text for d in docs]
    vocabulary: list[str] = []
    idf = None
    if opts.algorithm == "tfidf-logreg":
        vocabulary, idf = features.fit_tfidf(texts)
        x = features.tfidf(texts, vocabulary, idf)
        embedding_model = ""
    else:
        from labelwise.embeddings.registry import get_encoder

        encoder = get_encoder(encoder_name)
        x = features.embed(texts, [d.content_hash for d in docs], StoreVectorCache(store), encoder)
        embedding_model = encoder.model_id
    if kind == ProjectKind.SINGLE_LABEL:
        y = [d.labels[0] for d in docs]
        if embedding_model and class_texts:  # each class's own text is one more example of it
            x = np.vstack([x, encoder.encode(list(class_texts))])
            y += list(classes)
        lr = LogisticRegression(C=opts.c, max_iter=3000).fit(x, y)
        order = [list(lr.classes_).index(c) for c in classes if c in lr.classes_]
        coef = np.asarray(lr.coef_, dtype=np.float64)
        intercept = np.asarray(lr.intercept_, dtype=np.float64)
        labels = [str(c) for c in lr.classes_]
        if coef.shape[0] > 1:  # keep the project's class order
            coef, intercept, labels = coef[order], intercept[order], [labels[i] for i in order]
        art = Artifact(
            kind, opts.algorithm, labels, coef, intercept, None, vocabulary, idf, embedding_model
        )
        return art
    rows_coef, rows_int = [], []
    ys = np.array([[c in d.labels for c in classes] for d in docs], dtype=bool)
    for j in range(len(classes)):
        if ys[:, j].all() or not ys[:, j].any():  # a constant class: a constant answer
            rows_coef.append(np.zeros(x.shape[1]))
            rows_int.append(10.0 if ys[:, j].all() else -10.0)
            continue
        lr = LogisticRegression(C=opts.c, max_iter=3000).fit(x, ys[:, j])
        rows_coef.append(lr.coef_[0])
        rows_int.append(float(lr.intercept_[0]))
    art = Artifact(
        kind,
        opts.algorithm,
        classes,
        np.array(rows_coef),
        np.array(rows_int),
        None,
        vocabulary,
        idf,
        embedding_model,
    )
    art.thresholds = _tune_thresholds(art, x, ys)
    return art


def _tune_thresholds(art: Artifact, x: Any, ys: np.ndarray) -> np.ndarray:
    """Per class, the probability threshold with the best F1 on the training data
    (between 0.2 and 0.8, so that an overfitted class keeps a sane cut)."""
    probs = art.probabilities(x)
    out = np.full(ys.shape[1], 0.5)
    for j in range(ys.shape[1]):
        best = -1.0
        for t in np.linspace(0.2, 0.8, 13):
            pred = probs[:, j] >= t
            tp = float((pred & ys[:, j]).sum())
            f1 = 2 * tp / max(float(pred.sum() + ys[:, j].sum()), 1.0)
            if f1 > best:
                best, out[j] = f1, t
    return out
