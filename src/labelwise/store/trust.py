"""Accept at a target precision: a labeler's reviewed decisions (its accepted and rejected
suggestions, and its suggestions on documents the user labeled) tell how precise it is above
each confidence; the lowest threshold whose precision holds the target at its lower 90 % bound
is used to accept what is pending above it. Too few decisions: nothing is accepted, and the
answer says how many more to review."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from labelwise.domain import LabelwiseError, SuggestionStatus
from labelwise.stats import (
    Agreement,
    Calibration,
    agreement_features,
    calibrate,
    choose_threshold_by_generation,
    fit_agreement,
)
from labelwise.store import decisions
from labelwise.store import labels as rules
from labelwise.store.models import Document, Label, Project, Suggestion


@dataclass
class Acceptance:
    labeler: str
    target: float
    accepted: int
    threshold: float | None
    estimated_precision: float
    interval: tuple[float, float]  # the 80 % two-sided interval: its low end is the 90 % bound
    reviewed: int  # reviewed decisions at or above the threshold (or where it was tried)
    more_needed: int | None  # when nothing was accepted: decisions still to review
    message: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["interval"] = list(self.interval)
        return data


def reviewed_decisions(session: Session, project: Project) -> dict[str, list[tuple[float, bool]]]:
    """Per labeler: (confidence, right) of each suggestion a person has decided on, live or
    archived by a training (``decisions.reviewed``)."""
    return decisions.reviewed(session, project)


@dataclass(frozen=True)
class Trust:
    """What the reviewed decisions say: each labeler's calibration, and how they agree."""

    calibrations: dict[str, Calibration]
    agreement: Agreement


_FITTED: dict[tuple[str, int, tuple[int, ...]], Trust] = {}
_LAST: dict[tuple[str, int], tuple[float, Trust]] = {}
VIEW_AGE = 10.0  # seconds a page may show a fit before it looks for new decisions


def _trust(session: Session, project: Project, max_age: float) -> Trust:
    """The project's fits. Refitted when a decision changes (accept, reject, undo, a user
    label, new suggestions); otherwise the last fit is reused, so a page of suggestions costs a
    few counts, not a refit. With ``max_age``, a fit made that few seconds ago is reused without
    looking (the pages: a reviewer's every decision must not wait for a refit)."""
    where = (str(session.get_bind().engine.url), project.id)
    last = _LAST.get(where)
    if max_age and last is not None and time.monotonic() - last[0] < max_age:
        return last[1]
    decided = session.execute(  # the decided suggestions, through the status index
        select(Suggestion.status, func.count(Suggestion.id), func.sum(Suggestion.id))
        .join(Document, Document.id == Suggestion.document_id)
        .where(
            Suggestion.status.in_([SuggestionStatus.ACCEPTED, SuggestionStatus.REJECTED]),
            Document.project_id == project.id,
        )
        .group_by(Suggestion.status)
        .order_by(Suggestion.status)
    ).all()
    newest = session.scalar(select(func.max(Suggestion.id)))  # new suggestions anywhere
    labels = session.execute(  # how many, and which classes (a changed label changes the sum)
        select(func.count(Label.id), func.sum(Label.class_id + Label.document_id))
        .join(Document, Document.id == Label.document_id)
        .where(Document.project_id == project.id)
    ).one()
    signature = (
        decisions.archived_count(session, project),
        *(
            value
            for status, count, ids in decided
            for value in (int(status == SuggestionStatus.ACCEPTED), int(count), int(ids or 0))
        ),
        int(newest or 0),
        *(int(x or 0) for x in labels),
    )
    key = (*where, signature)
    if key not in _FITTED:
        if len(_FITTED) > 64:
            _FITTED.clear()
        fits = {
            labeler: calibrate(decisions)
            for labeler, decisions in reviewed_decisions(session, project).items()
        }
        _FITTED[key] = Trust(fits, _fit_agreement(session, project, fits))
    _LAST[where] = (time.monotonic(), _FITTED[key])
    return _FITTED[key]


def calibrations(
    session: Session, project: Project, *, max_age: float = 0.0
) -> dict[str, Calibration]:
    """Per labeler, its confidences calibrated to the project's reviewed decisions (see
    :func:`_trust` for when they are refitted)."""
    return _trust(session, project, max_age).calibrations


