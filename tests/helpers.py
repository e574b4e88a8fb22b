"""Small builders shared by the tests."""

from __future__ import annotations

from labelwise.domain import DocumentRecord, ProjectKind
from labelwise.store import Store
from labelwise.store.classes import add_class
from labelwise.store.documents import write_batch
from labelwise.store.projects import create_project, get_project


def make_project(
    store: Store,
    name: str = "p",
    kind: ProjectKind = ProjectKind.SINGLE_LABEL,
    classes: tuple[str, ...] = ("a", "b", "c"),
    docs: dict[str, str] | None = None,
) -> None:
    with store.session() as s:
        p = create_project(s, name, kind)
        for c in classes:
            add_class(s, p, c)
    if docs:
        with store.session() as s:
            p = get_project(s, name)
            ids = {c.name: c.id for c in p.classes}
            write_batch(s, p, [DocumentRecord(n, t, where=n) for n, t in docs.items()], ids)
