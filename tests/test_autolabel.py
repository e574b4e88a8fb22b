"""The suggest driver's own guards, with a labeler that misbehaves on purpose."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from labelwise.autolabel import suggest
from labelwise.domain import DocInput, LabelTask, ProjectKind
from labelwise.labelers.base import Labeler, Outcome, Prediction
from labelwise.store import Store
from labelwise.store import labels as rules
from labelwise.store.documents import get_document
from labelwise.store.models import Suggestion
from labelwise.store.projects import get_project
from tests.helpers import make_project


class Rogue(Labeler):
    """Answers a class the project does not have for every other document."""

    name = "rogue"

    @property
    def model_id(self) -> str:
        return "rogue-1"

    @property
    def prompt_version(self) -> str:
        return "v0"

    def label(self, task: LabelTask, docs: Sequence[DocInput]) -> list[Outcome]:
        return [Outcome(d.id, [Prediction("made_up" if d.id % 2 else "a", 0.9)]) for d in docs]


def test_a_class_outside_the_task_is_a_failure_never_a_suggestion(store: Store) -> None:
    make_project(store, docs={f"d{i}": f"text {i}" for i in range(1, 5)})
    report = suggest(store, "p", Rogue())
    assert (report.documents, report.suggested, report.failed) == (4, 2, 2)
    assert list(report.failures) == ["invalid_label"]
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Suggestion)) == 2


def test_classes_option_limits_what_may_be_suggested(store: Store) -> None:
    make_project(store, docs={"d2": "two"})  # Rogue answers "a" for even ids
    report = suggest(store, "p", Rogue(), classes=["b", "c"])
    assert report.failed == 1 and report.suggested == 0


def test_multi_label_asks_only_about_classes_the_user_has_not_set(store: Store) -> None:
    make_project(store, kind=ProjectKind.MULTI_LABEL, docs={"d1": "one", "d2": "two"})
    with store.session() as s:
        p = get_project(s, "p")
        rules.set_labels(s, p, get_document(s, p, "d1"), [p.classes[1]])

    seen: dict[int, frozenset[str]] = {}

    class Spy(Rogue):
        def label(self, task: LabelTask, docs: Sequence[DocInput]) -> list[Outcome]:
            seen.update({d.id: d.exclude for d in docs})
            return [Outcome(d.id) for d in docs]

    report = suggest(store, "p", Spy(), docs="all")
    assert report.documents == 2  # the labeled document is still asked about other classes
    assert sorted(seen.values(), key=len) == [frozenset(), frozenset({"b"})]
