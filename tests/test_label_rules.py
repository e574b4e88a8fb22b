"""Every label rule of the README ("Label rules"), on each database backend."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from labelwise.domain import Conflict, LabelwiseError, ProjectKind
from labelwise.store import Store
from labelwise.store import labels as rules
from labelwise.store.documents import get_document
from labelwise.store.models import Label, Suggestion
from labelwise.store.projects import get_project
from tests.helpers import make_project


def _doc_id(store: Store, name: str, project: str = "p") -> int:
    with store.session() as s:
        return get_document(s, get_project(s, project), name).id


def _suggest(
    store: Store, doc: str, cls: str, conf: float = 0.9, job: int | None = 1, project: str = "p"
) -> int:
    with store.session() as s:
        p = get_project(s, project)
        d = get_document(s, p, doc)
        [row] = rules.add_suggestions(
            s, p, [rules.NewSuggestion(d.id, cls, conf, labeler="embedding", model="m", job_id=job)]
        )
        return row.id


def _labels(store: Store, doc: str, project: str = "p") -> list[str]:
    with store.session() as s:
        return rules.document_labels(s, get_document(s, get_project(s, project), doc))


def _label(store: Store, doc: str, *classes: str, project: str = "p") -> None:
    with store.session() as s:
        p = get_project(s, project)
        by_name = {c.name: c for c in p.classes}
        rules.set_labels(s, p, get_document(s, p, doc), [by_name[c] for c in classes])


def _reviewable(store: Store, project: str = "p") -> list[tuple[int, str]]:
    with store.session() as s:
        p = get_project(s, project)
        names = {c.id: c.name for c in p.classes}
        return [(x.document_id, names[x.class_id]) for x in rules.reviewable_suggestions(s, p)]


@pytest.fixture
def single(store: Store) -> Store:
    make_project(store, docs={"d1": "one", "d2": "two"})
    return store


@pytest.fixture
def multi(store: Store) -> Store:
    make_project(store, kind=ProjectKind.MULTI_LABEL, docs={"d1": "one", "d2": "two"})
    return store


def test_accept_creates_user_label(single: Store) -> None:
    sid = _suggest(single, "d1", "b", 0.8)
    assert _labels(single, "d1") == []
    with single.session() as s:
        label = rules.accept(s, get_project(s, "p"), sid)
        assert label.suggestion_id == sid
    assert _labels(single, "d1") == ["b"]
    with single.session() as s:
        assert s.get(Suggestion, sid).status == "accepted"  # type: ignore[union-attr]


def test_reject_records_decision_and_creates_no_label(single: Store) -> None:
    sid = _suggest(single, "d1", "b")
    with single.session() as s:
        rules.reject(s, get_project(s, "p"), sid)
    assert _labels(single, "d1") == []
    with single.session() as s:
        row = s.get(Suggestion, sid)
        assert row is not None and row.status == "rejected" and row.decided_at is not None
        with pytest.raises(Conflict, match="already rejected"):
            rules.accept(s, get_project(s, "p"), sid)


def test_a_labeler_never_changes_user_labels(single: Store) -> None:
    _label(single, "d1", "a")
    _suggest(single, "d1", "b", 0.99)
    _suggest(single, "d1", "c", 0.5, job=2)
    assert _labels(single, "d1") == ["a"]


def test_single_label_user_label_shadows_every_pending_suggestion(single: Store) -> None:
    sid = _suggest(single, "d1", "b")
    _suggest(single, "d2", "c")
    assert sorted(c for _, c in _reviewable(single)) == ["b", "c"]
    _label(single, "d1", "a")
    assert [c for _, c in _reviewable(single)] == ["c"]
    with single.session() as s, pytest.raises(Conflict, match="user label always wins"):
        rules.accept(s, get_project(s, "p"), sid)
    assert _labels(single, "d1") == ["a"]


def test_multi_label_user_label_shadows_only_its_class(multi: Store) -> None:
    _label(multi, "d1", "a")
    shadowed = _suggest(multi, "d1", "a")
    offered = _suggest(multi, "d1", "b")
    assert sorted(c for _, c in _reviewable(multi)) == ["b"]
    with multi.session() as s:
        p = get_project(s, "p")
        with pytest.raises(Conflict, match="for that class"):
            rules.accept(s, p, shadowed)
    with multi.session() as s:
        rules.accept(s, get_project(s, "p"), offered)
    assert _labels(multi, "d1") == ["a", "b"]


def test_accepting_one_suggestion_in_single_label_hides_the_others(single: Store) -> None:
    first = _suggest(single, "d1", "a", 0.7)
    _suggest(single, "d1", "b", 0.6, job=2)
    with single.session() as s:
        rules.accept(s, get_project(s, "p"), first)
    assert _reviewable(single) == []
    assert _labels(single, "d1") == ["a"]


def test_suggestion_must_name_a_project_class(single: Store) -> None:
    with single.session() as s:
        p = get_project(s, "p")
        d = get_document(s, p, "d1")
        with pytest.raises(LabelwiseError, match="'zzz', which is not a class"):
            rules.add_suggestions(s, p, [rules.NewSuggestion(d.id, "zzz", 0.5, "llm")])
        with pytest.raises(LabelwiseError, match="outside"):
            rules.add_suggestions(s, p, [rules.NewSuggestion(d.id, "a", 1.5, "llm")])
    with single.session() as s:
        assert s.scalar(select(func.count()).select_from(Suggestion)) == 0


def test_suggestion_for_a_document_of_another_project_is_refused(single: Store) -> None:
    make_project(single, "other", docs={"x": "text"})
    other_doc = _doc_id(single, "x", "other")
    with single.session() as s, pytest.raises(LabelwiseError, match="not in project 'p'"):
        rules.add_suggestions(
            s, get_project(s, "p"), [rules.NewSuggestion(other_doc, "a", 0.5, "llm")]
        )


def test_discard_deletes_unaccepted_and_keeps_the_counts(single: Store) -> None:
    make_project(single, "q", docs={"d1": "one", "d2": "two", "d3": "three"})
    accepted = _suggest(single, "d1", "a", job=7, project="q")
    rejected = _suggest(single, "d2", "b", job=7, project="q")
    _suggest(single, "d3", "c", job=7, project="q")
    _suggest(single, "d3", "a", job=None, project="q")
    _suggest(single, "d1", "b", project="p")  # another project: untouched
    with single.session() as s:
        q = get_project(s, "q")
        rules.accept(s, q, accepted)
        rules.reject(s, q, rejected)
    with single.session() as s:
        deleted = rules.discard_suggestions(s, get_project(s, "q"))
    assert deleted == 3
    with single.session() as s:
        statuses = s.scalars(select(Suggestion.status)).all()
        assert sorted(statuses) == ["accepted", "pending"]  # q's accepted one, p's pending one
        outcomes = rules.outcomes(s, get_project(s, "q"))
    assert outcomes == {
        "job:7": {"accepted": 1, "rejected": 1, "discarded": 1},
        "labeler:embedding": {"accepted": 0, "rejected": 0, "discarded": 1},
    }
    assert _labels(single, "d1", "q") == ["a"]  # the accepted label survives


def test_user_label_of_accepted_suggestion_survives_discard(multi: Store) -> None:
    sid = _suggest(multi, "d1", "c")
    with multi.session() as s:
        rules.accept(s, get_project(s, "p"), sid)
        rules.discard_suggestions(s, get_project(s, "p"))
    with multi.session() as s:
        assert s.scalar(select(func.count()).select_from(Label)) == 1


def test_single_label_refuses_two_classes_and_replaces_on_relabel(single: Store) -> None:
    with single.session() as s:
        p = get_project(s, "p")
        a, b, _ = p.classes
        with pytest.raises(Conflict, match="single-label"):
            rules.set_labels(s, p, get_document(s, p, "d1"), [a, b])
    _label(single, "d1", "a")
    _label(single, "d1", "b")
    assert _labels(single, "d1") == ["b"]


def test_multi_label_add_and_remove(multi: Store) -> None:
    _label(multi, "d1", "a", "c")
    with multi.session() as s:
        p = get_project(s, "p")
        d = get_document(s, p, "d1")
        assert rules.set_labels(s, p, d, [p.classes[1]], replace=False) == ["a", "b", "c"]
        assert rules.remove_labels(s, d, [p.classes[0]]) == 1
    assert _labels(multi, "d1") == ["b", "c"]
    with multi.session() as s:
        p = get_project(s, "p")
        assert rules.remove_labels(s, get_document(s, p, "d1")) == 2
    assert _labels(multi, "d1") == []


def test_unique_label_per_document_and_class_is_in_the_schema(single: Store) -> None:
    from sqlalchemy.exc import IntegrityError

    _label(single, "d1", "a")
    with single.session() as s:
        p = get_project(s, "p")
        existing = s.scalars(select(Label)).one()
        with pytest.raises(IntegrityError):
            s.add(Label(document_id=existing.document_id, class_id=existing.class_id))
            s.flush()
        del p