def agreement(session: Session, project: Project, *, max_age: float = 0.0) -> Agreement:
    """How the labelers' suggestions together predict a class, learned from the reviewed
    decisions."""
    return _trust(session, project, max_age).agreement


SuggestionRow = tuple[int, int, str, float, str]  # document, class, labeler, confidence, status


def _suggestions_of(session: Session, doc_ids: Sequence[int]) -> dict[int, list[SuggestionRow]]:
    out: dict[int, list[SuggestionRow]] = defaultdict(list)
    ids = sorted(set(doc_ids))
    for i in range(0, len(ids), 500):
        rows = session.execute(
            select(
                Suggestion.document_id,
                Suggestion.class_id,
                Suggestion.labeler,
                Suggestion.confidence,
                Suggestion.status,
            ).where(Suggestion.document_id.in_(ids[i : i + 500]))
        )
        for row in rows:
            out[row[0]].append(tuple(row))  # type: ignore[arg-type]
    return out


def calibrated(fits: dict[str, Calibration], labeler: str, confidence: float) -> float:
    """``confidence`` mapped through ``labeler``'s calibration, or as it is while the
    calibration cannot be fitted."""
    fit = fits.get(labeler)
    value = fit.precision(confidence) if fit is not None else None
    return confidence if value is None else value


def _scores(
    rows: Sequence[SuggestionRow], fits: dict[str, Calibration]
) -> dict[str, dict[str, float]]:
    """Per labeler, per class (its id as text): the best score it gave the class on one
    document, calibrated when its calibration is fitted."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for _doc, class_id, labeler, confidence, _status in rows:
        score = calibrated(fits, labeler, confidence)
        key = str(class_id)
        out[labeler][key] = max(score, out[labeler].get(key, 0.0))
    return out


def _fit_agreement(session: Session, project: Project, fits: dict[str, Calibration]) -> Agreement:
    """Fit the agreement model on every (document, class) a person has settled: on a labeled
    document, each suggested class is right when it is among the labels; on an unlabeled one,
    a class whose every suggestion was rejected is wrong."""
    labeled: dict[int, set[int]] = defaultdict(set)
    for doc_id, class_id in session.execute(  # labels a person set or accepted
        select(Label.document_id, Label.class_id)
        .join(Document, Document.id == Label.document_id)
        .outerjoin(Suggestion, Suggestion.id == Label.suggestion_id)
        .where(
            Document.project_id == project.id,
            decisions.by_a_person(),
        )
    ):
        labeled[doc_id].add(class_id)
    settled = session.scalars(  # documents with suggestions a person has settled
        select(Suggestion.document_id)
        .join(Document, Document.id == Suggestion.document_id)
        .where(
            Document.project_id == project.id,
            or_(
                Suggestion.status == SuggestionStatus.REJECTED,
                exists().where(Label.document_id == Suggestion.document_id),
            ),
        )
        .distinct()
    )
    suggested = _suggestions_of(session, list(settled))
    names = sorted({row[2] for rows in suggested.values() for row in rows})
    pairs: list[tuple[list[float], bool]] = []
    for doc_id, rows in suggested.items():
        scores = _scores(rows, fits)
        for class_id in {row[1] for row in rows}:
            if doc_id in labeled:
                right = class_id in labeled[doc_id]
            elif all(r[4] == SuggestionStatus.REJECTED for r in rows if r[1] == class_id):
                right = False
            else:
                continue  # still pending: nobody has said
            pairs.append((agreement_features(names, scores, str(class_id)), right))
    return fit_agreement(names, pairs)


def agreement_view(
    session: Session, project: Project, doc_ids: Sequence[int], *, max_age: float = 0.0
) -> dict[tuple[int, int], tuple[list[str], float | None]]:
    """Per (document, class) suggested: the labelers that suggested it, and the chance it is
    right from all of them together (None while the agreement model is not fitted)."""
    trust = _trust(session, project, max_age)
    out: dict[tuple[int, int], tuple[list[str], float | None]] = {}
    for doc_id, rows in _suggestions_of(session, doc_ids).items():
        scores = _scores(rows, trust.calibrations)
        for class_id in {row[1] for row in rows}:
            who = sorted({row[2] for row in rows if row[1] == class_id})
            features = agreement_features(trust.agreement.labelers, scores, str(class_id))
            combined = trust.agreement.score(features) if trust.agreement.fitted else None
            out[(doc_id, class_id)] = (who, None if combined is None else round(combined, 4))
    return out


CONFIDENCES = ("0.5", "0.7", "0.8", "0.9", "0.95")


def calibration_report(session: Session, project: Project) -> list[dict[str, Any]]:
    """Each labeler's calibration as the CLI and API show it (``CalibrationPublic``)."""
    return [
        {
            "labeler": labeler,
            "reviewed": fit.reviewed,
            "right": fit.right,
            "fitted": fit.fitted,
            "error": None if fit.error is None else round(fit.error, 4),
            "reason": fit.reason,
            "precision_at": {
                c: None
                if fit.precision(float(c)) is None
                else round(fit.precision(float(c)) or 0, 4)
                for c in CONFIDENCES
            },
        }
        for labeler, fit in sorted(calibrations(session, project).items())
    ]


