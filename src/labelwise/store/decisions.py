"""What people's decisions say about the labelers' suggestions: the evidence calibration learns
from. A suggestion a person accepted was right, one they rejected was wrong, and a pending one on
a document they labeled by hand was right when their label names its class. Training deletes
the suggestions that were not accepted (Azure's rule); what their decisions said is archived
first, so the calibration does not forget it (and does not see only the accepted ones after).
A labeler that learns from the labels also checks itself on them, held out, when a job of it
starts: that check is kept the same way and vouches for the job's suggestions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, func, insert, or_, select
from sqlalchemy.orm import Session

from labelwise.domain import SuggestionStatus
from labelwise.store.models import ArchivedDecision, Document, Label, Project, Suggestion

BY_THRESHOLD = "threshold"  # Suggestion.decided_by of an accept-above / accept-at-precision

Decision = tuple[str, float, bool, int | None]  # labeler, confidence, right, job


def by_a_person() -> ColumnElement[bool]:
    """A label a person gave: set by hand, or a suggestion accepted by itself (not by a
    threshold). For a query that outer-joins ``Suggestion`` on ``Label.suggestion_id``."""
    return or_(Label.suggestion_id.is_(None), Suggestion.decided_by != BY_THRESHOLD)


def labeled_since_acceptance(session: Session, project: Project) -> set[str] | None:
    """The content hashes of the documents a person labeled after the project's last threshold
    acceptance (they were among the documents it left, the ones a new labeler run still has to
    label); None while no threshold has accepted anything (every label is a person's)."""
    last = session.scalar(
        select(func.max(Label.id))
        .join(Suggestion, Suggestion.id == Label.suggestion_id)
        .join(Document, Document.id == Label.document_id)
        .where(Document.project_id == project.id, Suggestion.decided_by == BY_THRESHOLD)
    )
    if last is None:
        return None
    return set(
        session.scalars(
            select(Document.content_hash)
            .join(Label, Label.document_id == Document.id)
            .outerjoin(Suggestion, Suggestion.id == Label.suggestion_id)
            .where(Document.project_id == project.id, Label.id > last, by_a_person())
        )
    )


def judged(
    session: Session, project: Project, document_ids: Sequence[int] | None = None
) -> list[Decision]:
    """The live suggestions a person's decision judged, other than the accepted ones:
    rejected (wrong), and pending on a document the user labeled by hand."""
    scope = Document.project_id == project.id
    if document_ids is not None:
        scope = scope & Document.id.in_(document_ids)
    columns = (
        Suggestion.labeler,
        Suggestion.confidence,
        Suggestion.job_id,
        Suggestion.class_id,
        Suggestion.document_id,
    )
    rejected = session.execute(
        select(*columns)
        .join(Document, Document.id == Suggestion.document_id)
        .where(Suggestion.status == SuggestionStatus.REJECTED, scope)
    ).all()
    user: dict[int, set[int]] = defaultdict(set)
    for doc_id, class_id in session.execute(
        select(Label.document_id, Label.class_id)
        .join(Document, Document.id == Label.document_id)
        .where(scope, Label.suggestion_id.is_(None))
    ):
        user[doc_id].add(class_id)
    shadowed = session.execute(
        select(*columns)
        .join(Document, Document.id == Suggestion.document_id)
        .where(
            Suggestion.status == SuggestionStatus.PENDING,
            scope,
            exists().where(
                Label.document_id == Suggestion.document_id, Label.suggestion_id.is_(None)
            ),
        )
    ).all()
    out = [(lab, conf, False, job) for lab, conf, job, *_ in rejected]
    out += [(lab, conf, class_id in user[doc], job) for lab, conf, job, class_id, doc in shadowed]
    return out


def archive(session: Session, project: Project, document_ids: Sequence[int] | None = None) -> int:
    """Keep what :func:`judged` says of the suggestions about to be deleted."""
    rows = [
        {
            "project_id": project.id,
            "labeler": lab,
            "confidence": conf,
            "right": right,
            "job_id": job,
        }
        for lab, conf, right, job in judged(session, project, document_ids)
    ]
    for i in range(0, len(rows), 1000):
        session.execute(insert(ArchivedDecision), rows[i : i + 1000])
    return len(rows)


def all_decisions(session: Session, project: Project) -> list[Decision]:
    """Every suggestion a person's decision judged, live or archived. Acceptances above a
    threshold are not a person's judgment and are left out; pending suggestions on documents
    nobody labeled are not read at all."""
    accepted = session.execute(
        select(Suggestion.labeler, Suggestion.confidence, Suggestion.job_id)
        .join(Document, Document.id == Suggestion.document_id)
        .where(
            Suggestion.status == SuggestionStatus.ACCEPTED,
            Suggestion.decided_by != BY_THRESHOLD,
            Document.project_id == project.id,
        )
    )
    out: list[Decision] = [(lab, conf, True, job) for lab, conf, job in accepted]
    out += judged(session, project)
    archived = session.execute(
        select(
            ArchivedDecision.labeler,
            ArchivedDecision.confidence,
            ArchivedDecision.right,
            ArchivedDecision.job_id,
        )
        .where(ArchivedDecision.project_id == project.id)
        .order_by(ArchivedDecision.id)
    )
    out += [(lab, conf, bool(right), job) for lab, conf, right, job in archived]
    return out


def reviewed(session: Session, project: Project) -> dict[str, list[tuple[float, bool]]]:
    """Per labeler: (confidence, right) of every suggestion a person's decision judged."""
    out: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for labeler, confidence, right, _job in all_decisions(session, project):
        out[labeler].append((confidence, right))
    return dict(out)


def reviewed_by_job(
    session: Session, project: Project, labeler: str
) -> dict[int | None, list[tuple[float, bool]]]:
    """``labeler``'s decisions per generation of its suggestions (the job that made them)."""
    out: dict[int | None, list[tuple[float, bool]]] = defaultdict(list)
    for name, confidence, right, job in all_decisions(session, project):
        if name == labeler:
            out[job].append((confidence, right))
    return dict(out)


def add_held_out(
    session: Session,
    project: Project,
    labeler: str,
    evidence: Sequence[tuple[float, bool]],
    job_id: int | None,
) -> int:
    """Keep a labeler's held-out check on the user's labels (``Labeler.held_out``) as decisions
    of the generation ``job_id``: the user's labels judged it, so it vouches for that run's
    suggestions before anyone reviews one. Returns how many."""
    if evidence:
        session.execute(
            insert(ArchivedDecision),
            [
                {
                    "project_id": project.id,
                    "labeler": labeler,
                    "confidence": float(confidence),
                    "right": bool(right),
                    "job_id": job_id,
                }
                for confidence, right in evidence
            ],
        )
    return len(evidence)


def has_archived(session: Session, project: Project, labeler: str, job_id: int) -> bool:
    """Whether the job's generation already has kept decisions (a resumed job checked itself)."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    ArchivedDecision.project_id == project.id,
                    ArchivedDecision.labeler == labeler,
                    ArchivedDecision.job_id == job_id,
                )
            )
        )
    )


def archived_count(session: Session, project: Project) -> int:
    """How many archived decisions the project has (part of the calibration's signature)."""
    return int(
        session.scalar(
            select(func.count(ArchivedDecision.id)).where(ArchivedDecision.project_id == project.id)
        )
        or 0
    )
