"""Accept at a target precision: the interval, the threshold rule and its refusal on synthetic
scores, and the whole path through the store, the CLI and the API."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.stats import (
    Z_TWO_SIDED_95,
    calibrate,
    choose_threshold,
    expected_calibration_error,
    needed,
    wilson,
)
from labelwise.store import Store
from labelwise.store import labels as rules
from labelwise.store.documents import get_document
from labelwise.store.projects import get_project
from labelwise.store.trust import accept_at_precision, reviewed_decisions
from tests.helpers import make_project
from tests.test_browser import browser  # noqa: F401 (a fixture)


def test_wilson_interval_known_values() -> None:
    lo, hi = wilson(95, 100, Z_TWO_SIDED_95)  # the textbook 95 % Wilson interval of 95/100
    assert (lo, hi) == pytest.approx((0.8882, 0.9785), abs=2e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(10, 10)
    assert hi == pytest.approx(1.0) and 0.8 < lo < 0.9


def calibrated(n: int, seed: int, base: float = 0.0) -> list[tuple[float, bool]]:
    """Scores whose confidence is the true chance of being right (a reliable labeler)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        c = base + (1 - base) * rng.random() ** 0.5
        out.append((c, rng.random() < c))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_the_threshold_holds_the_target_on_new_data(seed: int) -> None:
    """Reliability check: the threshold chosen on 2,000 reviewed decisions keeps >= 94 % of the
    suggestions above it right on 20,000 fresh ones from the same labeler."""
    pick = choose_threshold(calibrated(2000, seed), 0.95)
    assert pick.threshold is not None and pick.interval[0] >= 0.95
    fresh = [right for c, right in calibrated(20_000, 1000 + seed) if c >= pick.threshold]
    assert len(fresh) > 500 and sum(fresh) / len(fresh) >= 0.94


@pytest.mark.parametrize("seed", range(8))
def test_weighed_by_the_pending_a_random_sample_holds_the_target(seed: int) -> None:
    """With the pending suggestions to weigh them, 2,000 reviewed decisions drawn at random from
    the same labeler choose a threshold that keeps >= 94 % of the pending above it right."""
    pending = calibrated(20_000, 1000 + seed)
    pick = choose_threshold(calibrated(2000, seed), 0.95, pending=[c for c, _ in pending])
    assert pick.threshold is not None and pick.interval[0] >= 0.95
    accepted = [right for c, right in pending if c >= pick.threshold]
    assert len(accepted) > 500 and sum(accepted) / len(accepted) >= 0.94


def test_the_most_confident_alone_cannot_vouch_for_the_rest() -> None:
    """A reviewer who saw only suggestions above 0.97 (all right) says nothing about those
    between 0.7 and 0.97: unweighted, a threshold at 0.97 looks safe and every suggestion above
    it is accepted; weighed by the pending, nothing below the reviewed range is."""
    top = [(0.97 + 0.03 * i / 200, True) for i in range(200)]
    pending = [0.7 + 0.3 * i / 1000 for i in range(1000)]  # mostly below the reviewed range
    assert choose_threshold(top, 0.95).threshold is not None
    weighed = choose_threshold(top, 0.95, pending=pending)
    # all it can accept is what lies among the reviewed confidences
    assert weighed.threshold is not None and weighed.threshold >= 0.97
    below = choose_threshold([(0.8, i % 5 != 0) for i in range(100)] + top, 0.95, pending=pending)
    assert below.threshold is not None and below.threshold > 0.8  # 80 % right at 0.8: refused


def test_decisions_of_one_confidence_vouch_together() -> None:
    """40 decisions at one confidence, 30 right, the wrong ones last: cut into strata of 10,
    the pending suggestions of that confidence would all weigh on the first ten (all right)
    and a 75 % precision would pass for 100 %."""
    tied = [(1.0, True)] * 30 + [(1.0, False)] * 10
    pick = choose_threshold(tied, 0.85, pending=[1.0] * 500)
    assert (pick.threshold, pick.precision, pick.reviewed, pick.more_needed) == (
        None,
        0.75,
        40,
        None,
    )
    lower = [(0.9 - i / 1000, True) for i in range(40)]  # below it, all right
    pick = choose_threshold(tied + lower, 0.7, pending=[1.0] * 500 + [0.88] * 100)
    assert pick.threshold is not None and abs(pick.precision - (500 * 0.75 + 100) / 600) < 1e-9


