"""The store: real migrations, projects, classes and documents on each backend."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import inspect, select

from labelwise.domain import (
    MAX_CLASSES,
    Conflict,
    Dataset,
    DocFilter,
    DocumentRecord,
    LabelwiseError,
    NotFound,
    ProjectKind,
)
from labelwise.store import Store, db, open_store
from labelwise.store import classes as cls_svc
from labelwise.store import labels as rules
from labelwise.store.documents import get_document, set_dataset, write_batch
from labelwise.store.models import Base, Document, Suggestion
from labelwise.store.projects import (
    create_project,
    delete_project,
    get_project,
    list_projects,
    summarize,
)
from labelwise.store.query import DocumentQuery
from labelwise.store.search import include_object
from tests.helpers import make_project


def test_migrations_create_the_schema_of_the_models(db_url: str) -> None:
    engine = db.make_engine(db_url)
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"projects", "classes", "documents", "labels", "suggestions"} <= tables
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    db.upgrade(engine, "head")  # idempotent
    from alembic import command

    command.downgrade(db.alembic_config(engine), "base")
    assert "documents" not in inspect(engine).get_table_names()
    engine.dispose()


def test_open_store_migrates_on_first_use_and_keeps_data(db_url: str) -> None:
    first = open_store(db_url)
    make_project(first, docs={"d": "text"})
    first.dispose()
    second = open_store(db_url)
    with second.session() as s:
        assert [p.name for p in list_projects(s)] == ["p"]
    second.dispose()


def test_bad_database_url_gives_a_clear_error() -> None:
    with pytest.raises(LabelwiseError, match="cannot open database"):
        open_store("postgresql://nobody@127.0.0.1:1/none")


def test_sqlite_enforces_foreign_keys(store: Store) -> None:
    make_project(store, docs={"d": "text"})
    _label_doc(store, "d", "a")
    with store.session() as s:
        delete_project(s, "p")
    with store.session() as s:
        assert s.execute(__import__("sqlalchemy").text("select count(*) from labels")).scalar() == 0


def _label_doc(store: Store, doc: str, cls: str) -> None:
    with store.session() as s:
        p = get_project(s, "p")
        rules.set_labels(s, p, get_document(s, p, doc), [cls_svc.get_class(s, p, cls)])


def test_project_names_are_unique_and_kinds_checked(store: Store) -> None:
    with store.session() as s:
        create_project(s, "p", ProjectKind.MULTI_LABEL, "de", "desc")
    with store.session() as s, pytest.raises(Conflict, match="already exists"):
        create_project(s, "p")
    with store.session() as s, pytest.raises(LabelwiseError, match="kind 'triple'"):
        create_project(s, "q", "triple")
    with store.session() as s, pytest.raises(NotFound, match="projects are: p"):
        get_project(s, "nope")


def test_summary_counts(store: Store) -> None:
    make_project(store, docs={"d1": "x", "d2": "y", "d3": "z"})
    _label_doc(store, "d1", "a")
    _label_doc(store, "d2", "a")
    with store.session() as s:
        p = get_project(s, "p")
        set_dataset(s, p, ["d3"], Dataset.TEST)
        rules.add_suggestions(
            s, p, [rules.NewSuggestion(get_document(s, p, "d3").id, "b", 0.4, "llm")]
        )
    with store.session() as s:
        summary = summarize(s, get_project(s, "p"))
    assert (summary.documents, summary.labeled, summary.unlabeled) == (3, 2, 1)
    assert (summary.train, summary.test, summary.pending_suggestions) == (2, 1, 1)
    assert summary.classes["a"] == {"labels": 2, "pending_suggestions": 0}
    assert summary.classes["b"] == {"labels": 0, "pending_suggestions": 1}


def test_class_lifecycle(store: Store) -> None:
    make_project(store, classes=("billing",), docs={"d": "text"})
    _label_doc(store, "d", "billing")
    with store.session() as s:
        p = get_project(s, "p")
        with pytest.raises(Conflict, match="already has a class 'billing'"):
            cls_svc.add_class(s, p, "billing")
        cls_svc.describe_class(s, p, "billing", "Money matters", ["I was charged twice", " "])
        cls_svc.rename_class(s, p, "billing", "payments")
    with store.session() as s:
        p = get_project(s, "p")
        c = cls_svc.get_class(s, p, "payments")
        assert (c.description, c.examples) == ("Money matters", ["I was charged twice"])
        assert rules.document_labels(s, get_document(s, p, "d")) == ["payments"]
        assert cls_svc.remove_class(s, p, "payments") == (1, 0)
    with store.session() as s:
        p = get_project(s, "p")
        assert rules.document_labels(s, get_document(s, p, "d")) == []
        with pytest.raises(NotFound, match="no classes yet"):
            cls_svc.get_class(s, p, "payments")


def test_class_limit(store: Store) -> None:
    make_project(store, classes=tuple(f"c{i}" for i in range(MAX_CLASSES)))
    with store.session() as s, pytest.raises(LabelwiseError, match="already has 200 classes"):
        cls_svc.add_class(s, get_project(s, "p"), "one-more")


def test_write_batch_duplicates_replace_and_label_errors(store: Store) -> None:
    make_project(store, docs={"d1": "old"})
    with store.session() as s:
        p = get_project(s, "p")
        ids = {c.name: c.id for c in p.classes}
        result = write_batch(
            s,
            p,
            [
                DocumentRecord("d1", "new", where="f:1"),
                DocumentRecord("d2", "two", where="f:2", labels=("a",)),
                DocumentRecord("d2", "again", where="f:3"),
                DocumentRecord("d3", "three", where="f:4", labels=("nope",)),
                DocumentRecord("d4", "four", where="f:5", labels=("a", "b")),
            ],
            ids,
        )
    assert (result.inserted, result.replaced, result.duplicates) == (1, 0, ["d2", "d1"])
    assert [e.where for e in result.errors] == ["f:4", "f:5"]
    assert "not a class" in result.errors[0].reason
    assert "single-label" in result.errors[1].reason
    with store.session() as s:
        p = get_project(s, "p")
        assert get_document(s, p, "d1").text == "old"
        result = write_batch(
            s, p, [DocumentRecord("d1", "new", where="f:1", labels=("b",))], ids, replace=True
        )
        assert result.replaced == 1
        assert get_document(s, p, "d1").text == "new"
        assert rules.document_labels(s, get_document(s, p, "d1")) == ["b"]


def test_replacing_text_drops_stale_pending_suggestions(store: Store) -> None:
    make_project(store, docs={"d1": "old"})
    with store.session() as s:
        p = get_project(s, "p")
        rules.add_suggestions(
            s, p, [rules.NewSuggestion(get_document(s, p, "d1").id, "a", 0.5, "llm", job_id=3)]
        )
        write_batch(
            s,
            p,
            [DocumentRecord("d1", "changed", where="x")],
            {c.name: c.id for c in p.classes},
            replace=True,
        )
        assert rules.reviewable_suggestions(s, p) == []
        assert rules.outcomes(s, p)["job:3"]["discarded"] == 1


def test_document_filters(store: Store) -> None:
    make_project(store, docs={f"d{i}": f"text {i}" for i in range(1, 6)})
    _label_doc(store, "d1", "a")
    _label_doc(store, "d2", "b")
    with store.session() as s:
        p = get_project(s, "p")
        doc = {n: get_document(s, p, n).id for n in ("d1", "d3", "d4")}
        rules.add_suggestions(
            s,
            p,
            [
                rules.NewSuggestion(doc["d1"], "b", 0.9, "llm"),  # shadowed by the user label
                rules.NewSuggestion(doc["d3"], "a", 0.8, "llm"),
                rules.NewSuggestion(doc["d4"], "c", 0.7, "llm"),
                rules.NewSuggestion(doc["d4"], "a", 0.4, "embedding"),
            ],
        )
        set_dataset(s, p, ["d5", "d2"], Dataset.TEST)

    def names(which: DocFilter, limit: int = 50, after_id: int = 0, **kw: object) -> list[str]:
        query = DocumentQuery.model_validate({"filter": which, **kw})
        with store.session() as s:
            docs = query.documents(s, get_project(s, "p"), limit=limit, after_id=after_id)
            return [d.name for d in docs]

    assert names(DocFilter.ALL) == ["d1", "d2", "d3", "d4", "d5"]
    assert names(DocFilter.LABELED) == ["d1", "d2"]
    assert names(DocFilter.UNLABELED) == ["d3", "d4", "d5"]
    assert names(DocFilter.AUTO_LABELED) == ["d3", "d4"]
    assert names(DocFilter.AUTO_LABELED, class_name="c") == ["d4"]
    assert names(DocFilter.LABELED, class_name="b") == ["d2"]
    assert names(DocFilter.ALL, class_name="a") == ["d1", "d3", "d4"]
    assert names(DocFilter.ALL, dataset=Dataset.TEST) == ["d2", "d5"]
    assert names(DocFilter.ALL, limit=2) == ["d1", "d2"]
    with store.session() as s:
        after = get_document(s, get_project(s, "p"), "d2").id
    assert names(DocFilter.ALL, limit=2, after_id=after) == ["d3", "d4"]
    # the suggestion filters match one suggestion on all of them (and the class) together
    assert names(DocFilter.ALL, labeler="embedding") == ["d4"]
    assert names(DocFilter.ALL, labeler="llm", min_confidence=0.75) == ["d3"]
    assert names(DocFilter.ALL, labeler="embedding", min_confidence=0.5) == []
    assert names(DocFilter.ALL, **{"class": "c"}, max_confidence=0.5) == []
    assert names(DocFilter.ALL, **{"class": "a"}, max_confidence=0.5) == ["d4"]
    assert names(DocFilter.ALL, q="text 3") == ["d3"]
    assert names(DocFilter.ALL, q="", labeler="") == ["d1", "d2", "d3", "d4", "d5"]
    # the same object filters the suggestions themselves
    with store.session() as s:
        p = get_project(s, "p")
        query = DocumentQuery(labeler="llm", min_confidence=0.5)
        found = s.execute(
            select(Document.name, Suggestion.confidence)
            .join(Document, Document.id == Suggestion.document_id)
            .where(query.suggestion_clause(s, p))
            .order_by(Suggestion.id)
        ).all()
    assert [tuple(r) for r in found] == [("d3", 0.8), ("d4", 0.7)]  # d1's is shadowed


def test_a_document_query_refuses_what_it_cannot_mean() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        DocumentQuery(min_confidence=1.5)
    with pytest.raises(ValidationError, match="filter"):
        DocumentQuery.model_validate({"filter": "pending"})
