"""Search in the text of documents, kept fast at a million documents without slowing an import.

**SQLite.** An FTS5 table with the trigram tokenizer (``documents_fts``, whose content is
``documents``) indexes every document up to a watermark (``search_index.upto``). An import only
writes documents; :func:`index_pending` brings the index up to date in batches: the server does
so between jobs, and an import that added few documents does so before it returns. A search reads
the index below the watermark and scans the documents above it, so its answer is right at every
moment and fast once the index has caught up. Triggers keep the entries of indexed documents
right when their text changes or they are deleted, and index a new document whose id lies below
the watermark (SQLite may reuse the largest id after a delete).

**PostgreSQL.** A GIN trigram index (``pg_trgm``) on ``documents.text``, kept by PostgreSQL
itself; on a server without ``pg_trgm`` search scans.

The index only narrows the candidates: every match is checked with the same ``LIKE`` as without
it, so a search finds the same documents either way. Fewer than three characters (no trigram)
are always scanned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Select, column, literal_column, select, table, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from labelwise.store.models import Document

TRIGRAM = 3  # the shortest text an index of trigrams can find
BATCH = 10_000

SQLITE_SCHEMA = (
    "CREATE TABLE search_index (id INTEGER PRIMARY KEY CHECK (id = 1), upto INTEGER NOT NULL)",
    "INSERT INTO search_index (id, upto) VALUES (1, 0)",
    "CREATE VIRTUAL TABLE documents_fts USING fts5("
    "text, content='documents', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER documents_fts_insert AFTER INSERT ON documents "
    "WHEN new.id <= (SELECT upto FROM search_index) BEGIN "
    "INSERT INTO documents_fts (rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER documents_fts_delete AFTER DELETE ON documents "
    "WHEN old.id <= (SELECT upto FROM search_index) BEGIN "
    "INSERT INTO documents_fts (documents_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "END",
    "CREATE TRIGGER documents_fts_update AFTER UPDATE OF text ON documents "
    "WHEN old.id <= (SELECT upto FROM search_index) BEGIN "
    "INSERT INTO documents_fts (documents_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO documents_fts (rowid, text) VALUES (new.id, new.text); END",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS documents_fts_update",
    "DROP TRIGGER IF EXISTS documents_fts_delete",
    "DROP TRIGGER IF EXISTS documents_fts_insert",
    "DROP TABLE IF EXISTS documents_fts",
    "DROP TABLE IF EXISTS search_index",
)
PG_INDEX = "ix_documents_text_trgm"
# tables and indexes the migrations make that the models do not declare
UNMODELLED = ("search_index", "documents_fts", PG_INDEX)


def include_object(
    _obj: object, name: str | None, _type: str, _reflected: bool, _compare_to: object
) -> bool:
    """Alembic's filter when it compares the models with a database: the search objects the
    models do not declare (FTS5's shadow tables included) are left out."""
    return not (name and name.startswith(UNMODELLED))


def _watermark(session: Session) -> int | None:
    """Documents up to this id are in the SQLite index; None: no index on this database."""
    if session.get_bind().dialect.name != "sqlite":
        return None
    exists = session.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_index'")
    ).first()
    if not exists:
        return None
    return int(session.execute(text("SELECT upto FROM search_index")).scalar_one())


def pending(session: Session) -> int:
    """How many documents the SQLite index has still to take in (0 on PostgreSQL)."""
    upto = _watermark(session)
    if upto is None:
        return 0
    return int(
        session.execute(
            text("SELECT count(*) FROM documents WHERE id > :u"), {"u": upto}
        ).scalar_one()
    )


def index_pending(session: Session, batch: int = BATCH) -> int:
    """Index the next ``batch`` documents above the watermark (SQLite); how many it indexed."""
    upto = _watermark(session)
    if upto is None:
        return 0
    last = session.execute(
        text(
            "SELECT max(id), count(*) FROM "
            "(SELECT id FROM documents WHERE id > :u ORDER BY id LIMIT :n)"
        ),
        {"u": upto, "n": batch},
    ).one()
    if not last[1]:
        return 0
    session.execute(
        text(
            "INSERT INTO documents_fts (rowid, text) "
            "SELECT id, text FROM documents WHERE id > :u AND id <= :last ORDER BY id"
        ),
        {"u": upto, "last": last[0]},
    )
    session.execute(text("UPDATE search_index SET upto = :last"), {"last": last[0]})
    return int(last[1])


class Contains(ColumnElement[bool]):
    """Documents whose text contains ``q``, blind to case: ``ILIKE`` on PostgreSQL (which its
    trigram index serves), ``LIKE`` on SQLite (blind to ASCII case already, and cheaper than
    ``lower()`` on every row)."""

    inherit_cache = False
    type = Boolean()

    def __init__(self, q: str) -> None:
        self.q = q


@compiles(Contains)
def _like(element: Contains, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(Document.text.contains(element.q, autoescape=True), **kw)


@compiles(Contains, "postgresql")
def _ilike(element: Contains, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(Document.text.icontains(element.q, autoescape=True), **kw)


def phrase(q: str) -> str:
    """``q`` as one FTS5 string: with the trigram tokenizer, the documents containing it."""
    return '"' + q.replace('"', '""') + '"'


def documents(
    session: Session,
    where: ColumnElement[bool],
    q: str,
    *,
    limit: int | None,
    after_id: int = 0,
    before_id: int | None = None,
) -> Sequence[Document] | None:
    """Documents matching ``where`` (which holds the ``LIKE`` of ``q``) in id order, through the
    SQLite index; None when there is no index to use (PostgreSQL's is used by its planner)."""
    upto = _watermark(session)
    if upto is None or len(q) < TRIGRAM or limit is None:
        return None
    fts = table("documents_fts", column("rowid"))
    match = literal_column("documents_fts").op("MATCH")(phrase(q))

    def indexed(query: Select[Any]) -> Select[Any]:
        return query.join(fts, fts.c.rowid == Document.id).where(match, where, fts.c.rowid <= upto)

    if before_id is None:
        head = indexed(select(Document)).where(fts.c.rowid > after_id)
        rows: list[Document] = list(session.scalars(head.order_by(fts.c.rowid).limit(limit)))
        if len(rows) < limit:
            tail = (
                select(Document)
                .where(where, Document.id > max(after_id, upto))
                .order_by(Document.id)
                .limit(limit - len(rows))
            )
            rows += session.scalars(tail)
        return rows
    # the page before ``before_id``: the unindexed tail first (largest ids), newest first
    rows = list(
        session.scalars(
            select(Document)
            .where(where, Document.id > upto, Document.id < before_id)
            .order_by(Document.id.desc())
            .limit(limit)
        )
    )
    if len(rows) < limit:
        head = indexed(select(Document)).where(fts.c.rowid < before_id)
        rows += session.scalars(head.order_by(fts.c.rowid.desc()).limit(limit - len(rows)))
    return rows[::-1]
