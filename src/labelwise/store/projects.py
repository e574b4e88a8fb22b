"""Projects: create, find, list, delete and count."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from labelwise.domain import (
    Conflict,
    LabelwiseError,
    NotFound,
    ProjectKind,
    SuggestionStatus,
    validate_project_name,
)
from labelwise.prompts import classify
from labelwise.store.models import Document, Label, LabelClass, Project, Suggestion


@dataclass(frozen=True)
class ProjectSummary:
    """Counts shown by ``project show``."""

    name: str
    kind: str
    language: str
    description: str
    encoder: str
    documents: int
    labeled: int
    unlabeled: int
    train: int
    test: int
    pending_suggestions: int
    classes: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def create_project(
    session: Session,
    name: str,
    kind: ProjectKind | str = ProjectKind.SINGLE_LABEL,
    language: str = "en",
    description: str = "",
    *,
    multilingual: bool = False,
    encoder: str | None = None,
) -> Project:
    """A new project; its encoder is ``encoder``, else the one for its language (the
    multilingual one for a language other than English or a ``multilingual`` project)."""
    from labelwise.embeddings.registry import check_encoder, choose_encoder

    name = validate_project_name(name)
    try:
        kind = ProjectKind(kind)
    except ValueError:
        raise LabelwiseError(
            f"project kind {kind!r} is unknown; use 'single_label' or 'multi_label'"
        ) from None
    if session.scalar(select(Project.id).where(Project.name == name)) is not None:
        raise Conflict(f"a project named {name!r} already exists")
    language = language.strip() or "en"
    if len(language) > 20 or not all(c.isalnum() or c in "-_" for c in language):
        raise LabelwiseError(f"language {language[:30]!r} is not a code like 'en' or 'en-us'")
    chosen = check_encoder(encoder) if encoder else choose_encoder(language, multilingual)
    project = Project(
        name=name, kind=kind.value, language=language, description=description, encoder=chosen
    )
    session.add(project)
    session.flush()
    return project


def get_project(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        known = session.scalars(select(Project.name).order_by(Project.name).limit(20)).all()
        hint = f"; projects are: {', '.join(known)}" if known else "; create one first"
        raise NotFound(f"no project named {name!r}{hint}")
    return project


def list_projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.name)))


def delete_project(session: Session, name: str) -> None:
    """Delete a project with its classes, documents, labels and suggestions."""
    session.delete(get_project(session, name))
    session.flush()


def rename_project(session: Session, old: str, new: str) -> Project:
    """Rename a project (also one whose name predates the name rule and cannot be reached from
    the pages); its documents, labels, jobs and models follow."""
    project = get_project(session, old)
    new = validate_project_name(new)
    if new != old and session.scalar(select(Project.id).where(Project.name == new)) is not None:
        raise Conflict(f"a project named {new!r} already exists")
    project.name = new
    session.flush()
    return project


def set_prompt(session: Session, name: str, source: str | None) -> Project:
    """Give project ``name`` its own instructions template for LLM labelers (checked: it must
    render), or go back to the package's with ``None``. Suggestions made with the old prompt
    stay; new runs label again, under the new prompt version."""
    project = get_project(session, name)
    project.prompt = classify.check_instructions(source) if source else None
    session.flush()
    return project


def summarize(session: Session, project: Project) -> ProjectSummary:
    pid = project.id
    docs = select(Document.id).where(Document.project_id == pid)
    total = session.scalar(select(func.count()).select_from(docs.subquery())) or 0
    labeled = (
        session.scalar(
            select(func.count()).where(
                Document.project_id == pid, exists().where(Label.document_id == Document.id)
            )
        )
        or 0
    )
    by_dataset = dict(
        session.execute(
            select(Document.dataset, func.count())
            .where(Document.project_id == pid)
            .group_by(Document.dataset)
        ).all()
    )
    label_counts = dict(
        session.execute(
            select(LabelClass.name, func.count(Label.id))
            .join(Label, Label.class_id == LabelClass.id)
            .where(LabelClass.project_id == pid)
            .group_by(LabelClass.name)
        ).all()
    )
    suggestion_counts = dict(
        session.execute(
            select(LabelClass.name, func.count(Suggestion.id))
            .join(Suggestion, Suggestion.class_id == LabelClass.id)
            .where(LabelClass.project_id == pid, Suggestion.status == SuggestionStatus.PENDING)
            .group_by(LabelClass.name)
        ).all()
    )
    classes = {
        c.name: {
            "labels": label_counts.get(c.name, 0),
            "pending_suggestions": suggestion_counts.get(c.name, 0),
        }
        for c in project.classes
    }
    return ProjectSummary(
        name=project.name,
        kind=project.kind,
        language=project.language,
        description=project.description,
        encoder=project.encoder,
        documents=total,
        labeled=labeled,
        unlabeled=total - labeled,
        train=by_dataset.get("train", 0),
        test=by_dataset.get("test", 0),
        pending_suggestions=sum(suggestion_counts.values()),
        classes=classes,
    )
