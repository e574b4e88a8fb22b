"""Classes of a project: add, list, rename, describe, remove."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labelwise.domain import MAX_CLASSES, Conflict, LabelwiseError, NotFound, validate_class_name
from labelwise.store.models import Label, LabelClass, Project, Suggestion


def list_classes(session: Session, project: Project) -> list[LabelClass]:
    return list(
        session.scalars(
            select(LabelClass).where(LabelClass.project_id == project.id).order_by(LabelClass.id)
        )
    )


def get_class(session: Session, project: Project, name: str) -> LabelClass:
    found = session.scalar(
        select(LabelClass).where(LabelClass.project_id == project.id, LabelClass.name == name)
    )
    if found is None:
        names = [c.name for c in list_classes(session, project)]
        hint = f"; its classes are: {', '.join(names)}" if names else "; it has no classes yet"
        raise NotFound(f"project {project.name!r} has no class {name!r}{hint}")
    return found


def add_class(
    session: Session,
    project: Project,
    name: str,
    description: str = "",
    examples: Iterable[str] = (),
) -> LabelClass:
    name = validate_class_name(name)
    count = session.scalar(select(func.count()).where(LabelClass.project_id == project.id)) or 0
    if count >= MAX_CLASSES:
        raise LabelwiseError(
            f"project {project.name!r} already has {MAX_CLASSES} classes, the most allowed"
        )
    if (
        session.scalar(
            select(LabelClass.id).where(
                LabelClass.project_id == project.id, LabelClass.name == name
            )
        )
        is not None
    ):
        raise Conflict(f"project {project.name!r} already has a class {name!r}")
    cls = LabelClass(
        project_id=project.id,
        name=name,
        description=description,
        examples=_clean_examples(examples),
    )
    session.add(cls)
    session.flush()
    return cls


def ensure_classes(session: Session, project: Project, names: Iterable[str]) -> dict[str, int]:
    """Class ids by name, adding the classes that do not exist yet."""
    existing = {c.name: c.id for c in list_classes(session, project)}
    for name in names:
        if name not in existing:
            existing[name] = add_class(session, project, name).id
    return existing


def rename_class(session: Session, project: Project, old: str, new: str) -> LabelClass:
    cls = get_class(session, project, old)
    new = validate_class_name(new)
    if (
        new != old
        and session.scalar(
            select(LabelClass.id).where(LabelClass.project_id == project.id, LabelClass.name == new)
        )
        is not None
    ):
        raise Conflict(f"project {project.name!r} already has a class {new!r}")
    cls.name = new
    session.flush()
    return cls


def describe_class(
    session: Session,
    project: Project,
    name: str,
    description: str | None = None,
    examples: Iterable[str] | None = None,
) -> LabelClass:
    """Set the description and/or replace the example texts of a class."""
    cls = get_class(session, project, name)
    if description is not None:
        cls.description = description
    if examples is not None:
        cls.examples = _clean_examples(examples)
    session.flush()
    return cls


def class_usage(session: Session, cls: LabelClass) -> tuple[int, int]:
    """How many user labels and suggestions name ``cls``."""
    labels = session.scalar(select(func.count()).where(Label.class_id == cls.id)) or 0
    suggestions = session.scalar(select(func.count()).where(Suggestion.class_id == cls.id)) or 0
    return labels, suggestions


def remove_class(session: Session, project: Project, name: str) -> tuple[int, int]:
    """Remove a class with its labels and suggestions; returns how many of each went."""
    cls = get_class(session, project, name)
    usage = class_usage(session, cls)
    session.delete(cls)
    session.flush()
    return usage


def _clean_examples(examples: Iterable[str]) -> list[str]:
    cleaned = [e.strip() for e in examples if e.strip()]
    if any(len(e) > 5000 for e in cleaned):
        raise LabelwiseError("a class example is over 5,000 characters; give a short text")
    return cleaned