def accept_at_precision(
    session: Session,
    project: Project,
    target: float,
    labeler: str | None = None,
    *,
    dry_run: bool = False,
) -> Acceptance:
    """Accept the pending suggestions of ``labeler`` above the lowest threshold whose reviewed
    precision reaches ``target`` at its lower 90 % bound; accept nothing when none does."""
    if not 0 < target < 1:
        raise LabelwiseError(f"a target precision of {target} is not between 0 and 1")
    labeler = labeler or _only_labeler(session, project)
    by_job = decisions.reviewed_by_job(session, project, labeler)
    waiting: dict[int | None, list[float]] = defaultdict(list)
    for confidence, job in session.execute(  # what a threshold would accept: the pending
        select(Suggestion.confidence, Suggestion.job_id)
        .join(Document, Document.id == Suggestion.document_id)
        .where(
            Document.project_id == project.id,
            Suggestion.labeler == labeler,
            rules.reviewable_clause(project),
        )
    ):
        waiting[job].append(confidence)
    # each job's suggestions are vouched for by the decisions on that job's suggestions: a
    # labeler run again after learning from more labels means something else by a confidence
    pick = choose_threshold_by_generation(by_job, target, waiting)
    reviewed_count = sum(len(d) for d in by_job.values())
    queue = "a random sample of them: the 'random sample' order of bulk review and the suggestions"
    if pick.threshold is None:
        more = (
            f"review about {pick.more_needed} more of its suggestions ({queue}) to support it"
            if pick.more_needed is not None
            else "its reviewed precision is below the target at every confidence; review more "
            f"({queue}) or use a better labeler"
        )
        return Acceptance(
            labeler,
            target,
            0,
            None,
            pick.precision,
            pick.interval,
            pick.reviewed,
            pick.more_needed,
            f"accepted nothing: {reviewed_count} answers of {labeler!r} judged by your reviews "
            f"or labels cannot support a precision of {target:.0%}"
            + (f" for the suggestions of its {len(waiting)} jobs" if len(waiting) > 1 else "")
            + f"; {more}",
        )
    accepted = rules.accept_above(
        session, project, pick.threshold, labeler=labeler, dry_run=dry_run
    )
    return Acceptance(
        labeler,
        target,
        accepted,
        pick.threshold,
        pick.precision,
        pick.interval,
        pick.reviewed,
        None,
        f"{'would accept' if dry_run else 'accepted'} {accepted} suggestions of {labeler!r} at "
        f"confidence >= {pick.threshold:.3f}: "
        f"{pick.reviewed} of its answers above it judged by your reviews or labels were "
        f"{pick.precision:.1%} right "
        f"(90 % lower bound {pick.interval[0]:.1%})",
    )


def _only_labeler(session: Session, project: Project) -> str:
    names = sorted(
        set(
            session.scalars(
                select(Suggestion.labeler)
                .join(Document, Document.id == Suggestion.document_id)
                .where(Document.project_id == project.id, rules.reviewable_clause(project))
            )
        )
    )
    if len(names) != 1:
        raise LabelwiseError(
            "name the labeler whose suggestions to accept: "
            + (", ".join(names) if names else "there are no suggestions to review")
        )
    return names[0]
