"""The suggest driver's own guards, with a labeler that misbehaves on purpose."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import func, select

from labelwise.autolabel import suggest
from labelwise.costs import Budget, BudgetReached
from labelwise.domain import ClassSpec, DocInput, LabelTask, ProjectKind
from labelwise.labelers.base import Labeler, Outcome, Prediction
from labelwise.labelers.loop import LabelingLoop, Stopped
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


# --- the one labeling loop (suggest and the job runner both drive it) ---------------------


class Counting(Rogue):
    """Answers "a" for every document; spends a cent a call against its budget; the call
    whose first document is ``boom`` raises (a labeler that cannot work)."""

    def __init__(self, boom: int | None = None) -> None:
        super().__init__()
        self.calls: list[list[int]] = []
        self.boom = boom

    def label(self, task: LabelTask, docs: Sequence[DocInput]) -> list[Outcome]:
        if self.budget is not None and not self.budget.reserve(0.01):
            raise BudgetReached
        if self.budget is not None:
            self.budget.settle(0.01, 0.01)
        self.calls.append([d.id for d in docs])
        if docs[0].id == self.boom:
            raise RuntimeError("the backend broke")
        return [Outcome(d.id, [Prediction("a", 0.9)]) for d in docs]


TASK = LabelTask(ProjectKind.SINGLE_LABEL, (ClassSpec("a"), ClassSpec("b")))


def one_at_a_time(labeler: Labeler) -> LabelingLoop:
    """The loop with one document a call and one call at a time (waves of one)."""
    loop = LabelingLoop(labeler, TASK)
    loop.chunk, loop.in_flight = 1, 1
    return loop


def feeder(n: int) -> Callable[[int], list[DocInput]]:
    todo = list(range(1, n + 1))

    def take(k: int) -> list[DocInput]:
        chunk, todo[:] = todo[:k], todo[k:]
        return [DocInput(i, f"text {i}") for i in chunk]

    return take


def test_the_loop_labels_everything_a_wave_at_a_time() -> None:
    labeler = Counting()
    waves: list[list[int]] = []
    stopped = one_at_a_time(labeler).run(
        feeder(5), lambda answered: waves.extend(w.ids for w in answered)
    )
    assert stopped == Stopped.DONE
    assert waves == [[1], [2], [3], [4], [5]] == labeler.calls


def test_the_loop_stops_when_asked_and_at_the_budget() -> None:
    asked = iter([True, True, False])
    labeler = Counting()
    stopped = one_at_a_time(labeler).run(
        feeder(9), lambda answered: None, keep_going=lambda: next(asked)
    )
    assert stopped == Stopped.ASKED and labeler.calls == [[1], [2]]

    labeler = Counting()
    labeler.budget = Budget(0.035)  # three calls fit, the fourth could pass it
    stored: list[int] = []
    stopped = one_at_a_time(labeler).run(
        feeder(9), lambda answered: stored.extend(i for w in answered for i in w.ids)
    )
    assert stopped == Stopped.BUDGET and stored == [1, 2, 3]


def test_a_labeler_that_breaks_is_raised_after_the_wave_is_stored() -> None:
    labeler = Counting(boom=2)
    stored: list[int] = []
    with pytest.raises(RuntimeError, match="the backend broke"):
        one_at_a_time(labeler).run(
            feeder(5), lambda answered: stored.extend(i for w in answered for i in w.ids)
        )
    assert stored == [1] and labeler.calls == [[1], [2]]
