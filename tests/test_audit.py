"""Audits: a uniform sample of the labels that came from accepted suggestions, labeled again
blind; the share that agrees, with a 95 % Wilson interval, overall and per class; the audited
documents keep the person's label. Store, CLI and API."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.cli.common import get_store
from labelwise.domain import Conflict, NotFound
from labelwise.stats import Z_TWO_SIDED_95, wilson
from labelwise.store import Store
from labelwise.store import audit as audits
from labelwise.store import labels as rules
from labelwise.store.documents import get_document
from labelwise.store.models import Label
from labelwise.store.projects import get_project
from tests.helpers import make_project


def _project(store: Store) -> None:
    """40 documents: d00-d19 accepted as a, d20-d29 accepted as b, d30-d39 labeled by hand."""
    make_project(store, docs={f"d{i:02d}": f"text number {i}" for i in range(40)})
    with store.session() as s:
        p = get_project(s, "p")
        new = [
            rules.NewSuggestion(
                get_document(s, p, f"d{i:02d}").id, "a" if i < 20 else "b", 0.9, "llm"
            )
            for i in range(30)
        ]
        rules.add_suggestions(s, p, new)
        for sug in rules.reviewable_suggestions(s, p):
            rules.accept(s, p, sug.id)
        for i in range(30, 40):
            rules.set_labels(s, p, get_document(s, p, f"d{i:02d}"), [p.classes[2]])


def test_a_blind_audit_in_the_store(store: Store) -> None:
    _project(store)
    with store.session() as s:
        p = get_project(s, "p")
        first = audits.sample(s, p, 10)
        assert len(first) == 10 and all(int(d.name[1:]) < 30 for d in first)  # accepted only
        rest = audits.sample(s, p, 50)
        assert len(rest) == 20 and not {d.name for d in first} & {d.name for d in rest}
        assert audits.sample(s, p, 5) == []  # every such document is sampled
        names = sorted(d.name for d in first + rest)
    with store.session() as s:
        p = get_project(s, "p")
        agreed = []
        for i, name in enumerate(names):  # the person disagrees on 6 of the 30
            truth = "a" if int(name[1:]) < 20 else "b"
            blind = truth if i % 5 else "c"
            agreed.append(audits.record(s, p, name, [blind]))
        assert agreed.count(False) == 6
        with pytest.raises(Conflict):
            audits.record(s, p, names[0], ["a"])
        with pytest.raises(NotFound, match="not in the audit sample"):
            audits.record(s, p, "d35", ["c"])
    with store.session() as s:
        p = get_project(s, "p")
        r = audits.report(s, p)
        doc = get_document(s, p, names[0])  # the audited document keeps the person's label
        label = s.scalar(select(Label).where(Label.document_id == doc.id))
        assert label is not None and label.suggestion_id is None
    assert (r.audited, r.correct, r.waiting) == (30, 24, 0)
    assert r.accuracy == pytest.approx(0.8)
    assert r.interval == pytest.approx(wilson(24, 30, Z_TWO_SIDED_95))
    assert r.interval[0] < 0.8 < r.interval[1]
    assert r.per_class["a"]["audited"] == 20 and r.per_class["b"]["audited"] == 10
    assert r.per_class["a"]["accuracy"] == pytest.approx(16 / 20)
    # every label from a suggestion was audited (and now is the person's): all 40 count as set
    assert (r.labels_from_suggestions, r.user_labeled) == (0, 40)
    assert r.dataset_accuracy == pytest.approx(1.0)


def test_the_audit_through_the_cli_and_the_api(cli_env: str) -> None:
    store = get_store()
    _project(store)
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "p", "--sample", "5"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("== d") == 5 and "text number" in result.stdout
    assert "llm" not in result.stdout and "0.9" not in result.stdout  # blind: no suggestion
    waiting = json.loads(runner.invoke(app, ["audit", "p", "--json"]).stdout)
    assert len(waiting) == 5
    for d in waiting:
        truth = "a" if int(d["name"][1:]) < 20 else "b"
        result = runner.invoke(app, ["audit", "p", "--label", d["name"], "--class", truth])
        assert result.exit_code == 0, result.output
    report = json.loads(runner.invoke(app, ["audit", "p", "--report", "--json"]).stdout)
    assert (report["audited"], report["correct"], report["waiting"]) == (5, 5, 0)
    assert report["labels_from_suggestions"] == 25 and report["user_labeled"] == 15
    lo, hi = report["dataset_interval"]
    assert lo < report["dataset_accuracy"] <= hi == pytest.approx(1.0)
    text = runner.invoke(app, ["audit", "p", "--report"]).stdout
    assert "5 of 5 audited labels were right" in text
    result = runner.invoke(app, ["audit", "p", "--label", "d39", "--class", "a"])
    assert result.exit_code == 3 and "not in the audit sample" in result.stderr

    from tests.test_api import serve
    from tests.test_web_api import Client

    for base in serve(store, None):
        client = Client(base)
        status, docs, _ = client("POST", "/api/projects/p/audit/sample", {"n": 3})
        assert status == 200 and len(docs) == 3 and set(docs[0]) == {"name", "text"}
        status, said, _ = client(
            "POST", f"/api/projects/p/audit/{docs[0]['name']}", {"labels": ["c"]}
        )
        assert status == 200 and said["agrees"] is False
        status, report, _ = client("GET", "/api/projects/p/audit/report")
        assert status == 200 and (report["audited"], report["correct"]) == (6, 5)
        assert report["waiting"] == 2
