"""Audits: how good are the labels that came from accepted suggestions? A uniform random sample
of those documents is labeled again, blind (the person sees the text, not the suggestion); the
share of blind labels that agree gives the dataset's accuracy with a 95 % Wilson interval, per
class where the sample allows. An audited document keeps the person's blind label."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from labelwise.domain import Conflict, LabelwiseError, NotFound
from labelwise.stats import Z_TWO_SIDED_95, wilson
from labelwise.store import labels as rules
from labelwise.store.classes import get_class
from labelwise.store.documents import get_document, labels_by_document
from labelwise.store.models import Audit, Document, Label, Project, utcnow

MIN_PER_CLASS = 5  # audited documents a class needs for its own interval


def sample(session: Session, project: Project, n: int) -> list[Document]:
    """Draw up to ``n`` documents, uniformly at random, among those whose label came from an
    accepted suggestion and that were never audited; they wait for a blind label."""
    if n < 1:
        raise LabelwiseError(f"a sample of {n} documents is empty; give at least 1")
    from_suggestion = exists().where(
        Label.document_id == Document.id, Label.suggestion_id.is_not(None)
    )
    audited = exists().where(Audit.document_id == Document.id)
    docs = list(
        session.scalars(
            select(Document)
            .where(Document.project_id == project.id, from_suggestion, ~audited)
            .order_by(func.random())
            .limit(n)
        )
    )
    labels = labels_by_document(session, [d.id for d in docs])
    for d in docs:
        session.add(Audit(project_id=project.id, document_id=d.id, suggested=labels[d.id]))
    session.flush()
    return docs


def waiting(session: Session, project: Project) -> list[Document]:
    """Sampled documents still waiting for their blind label."""
    return list(
        session.scalars(
            select(Document)
            .join(Audit, Audit.document_id == Document.id)
            .where(Audit.project_id == project.id, Audit.blind.is_(None))
            .order_by(Audit.id)
        )
    )


def record(session: Session, project: Project, name: str, classes: Sequence[str]) -> bool:
    """The person's blind label for a sampled document; it becomes the document's label.
    Returns whether it agrees with the label from the suggestion."""
    doc = get_document(session, project, name)
    audit = session.scalar(
        select(Audit).where(Audit.project_id == project.id, Audit.document_id == doc.id)
    )
    if audit is None:
        raise NotFound(
            f"document {name!r} is not in the audit sample; draw one with the sample first"
        )
    if audit.blind is not None:
        raise Conflict(f"document {name!r} was audited already")
    chosen = [get_class(session, project, c) for c in dict.fromkeys(classes)]
    if not chosen:
        raise LabelwiseError("give the class (or classes) the document belongs to")
    rules.set_labels(session, project, doc, chosen)
    audit.blind = [c.name for c in chosen]
    audit.decided_at = utcnow()
    session.flush()
    return set(audit.blind) == set(audit.suggested)


@dataclass
class AuditReport:
    audited: int
    correct: int
    accuracy: float | None
    interval: tuple[float, float]  # 95 % Wilson
    waiting: int
    labels_from_suggestions: int  # documents labeled by an accepted suggestion
    user_labeled: int  # documents the person labeled
    dataset_accuracy: float | None  # user labels taken as right, the rest at the audited rate
    dataset_interval: tuple[float, float]
    per_class: dict[str, dict[str, Any]] = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["interval"] = list(self.interval)
        data["dataset_interval"] = list(self.dataset_interval)
        return data


def report(session: Session, project: Project) -> AuditReport:
    """The share of correct labels among the audited ones, and what it says of the dataset."""
    rows = session.execute(
        select(Audit.suggested, Audit.blind).where(Audit.project_id == project.id)
    ).all()
    decided = [(s, b) for s, b in rows if b is not None]
    correct = sum(set(s) == set(b) for s, b in decided)
    n = len(decided)
    lo, hi = wilson(correct, n, Z_TWO_SIDED_95)
    per: dict[str, list[bool]] = defaultdict(list)
    for s, b in decided:
        for c in s:
            per[c].append(set(s) == set(b))
    per_class = {}
    for c, hits in sorted(per.items()):
        if len(hits) >= MIN_PER_CLASS:
            k = sum(hits)
            per_class[c] = {
                "audited": len(hits),
                "accuracy": k / len(hits),
                "interval": list(wilson(k, len(hits), Z_TWO_SIDED_95)),
            }
        else:
            per_class[c] = {"audited": len(hits), "accuracy": None, "interval": None}
    has_label = select(Label.document_id).join(Document).where(Document.project_id == project.id)
    from_suggestion = set(session.scalars(has_label.where(Label.suggestion_id.is_not(None))))
    labeled = set(session.scalars(has_label))
    audited_docs = set(
        session.scalars(
            select(Audit.document_id).where(
                Audit.project_id == project.id, Audit.blind.is_not(None)
            )
        )
    )
    machine = len(from_suggestion - audited_docs)  # audited ones carry the person's label now
    user = len(labeled) - machine
    total = machine + user
    if n:
        acc = correct / n
        dataset = (user + machine * acc) / total if total else None
        d_lo = (user + machine * lo) / total if total else 0.0
        d_hi = (user + machine * hi) / total if total else 1.0
        message = (
            f"{correct} of {n} audited labels were right ({acc:.1%}, 95 % interval "
            f"{lo:.1%} to {hi:.1%}); with {user} labels set by a person, the dataset's labels are "
            f"about {dataset:.1%} right ({d_lo:.1%} to {d_hi:.1%})"
            if dataset is not None
            else f"{correct} of {n} audited labels were right"
        )
    else:
        acc, dataset, d_lo, d_hi = None, None, 0.0, 1.0
        message = "nothing audited yet: draw a sample and label it blind"
    return AuditReport(
        n,
        correct,
        acc,
        (lo, hi),
        len(rows) - n,
        machine,
        user,
        dataset,
        (d_lo, d_hi),
        per_class,
        message,
    )