def test_too_few_decisions_accept_nothing_and_say_how_many_more() -> None:
    few = [(0.99, True)] * 6
    pick = choose_threshold(few, 0.95)
    assert pick.threshold is None and pick.more_needed is not None and pick.more_needed > 0
    assert choose_threshold([*few, *[(0.99, True)] * pick.more_needed], 0.95).threshold == 0.99
    bad = [(0.99, i % 3 != 0) for i in range(300)]  # 67 % right: more reviews cannot help
    refused = choose_threshold(bad, 0.95)
    assert refused.threshold is None and refused.more_needed is None
    assert needed(0.9, 0.95) is None and needed(1.0, 0.95) == 32


@pytest.fixture
def reviewed(store: Store) -> Store:
    """120 documents with embedding suggestions: 60 reviewed (decided), 60 pending. The
    labeler is right above 0.8 and wrong below."""
    docs = {f"d{i:03d}": f"text {i}" for i in range(120)}
    make_project(store, classes=("a", "b"), docs=docs)
    with store.session() as s:
        p = get_project(s, "p")
        new = []
        for i in range(120):
            conf = 0.5 + 0.5 * (i % 60) / 60
            new.append(
                rules.NewSuggestion(get_document(s, p, f"d{i:03d}").id, "a", conf, "embedding")
            )
        stored = rules.add_suggestions(s, p, new)
        for sug in stored[:60]:
            if sug.confidence >= 0.8:
                rules.accept(s, p, sug.id)
            else:
                rules.reject(s, p, sug.id)
    return store


def test_accept_at_precision_in_the_store(reviewed: Store) -> None:
    with reviewed.session() as s:
        p = get_project(s, "p")
        decisions = reviewed_decisions(s, p)["embedding"]
        assert len(decisions) == 60 and sum(r for _, r in decisions) == 24
        result = accept_at_precision(s, p, 0.9)
        assert result.threshold == pytest.approx(0.8) and result.estimated_precision == 1.0
        assert result.accepted == 24  # the pending ones at or above 0.8
        assert result.interval[0] >= 0.9
    with reviewed.session() as s:
        again = accept_at_precision(s, get_project(s, "p"), 0.99)
        assert again.accepted == 0 and again.threshold is None
        assert again.more_needed and "review about" in again.message


