"""One filter object for documents and the suggestions offered on them.

The document list of the pages, ``GET /api/projects/{p}/documents``, ``labelwise docs``, bulk
review (``GET .../suggestions``) and ``labelwise suggestions`` all read a :class:`DocumentQuery`:
one declaration of every filter, its limits and its meaning.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from labelwise.domain import MAX_ID, Dataset, DocFilter
from labelwise.store import labels as label_rules
from labelwise.store import search
from labelwise.store.classes import get_class
from labelwise.store.documents import filter_clause
from labelwise.store.models import Document, Project, Suggestion


class DocumentQuery(BaseModel):
    """Which documents: every filter of the Data labeling page. Unset fields match anything.

    On documents, ``labeler``, ``job`` and the confidence range keep those with a suggestion for
    review that matches them all (and the class, when one is given). On suggestions, they select
    the suggestions themselves.
    """

    # extra names are ignored: the query string of a page carries paging beside the filters
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    filter: DocFilter = Field(DocFilter.ALL, description="All, unlabeled, labeled, auto-labeled.")
    class_name: str | None = Field(
        None, alias="class", max_length=200, description="Labeled or suggested with this class."
    )
    dataset: Dataset | None = Field(None, description="Only the train or the test set.")
    q: str | None = Field(None, max_length=500, description="Text to search for.")
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="A suggestion at least this confident."
    )
    max_confidence: float | None = Field(
        None, ge=0, le=1, description="A suggestion at most this confident."
    )
    labeler: str | None = Field(None, max_length=50, description="Suggested by this labeler.")
    job: int | None = Field(None, ge=1, le=MAX_ID, description="Suggested by this job.")

    @field_validator("*", mode="before")
    @classmethod
    def empty_is_unset(cls, value: Any) -> Any:
        """An empty field of the filter form means "any"."""
        return None if value == "" else value

    def _class_id(self, session: Session, project: Project) -> int | None:
        if not self.class_name:
            return None
        return get_class(session, project, self.class_name).id

    def _suggestion_terms(self, project: Project, class_id: int | None) -> list[Any]:
        """Conditions on :class:`Suggestion` beyond "offered for review" (class included)."""
        terms: list[Any] = []
        if class_id is not None:
            terms.append(Suggestion.class_id == class_id)
        if self.labeler:
            terms.append(Suggestion.labeler == self.labeler)
        if self.job is not None:
            terms.append(Suggestion.job_id == self.job)
        if self.min_confidence is not None:
            terms.append(Suggestion.confidence >= self.min_confidence)
        if self.max_confidence is not None:
            terms.append(Suggestion.confidence <= self.max_confidence)
        return terms

    def _text_terms(self) -> list[Any]:
        terms: list[Any] = []
        if self.dataset is not None:
            terms.append(Document.dataset == self.dataset.value)
        if self.q:
            terms.append(search.Contains(self.q))
        return terms

    def clause(self, session: Session, project: Project) -> ColumnElement[bool]:
        """The WHERE clause on :class:`Document` of every filter together."""
        class_id = self._class_id(session, project)
        clauses = [filter_clause(project, self.filter, class_id), *self._text_terms()]
        if (
            self.labeler
            or self.job is not None
            or self.min_confidence is not None
            or self.max_confidence is not None
        ):
            clauses.append(
                exists().where(
                    Suggestion.document_id == Document.id,
                    label_rules.reviewable_clause(project),
                    *self._suggestion_terms(project, class_id),
                )
            )
        return and_(*clauses)

    def suggestion_clause(self, session: Session, project: Project) -> ColumnElement[bool]:
        """The WHERE clause on :class:`Suggestion` joined to its :class:`Document`: suggestions
        offered for review that match the filters (``filter`` does not apply: every one is on
        an auto-labeled document)."""
        class_id = self._class_id(session, project)
        return and_(
            Document.project_id == project.id,
            label_rules.reviewable_clause(project),
            *self._suggestion_terms(project, class_id),
            *self._text_terms(),
        )

    def informative(
        self, session: Session, project: Project, *, limit: int = 50, offset: int = 0
    ) -> list[Document]:
        """Matching documents with suggestions to review, the most informative first: those
        whose labelers disagree (more distinct classes suggested), then those whose most
        uncertain suggestion is nearest 0.5 (where a decision teaches the calibration most)."""
        score = informativeness(project)
        query = (
            select(Document)
            .join(score, score.c.document_id == Document.id)
            .where(self.clause(session, project))
            .order_by(score.c.classes.desc(), score.c.margin, Document.id)
            .offset(offset)
            .limit(limit)
        )
        return list(session.scalars(query))

    def documents(
        self,
        session: Session,
        project: Project,
        *,
        limit: int | None = 50,
        after_id: int = 0,
        before_id: int | None = None,
    ) -> list[Document]:
        """Matching documents in id order, from the one after ``after_id`` (keyset paging, so
        page 2,000 costs what page 1 does); with ``before_id``, the ones just before it (still
        in id order)."""
        where = self.clause(session, project)
        if self.q:
            found = search.documents(
                session, where, self.q, limit=limit, after_id=after_id, before_id=before_id
            )
            if found is not None:
                return list(found)
        query = select(Document).where(where)
        if before_id is not None:
            query = query.where(Document.id < before_id).order_by(Document.id.desc())
        else:
            query = query.where(Document.id > after_id).order_by(Document.id)
        if limit is not None:
            query = query.limit(limit)
        rows = list(session.scalars(query))
        return rows[::-1] if before_id is not None else rows


def informativeness(project: Project) -> Any:
    """Per document with suggestions offered for review: how many distinct classes they name
    (labelers that disagree) and how near 0.5 the most uncertain one is (``margin``)."""
    return (
        select(
            Suggestion.document_id,
            func.count(func.distinct(Suggestion.class_id)).label("classes"),
            func.min(func.abs(Suggestion.confidence - 0.5)).label("margin"),
        )
        .join(Document, Document.id == Suggestion.document_id)
        .where(Document.project_id == project.id, label_rules.reviewable_clause(project))
        .group_by(Suggestion.document_id)
        .subquery()
    )
