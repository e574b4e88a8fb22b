"""Search through the index: the same documents as a scan, whatever the index has taken in."""

from __future__ import annotations

from sqlalchemy import delete, event, select, text

from labelwise.domain import DocumentRecord
from labelwise.store import Store, search
from labelwise.store.documents import write_batch
from labelwise.store.models import Document
from labelwise.store.projects import get_project
from labelwise.store.query import DocumentQuery
from tests.helpers import make_project

TEXTS = {
    "a": "The parcel arrived late",
    "b": "refund for the LATE parcel",
    "c": "my card was charged twice",
    "d": 'she said "late" twice',
    "e": "50% off, 100_000 items",
    "f": "Überweisung kam zu spät",
}


def scan(store: Store, q: str) -> list[str]:
    """The names a plain scan finds, blind to case."""
    with store.session() as s:
        p = get_project(s, "p")
        rows = s.scalars(
            select(Document.name)
            .where(Document.project_id == p.id, Document.text.icontains(q, autoescape=True))
            .order_by(Document.id)
        )
        return list(rows)


def found(store: Store, q: str, **paging: int) -> list[str]:
    with store.session() as s:
        p = get_project(s, "p")
        return [d.name for d in DocumentQuery(q=q).documents(s, p, limit=3, **paging)]


def pages(store: Store, q: str) -> list[str]:
    """Every match, three at a time, forward with ``after``."""
    names: list[str] = []
    after = 0
    while True:
        with store.session() as s:
            p = get_project(s, "p")
            rows = DocumentQuery(q=q).documents(s, p, limit=3, after_id=after)
        names += [d.name for d in rows]
        if len(rows) < 3:
            return names
        after = rows[-1].id


def index_all(store: Store) -> None:
    while True:
        with store.session() as s:
            if not search.index_pending(s, batch=2):
                return


QUERIES = ("late", "LATE", "parcel", "twice", '"late"', "50%", "0_0", "spät", "la", "zanzibar")


def test_search_finds_what_a_scan_finds_before_during_and_after_indexing(store: Store) -> None:
    make_project(store, docs=TEXTS)
    sqlite = store.engine.dialect.name == "sqlite"
    with store.session() as s:
        assert search.pending(s) == (6 if sqlite else 0)
    expected = {q: scan(store, q) for q in QUERIES}
    assert expected["late"] == ["a", "b", "d"]  # blind to case on both
    for q in QUERIES:
        assert pages(store, q) == expected[q], q
    with store.session() as s:
        assert search.index_pending(s, batch=4) == (4 if sqlite else 0)  # half indexed
        assert search.pending(s) == (2 if sqlite else 0)
    for q in QUERIES:
        assert pages(store, q) == expected[q], q
    index_all(store)
    with store.session() as s:
        assert search.pending(s) == 0
    for q in QUERIES:
        assert pages(store, q) == expected[q], q
    # the page before a document: the same matches, backward
    with store.session() as s:
        p = get_project(s, "p")
        last = s.scalar(
            select(Document.id).where(Document.name == "d", Document.project_id == p.id)
        )
    assert found(store, "late", before_id=last) == ["a", "b"]


def test_the_index_follows_replaced_deleted_and_new_documents(store: Store) -> None:
    make_project(store, docs=TEXTS)
    index_all(store)
    with store.session() as s:
        p = get_project(s, "p")
        ids = {c.name: c.id for c in p.classes}
        write_batch(s, p, [DocumentRecord("a", "a new text", where="1")], ids, replace=True)
        s.execute(delete(Document).where(Document.name == "b", Document.project_id == p.id))
        write_batch(s, p, [DocumentRecord("g", "late again", where="2")], ids)
    assert pages(store, "late") == scan(store, "late") == ["d", "g"]
    assert pages(store, "new text") == ["a"]
    index_all(store)
    assert pages(store, "late") == ["d", "g"]
    if store.engine.dialect.name == "sqlite":
        # the largest id deleted and used again: indexed at once, below the watermark
        with store.session() as s:
            p = get_project(s, "p")
            s.execute(delete(Document).where(Document.name == "g", Document.project_id == p.id))
        with store.session() as s:
            p = get_project(s, "p")
            ids = {c.name: c.id for c in p.classes}
            write_batch(s, p, [DocumentRecord("h", "late as ever", where="3")], ids)
            assert search.pending(s) == 0
        assert pages(store, "late") == ["d", "h"]
        with store.session() as s:  # the index holds exactly the documents, nothing stale
            check = s.execute(
                text("INSERT INTO documents_fts (documents_fts) VALUES ('integrity-check')")
            )
            assert check is not None


def test_postgresql_search_has_a_trigram_index(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        return
    with store.session() as s:
        available = s.scalar(text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"))
        index = s.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": search.PG_INDEX}
        )
    if available:
        assert index is not None and "gin_trgm_ops" in index


def test_an_indexed_search_reads_the_index_and_a_short_one_scans(store: Store) -> None:
    make_project(store, docs=TEXTS)
    index_all(store)
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        assert found(store, "parcel") == ["a", "b"]
        used = any("MATCH" in st for st in statements)
        statements.clear()
        assert found(store, "la") == ["a", "b", "d"]  # two characters: no trigram to look up
        short = any("MATCH" in st for st in statements)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert used == (store.engine.dialect.name == "sqlite")
    assert not short