def test_accept_above_precision_cli_and_api(reviewed: Store, cli_env: str) -> None:
    """`accept-above PROJECT --precision 0.95 --json` and the API route give the same shape;
    the old `accept-above PROJECT 0.9` stays."""
    runner = CliRunner()
    result = runner.invoke(app, ["accept-above", "p", "--precision", "0.95", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"accepted", "threshold", "estimated_precision", "interval"} <= set(data)
    assert data["accepted"] == 0 and data["more_needed"] > 0  # 24 right answers are too few
    result = runner.invoke(app, ["accept-above", "p", "0.95", "--json"])
    assert result.exit_code == 1 and "accept 6 suggestions at confidence >= 0.95?" in (
        result.stderr
    )  # it asks first; nobody at a terminal to answer: nothing accepted
    result = runner.invoke(app, ["accept-above", "p", "0.95", "--json", "--yes"])
    assert json.loads(result.stdout)["accepted"] == 6  # the plain threshold still works


def test_train_asks_before_deleting_unreviewed_suggestions(reviewed: Store, cli_env: str) -> None:
    """60 suggestions were never reviewed: training says so (and their cost) and asks."""
    runner = CliRunner()
    with reviewed.session() as s:
        p = get_project(s, "p")
        left = rules.unaccepted(s, p)
        assert (left["pending"], left["rejected"]) == (60, 36)
        for i in range(10):  # user labels of class b too, so a model can be trained
            doc = get_document(s, p, f"d{i:03d}")
            rules.set_labels(s, p, doc, [c for c in p.classes if c.name == "b"])
    result = runner.invoke(app, ["train", "p", "--model", "m"])
    assert result.exit_code == 1 and "training deletes 60 suggestions nobody reviewed" in (
        result.stderr
    )
    with reviewed.session() as s:
        assert rules.unaccepted(s, get_project(s, "p"))["pending"] == 60  # nothing deleted
    result = runner.invoke(app, ["train", "p", "--model", "m", "--yes"])
    assert result.exit_code == 0, result.output
    with reviewed.session() as s:
        assert rules.unaccepted(s, get_project(s, "p"))["pending"] == 0


def test_accept_at_precision_over_http(reviewed: Store) -> None:
    from tests.test_api import serve
    from tests.test_web_api import Client

    for base in serve(reviewed, None):
        client = Client(base)
        status, rows, _ = client("GET", "/api/projects/p/suggestions?labeler=openai")
        assert status == 200 and rows == []  # the labeler filter
        status, rows, _ = client("GET", "/api/projects/p/suggestions?labeler=embedding&limit=500")
        assert len(rows) == 60 and {r["labeler"] for r in rows} == {"embedding"}
        status, page, _ = client("GET", "/projects/p/review?labeler=embedding&job=")
        assert status == 200 and b"all labelers" in page and b"embedding" in page
        status, page, _ = client("GET", "/projects/p/review?job=x")
        assert status == 422  # the shared filter's limits hold on the pages too
        status, body, _ = client(
            "POST",
            "/api/projects/p/suggestions/accept-at-precision",
            {"precision": 0.9, "dry_run": True},
        )
        assert status == 200 and body["threshold"] == pytest.approx(0.8)
        assert body["accepted"] == 24 and body["message"].startswith("would accept")
        status, body, _ = client(
            "POST", "/api/projects/p/suggestions/accept-at-precision", {"precision": 0.9}
        )
        assert status == 200 and body["accepted"] == 24 and len(body["interval"]) == 2


# -- calibration ------------------------------------------------------------------------------


def overconfident(n: int, seed: int) -> list[tuple[float, bool]]:
    """A labeler whose confidence overstates it: right with chance confidence squared."""
    rng = random.Random(seed)
    return [(c, rng.random() < c * c) for c in (rng.random() for _ in range(n))]


@pytest.mark.parametrize("seed", range(4))
def test_calibration_is_reliable_on_new_scores(seed: int) -> None:
    fit = calibrate(overconfident(1500, seed))
    assert fit.fitted and fit.error is not None and fit.error < 0.05
    fresh = overconfident(3000, seed + 100)
    raw = expected_calibration_error([c for c, _ in fresh], [r for _, r in fresh])
    est = [fit.precision(c) or 0.0 for c, _ in fresh]
    calibrated_error = expected_calibration_error(est, [r for _, r in fresh])
    assert raw > 0.12 and calibrated_error < 0.05  # the raw score was off by ~0.17
    for c in (0.5, 0.7, 0.9):  # the true chance is c squared
        assert fit.precision(c) == pytest.approx(c * c, abs=0.08)


def test_calibration_is_cross_fitted_and_says_when_too_few() -> None:
    rng = random.Random(5)
    noise = [(rng.random(), rng.random() < 0.5) for _ in range(200)]  # the score means nothing
    fit = calibrate(noise)
    # fitted on every decision, isotonic regression follows the noise; scored out of fold, no
    # decision scores itself and the error shows what the fit is worth on new ones
    import numpy as np

    in_sample = expected_calibration_error(
        [fit.precision(c) or 0.0 for c, _ in noise], [r for _, r in noise]
    )
    assert fit.error is not None and fit.error > in_sample + 0.03
    assert np.isclose(in_sample, 0.0, atol=0.05)
    few = calibrate(noise[:20])
    assert not few.fitted and few.precision(0.9) is None
    assert "20 reviewed decisions" in few.reason and "too few" in few.reason
    one_sided = calibrate([(0.9, True)] * 40)
    assert not one_sided.fitted and "0 wrong" in one_sided.reason


def test_estimated_precision_in_the_cli_and_the_api(reviewed: Store, cli_env: str) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["calibration", "p", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert (row["labeler"], row["reviewed"], row["right"], row["fitted"]) == (
        "embedding",
        60,
        24,
        True,
    )
    assert row["precision_at"]["0.9"] > 0.9 > row["precision_at"]["0.5"]
    listed = json.loads(runner.invoke(app, ["suggestions", "p", "--json", "--limit", "200"]).stdout)
    assert listed and all(0 < r["estimated_precision"] <= 1 for r in listed)
    top = max(listed, key=lambda r: r["confidence"])
    low = min(listed, key=lambda r: r["confidence"])
    assert top["estimated_precision"] > low["estimated_precision"]
    table = runner.invoke(app, ["suggestions", "p", "--limit", "3"]).stdout
    assert "est. right" in table and "%" in table
    from tests.test_api import serve
    from tests.test_web_api import Client

    for base in serve(reviewed, None):
        client = Client(base)
        status, rows, _ = client("GET", "/api/projects/p/suggestions/calibration")
        assert status == 200 and rows[0]["fitted"] is True
        status, items, _ = client("GET", "/api/projects/p/suggestions?limit=3")
        assert all(i["estimated_precision"] is not None for i in items)
        status, page, _ = client("GET", "/projects/p/review")
        assert b"Est. right" in page and b" %</td>" in page


def test_too_few_decisions_say_so_instead_of_a_number(cli_env: str) -> None:
    from labelwise.cli.common import get_store

    store = get_store()
    make_project(store, docs={f"d{i}": f"text {i}" for i in range(5)})
    with store.session() as s:
        p = get_project(s, "p")
        rules.add_suggestions(
            s,
            p,
            [
                rules.NewSuggestion(get_document(s, p, f"d{i}").id, "a", 0.8, "llm")
                for i in range(5)
            ],
        )
        rules.accept(s, p, rules.reviewable_suggestions(s, p)[0].id)
    runner = CliRunner()
    out = runner.invoke(app, ["suggestions", "p"]).stdout
    assert "?" in out and "est. right is ? for llm: 1 reviewed decisions" in out
    rows = json.loads(runner.invoke(app, ["suggestions", "p", "--json"]).stdout)
    assert all(r["estimated_precision"] is None for r in rows)


def test_the_most_informative_come_first(cli_env: str) -> None:
    """Disagreeing labelers first, then the suggestion nearest 0.5; the CLI, the API and bulk
    review agree."""
    from labelwise.cli.common import get_store

    store = get_store()
    make_project(store, docs={f"d{i}": f"text {i}" for i in range(5)})
    with store.session() as s:
        p = get_project(s, "p")
        doc = {f"d{i}": get_document(s, p, f"d{i}").id for i in range(5)}
        rules.add_suggestions(
            s,
            p,
            [
                rules.NewSuggestion(doc["d0"], "a", 0.95, "llm"),  # sure
                rules.NewSuggestion(doc["d1"], "a", 0.55, "llm"),  # uncertain
                rules.NewSuggestion(doc["d2"], "a", 0.9, "llm"),  # two labelers disagree
                rules.NewSuggestion(doc["d2"], "b", 0.8, "embedding"),
                rules.NewSuggestion(doc["d3"], "b", 0.7, "embedding"),
            ],
        )
    runner = CliRunner()
    page = json.loads(runner.invoke(app, ["docs", "p", "--sort", "informative", "--json"]).stdout)
    assert [d["name"] for d in page["documents"]] == ["d2", "d1", "d3", "d0"]  # d4: nothing
    second = json.loads(
        runner.invoke(
            app, ["docs", "p", "--sort", "informative", "--limit", "2", "--offset", "2", "--json"]
        ).stdout
    )
    assert [d["name"] for d in second["documents"]] == ["d3", "d0"]
    rows = json.loads(
        runner.invoke(app, ["suggestions", "p", "--sort", "informative", "--json"]).stdout
    )
    assert [r["document"] for r in rows][:3] == ["d2", "d2", "d1"]
    bad = runner.invoke(app, ["docs", "p", "--sort", "random"])
    assert bad.exit_code == 1 and "--sort 'random'" in bad.stderr
    from fastapi.testclient import TestClient

    from labelwise.web.app import create_app

    client = TestClient(create_app(store), base_url="http://127.0.0.1")
    html = client.get("/projects/p/documents", params={"sort": "informative"}).text
    found = [html.index(f">{n}</a>") for n in ("d2", "d1", "d3", "d0")]
    assert found == sorted(found) and ">d4</a>" not in html  # the page lists them in that order
    api = client.get("/api/projects/p/documents", params={"sort": "informative", "limit": 2})
    assert [d["name"] for d in api.json()["documents"]] == ["d2", "d1"]


def test_the_bulk_review_button_accepts_at_a_target_precision(
    reviewed: Store,
    browser: Any,  # noqa: F811 (the fixture of tests/test_browser.py)
) -> None:
    from tests.test_api import serve

    asked: list[str] = []
    for base in serve(reviewed, None):
        page = browser.new_page()
        page.goto(f"{base}/projects/p/review?labeler=embedding")
        page.fill("#precision", "0.99")  # more than 24 right answers can support
        page.click("#accept-at-precision")
        page.wait_for_selector("#flash.error")
        assert "accepted nothing" in page.inner_text("#flash")
        page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
        page.fill("#precision", "0.9")
        page.click("#accept-at-precision")
        page.wait_for_function(
            "document.querySelector('#flash').textContent.startsWith('accepted 24')"
        )
    assert asked and asked[0].startswith("would accept 24 suggestions of 'embedding'")
    with reviewed.session() as s:
        p = get_project(s, "p")
        assert rules.unaccepted(s, p)["pending"] == 60 - 24


def two_labelers(store: Store, n: int, reviewed: int, seed: int = 3) -> dict[str, str]:
    """``n`` documents, each with a suggestion from the embedded labeler and one from the LLM;
    each is right 70 % of the time whatever its confidence (uninformative), so alone neither is
    trusted beyond 70 %, but when both name the same class they are nearly always right. The
    first ``reviewed`` documents get their gold class as the user's label."""
    rng = random.Random(seed)
    classes = ("a", "b", "c", "d")
    docs = {f"d{i:03d}": f"text {i}" for i in range(n)}
    make_project(store, classes=classes, docs=docs)
    gold = {name: rng.choice(classes) for name in docs}
    with store.session() as s:
        p = get_project(s, "p")
        new = []
        for name in docs:
            doc_id = get_document(s, p, name).id
            for labeler in ("embedding", "openai"):
                right = rng.random() < 0.7
                cls = gold[name] if right else rng.choice([c for c in classes if c != gold[name]])
                new.append(rules.NewSuggestion(doc_id, cls, rng.uniform(0.5, 0.9), labeler))
        rules.add_suggestions(s, p, new)
        by_name = {c.name: c for c in p.classes}
        for name in list(docs)[:reviewed]:
            rules.set_labels(s, p, get_document(s, p, name), [by_name[gold[name]]])
    return gold


def test_agreement_learns_that_labelers_who_agree_are_right(store: Store) -> None:
    from labelwise.store.trust import agreement, agreement_view

    gold = two_labelers(store, 400, reviewed=200)
    with store.session() as s:
        p = get_project(s, "p")
        model = agreement(s, p)
        assert model.fitted and model.labelers == ("embedding", "openai")
        pending = [get_document(s, p, f"d{i:03d}") for i in range(200, 400)]
        view = agreement_view(s, p, [d.id for d in pending])
        names = {c.id: c.name for c in p.classes}
    agreed, alone = [], []
    for doc in pending:
        for (doc_id, class_id), (who, score) in view.items():
            if doc_id != doc.id:
                continue
            assert score is not None
            right = names[class_id] == gold[doc.name]
            (agreed if len(who) == 2 else alone).append((score, right))
    assert agreed and alone
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    # held-out documents: the combined score tells agreement from dissent, and is calibrated
    assert mean([p for p, _ in agreed]) > 0.8 > 0.6 > mean([p for p, _ in alone])
    for group in (agreed, alone):
        predicted, actual = mean([p for p, _ in group]), mean([float(r) for _, r in group])
        assert abs(predicted - actual) < 0.1, (predicted, actual)


def test_agreement_says_when_too_few_are_reviewed(store: Store, cli_env: str) -> None:
    from labelwise.store.trust import agreement

    two_labelers(store, 40, reviewed=5)
    with store.session() as s:
        model = agreement(s, get_project(s, "p"))
    assert not model.fitted and "too few" in model.reason
    rows = json.loads(CliRunner().invoke(app, ["suggestions", "p", "--json"]).stdout)
    assert rows and all(r["combined_precision"] is None for r in rows)
    assert any(r["agreed_by"] == ["embedding", "openai"] for r in rows)
    table = CliRunner().invoke(app, ["suggestions", "p"], env={"COLUMNS": "160"}).stdout
    assert "agreed by" in table and "embedding, openai" in table


def test_accepting_above_a_threshold_does_not_teach_the_calibration(reviewed: Store) -> None:
    """Only a person's decisions count: what accept-above or accept-at-precision accepted was
    judged by nobody, and counting it as right would make the calibration believe itself."""
    with reviewed.session() as s:
        p = get_project(s, "p")
        before = reviewed_decisions(s, p)["embedding"]
        accepted = rules.accept_above(s, p, 0.9)
        assert accepted > 0
    with reviewed.session() as s:
        p = get_project(s, "p")
        assert reviewed_decisions(s, p)["embedding"] == before
        one = rules.reviewable_suggestions(s, p)[0]
        rules.accept(s, p, one.id)  # a person's acceptance does count
        assert len(reviewed_decisions(s, p)["embedding"]) == len(before) + 1


def test_training_keeps_what_the_decisions_taught(reviewed: Store, cli_env: str) -> None:
    """Training deletes the rejected and pending suggestions (Azure's rule), but what people's
    decisions said of them stays: the calibration does not reset, and does not see only the
    accepted (all right) ones after a training."""
    from labelwise.store.trust import calibration_report

    with reviewed.session() as s:
        p = get_project(s, "p")
        for i in range(60, 70):  # user labels on pending documents: 10 "shadowed" decisions
            doc = get_document(s, p, f"d{i:03d}")
            rules.set_labels(s, p, doc, [c for c in p.classes if c.name == "b"])
        before = sorted(reviewed_decisions(s, p)["embedding"])
        report = calibration_report(s, p)
    assert len(before) == 70 and sum(r for _, r in before) == 24  # 24 accepted, 46 wrong
    result = CliRunner().invoke(app, ["train", "p", "--model", "m", "--yes"])
    assert result.exit_code == 0, result.output
    with reviewed.session() as s:
        p = get_project(s, "p")
        assert rules.unaccepted(s, p) == {**rules.unaccepted(s, p), "pending": 0, "rejected": 0}
        assert sorted(reviewed_decisions(s, p)["embedding"]) == before
        assert calibration_report(s, p) == report


def test_a_new_generation_of_suggestions_needs_decisions_of_its_own() -> None:
    """Job 1's suggestions were reviewed and are right above 0.7. Job 2 (the labeler run again
    after learning more) says 0.9 to 1.0 for everything: job 1's decisions cannot vouch for it."""
    from labelwise.stats import choose_threshold_by_generation

    rng = random.Random(5)
    first = [(c, c > 0.7) for c in (rng.uniform(0.5, 1) for _ in range(200))]
    pending_first = [rng.uniform(0.5, 1) for _ in range(300)]
    pending_second = [rng.uniform(0.9, 1) for _ in range(300)]
    alone = choose_threshold_by_generation({1: first}, 0.95, {1: pending_first})
    assert alone.threshold is not None and alone.threshold <= 0.75
    both = choose_threshold_by_generation({1: first}, 0.95, {1: pending_first, 2: pending_second})
    assert both.threshold is None  # no threshold below 1.0 leaves job 2 out
    bad = [(c, rng.random() < 0.6) for c in (rng.uniform(0.9, 1) for _ in range(60))]
    assert (
        choose_threshold_by_generation(
            {1: first, 2: bad}, 0.95, {1: pending_first, 2: pending_second}
        ).threshold
        is None
    )
    good = [(c, True) for c in (rng.uniform(0.9, 1) for _ in range(60))]
    pick = choose_threshold_by_generation(
        {1: first, 2: good}, 0.95, {1: pending_first, 2: pending_second}
    )
    assert pick.threshold is not None and pick.threshold <= 0.9


def test_accept_at_precision_keeps_each_job_to_its_own_decisions(store: Store) -> None:
    docs = {f"d{i:03d}": f"text {i}" for i in range(200)}
    make_project(store, classes=("a", "b"), docs=docs)
    with store.session() as s:
        p = get_project(s, "p")
        ids = [get_document(s, p, f"d{i:03d}").id for i in range(200)]
        first = rules.add_suggestions(
            s, p, [rules.NewSuggestion(d, "a", 0.9, "embedding", job_id=1) for d in ids[:100]]
        )
        for sug in first[:40]:  # job 1: 40 reviewed, all right
            rules.accept(s, p, sug.id)
        rules.add_suggestions(
            s, p, [rules.NewSuggestion(d, "a", 0.95, "embedding", job_id=2) for d in ids[100:]]
        )
    with store.session() as s:
        result = accept_at_precision(s, get_project(s, "p"), 0.9, dry_run=True)
        assert result.accepted == 0 and "2 jobs" in result.message, result.message
    with store.session() as s:
        p = get_project(s, "p")
        second = [x for x in rules.reviewable_suggestions(s, p) if x.job_id == 2]
        for sug in second[:40]:
            rules.accept(s, p, sug.id)
    with store.session() as s:
        result = accept_at_precision(s, get_project(s, "p"), 0.9)
        assert result.accepted == 60 + 60, result.message  # the rest of both jobs
