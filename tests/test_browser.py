"""The review flow in a real browser: Playwright driving Debian's headless Chromium against
the server on a loopback port, over a real database.

Set LABELWISE_SCREENSHOTS=docs/screenshots to refresh the README's screenshots."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from labelwise.demo import create_demo_project
from labelwise.domain import DocumentRecord
from labelwise.store import Store
from labelwise.store import labels as rules
from labelwise.store.documents import get_document, write_batch
from labelwise.store.models import Document, Job, Label, Suggestion
from labelwise.store.projects import get_project
from tests.test_api import serve

CHROMIUM = "/usr/bin/chromium"
PROJECT = "demo-banking77"
USER_BLUE = "rgb(29, 78, 216)"
SUGGESTED_PURPLE = "rgb(126, 34, 206)"
XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> my card'

playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("LABELWISE_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def site(store: Store) -> Iterator[str]:
    create_demo_project(store, PROJECT)
    with store.session() as s:
        p = get_project(s, PROJECT)
        ids = {c.name: c.id for c in p.classes}
        write_batch(s, p, [DocumentRecord("zz-untrusted", XSS, where="test")], ids)
    yield from serve(store, None)


def shot(page: Any, name: str) -> None:
    folder = os.environ.get("LABELWISE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def background(page: Any, selector: str) -> str:
    color: str = page.locator(selector).first.evaluate("el => getComputedStyle(el).backgroundColor")
    return color


def test_review_flow_in_a_browser(site: str, store: Store, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(site + "/")
    shot(page, "projects")
    page.click(f"text={PROJECT}")
    page.wait_for_selector("#class-chart")

    # the wizard: embedded labeler, all classes, Unlabeled preselected -> the jobs page
    page.goto(f"{site}/projects/{PROJECT}/autolabel")
    assert page.is_checked('input[name="labeler"][value="embedding"]')
    assert page.is_checked('input[name="docs"][value="unlabeled"]')
    boxes = page.locator('input[name="classes"]')
    assert boxes.count() > 2 and all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    shot(page, "autolabel")
    page.click("#start-job")
    page.wait_for_url(re.compile(r".*/jobs$"))
    page.wait_for_selector("td.status-succeeded", timeout=120_000)
    assert "succeeded" in page.inner_text("#jobs")
    shot(page, "jobs")
    # again, refreshed: the same documents labeled anew, their pending suggestions replaced
    page.goto(f"{site}/projects/{PROJECT}/autolabel")
    page.check('input[name="refresh"]')
    page.click("#start-job")
    page.wait_for_url(re.compile(r".*/jobs$"))
    page.wait_for_function(
        "document.querySelectorAll('#jobs td.status-succeeded').length === 2", timeout=120_000
    )
    with store.session() as s:
        first_job, again = s.scalars(select(Job).order_by(Job.id)).all()
        assert again.options == {"refresh": True} and again.total == first_job.total > 0
        assert {
            j for (j,) in s.execute(select(Suggestion.job_id).where(Suggestion.status == "pending"))
        } == {again.id}
    page.goto(f"{site}/projects/{PROJECT}")  # the chart: user labels and suggestions per class
    bars = page.locator("#class-chart .bar.suggested")
    assert max(bars.nth(i).bounding_box()["width"] for i in range(bars.count())) > 20  # type: ignore[index]
    assert background(page, "#class-chart .bar.user") == USER_BLUE
    shot(page, "overview")

    # Data labeling, Auto labeled filter
    page.goto(f"{site}/projects/{PROJECT}/documents")
    page.click("text=Auto labeled")
    page.wait_for_url(re.compile(r".*filter=auto-labeled.*"))
    assert page.locator("#documents .label.suggested").count() > 0
    assert background(page, "#documents .label.suggested") == SUGGESTED_PURPLE
    shot(page, "documents")

    # review: one key or click per decision, saved at once, no page load
    page.locator("#documents a.doc-link").nth(0).click()
    page.wait_for_selector("#suggestions .suggestion")
    page.wait_for_function("document.querySelector('#counter').textContent.includes('left in')")
    loads: list[int] = []
    page.on("load", lambda _p: loads.append(1))
    first = page.inner_text("#doc-name")
    suggestion = page.locator("#suggestions .suggestion").first
    accepted_class = suggestion.get_attribute("data-class")
    accepted_id = int(suggestion.get_attribute("data-id") or 0)
    assert background(page, "#suggestions .label.suggested") == SUGGESTED_PURPLE
    assert "suggested" in suggestion.locator(".label").inner_text()  # not colour only
    shot(page, "document")
    suggestion.locator("button.accept").click()  # one click: accepted, saved, next document
    page.wait_for_function(f"document.querySelector('#doc-name').textContent !== {first!r}")
    assert f"/documents/{first}" not in page.url

    # the next document: reject with the keyboard (r), then undo it (u)
    second = page.inner_text("#doc-name")
    rejected_id = int(page.locator("#suggestions .suggestion").first.get_attribute("data-id") or 0)
    page.keyboard.press("r")
    page.wait_for_function(f"document.querySelector('#doc-name').textContent !== {second!r}")
    with store.session() as s:
        rejected = s.get(Suggestion, rejected_id)
        assert rejected is not None and rejected.status == "rejected"
    page.keyboard.press("u")
    page.wait_for_function(f"document.querySelector('#doc-name').textContent === {second!r}")
    page.wait_for_selector(f'#suggestions .suggestion[data-id="{rejected_id}"]')
    page.go_back()  # history follows the documents
    page.wait_for_function(f"document.querySelector('#doc-name').textContent !== {second!r}")
    assert loads == []  # no full page load for any of it

    with store.session() as s:
        p = get_project(s, PROJECT)
        doc = get_document(s, p, first)
        label = s.scalar(select(Label).where(Label.document_id == doc.id))
        assert label is not None and label.suggestion_id == accepted_id
        assert s.get(Suggestion, accepted_id).status == "accepted"  # type: ignore[union-attr]
        assert s.get(Suggestion, rejected_id).status == "pending"  # type: ignore[union-attr]
    assert accepted_class

    # untrusted text renders as text
    page.goto(f"{site}/projects/{PROJECT}/documents/zz-untrusted")
    assert page.inner_text("#doc-text") == XSS
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#doc-text script, #doc-text img").count() == 0

    # bulk review and models pages render
    page.goto(f"{site}/projects/{PROJECT}/review")
    page.wait_for_selector("#suggestion-table")
    shot(page, "review")
    page.goto(f"{site}/projects/{PROJECT}/models")
    shot(page, "models")

    # the API's documentation page works offline (Swagger UI is served from the package)
    page.goto(f"{site}/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert page.locator(".swagger-ui .opblock").count() >= 25
    assert not errors, errors


def test_pages_train_and_show_an_evaluation(site: str, store: Store, browser: Any) -> None:
    """Train from the Models page, open the evaluation, deploy and try the model."""
    page, errors = open_page(browser, f"{site}/projects/{PROJECT}/models")
    page.fill('#train input[name="model"]', "m1")
    page.click("#train button[type=submit]")
    deadline = time.monotonic() + 120
    while page.locator('#models a:has-text("m1")').count() == 0:
        assert time.monotonic() < deadline, "training did not finish"
        page.wait_for_timeout(500)
        if page.locator("#flash.error").count():
            raise AssertionError(page.inner_text("#flash"))
    page.click('#models a:has-text("m1")')
    page.wait_for_selector("#per-class")
    assert page.locator("#per-class tbody tr").count() > 3
    img = page.locator("img#confusion")
    page.wait_for_function("document.querySelector('img#confusion').naturalWidth > 0")
    assert img.evaluate("el => el.naturalWidth") > 100
    shot(page, "evaluation")
    page.goto(f"{site}/projects/{PROJECT}/models")
    page.click("button.deploy")
    page.wait_for_selector("#try")
    page.fill("#try textarea", "I lost my card, please block it")
    page.click("#try button[type=submit]")
    page.wait_for_selector("#prediction .label")
    assert page.inner_text("#prediction").strip()
    shot(page, "try-it")
    assert not errors, errors


def test_new_project_import_llm_wizard_and_bulk_review(
    site: str, store: Store, browser: Any, tmp_path: Path
) -> None:
    """Create a multi-label project on the Projects page, import a CSV on its overview, add an
    LLM connection in the wizard (the loopback chat-completions server), estimate, start the
    job with a budget, then reject and accept suggestions in bulk."""
    from tests.llm_server import FakeLLM, Server

    texts = {
        "t1": ("The parcel never came and I was billed twice", ["delivery", "billing"]),
        "t2": ("Refund the duplicate charge please", ["billing"]),
        "t3": ("Where is my package?", ["delivery"]),
        "t4": ("My invoice shows the wrong amount", ["billing"]),
    }
    csv = tmp_path / "mail.csv"
    csv.write_text(
        "name,text,labels\nseed-b,I need a refund,billing\nseed-d,Courier lost it,delivery\n"
        + "".join(f'{n},"{t}",\n' for n, (t, _) in texts.items()),
        encoding="utf-8",
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site + "/")
    page.fill('#new-project input[name="name"]', "mail")
    page.check('#new-project input[value="multi_label"]')
    page.click("#new-project button[type=submit]")
    page.wait_for_url(re.compile(r".*/projects/mail$"))
    assert "sentence encoder minilm-fast" in page.inner_text("#encoder")
    page.set_input_files("#import input[type=file]", str(csv))
    page.check('#import input[name="create_classes"]')
    page.click("#import button[type=submit]")
    page.wait_for_selector("#import-report:not([hidden])")
    assert "mail.csv: 6 new, 0 replaced" in page.inner_text("#import-report")
    page.wait_for_function(  # the counters follow without a reload
        "document.querySelector('#count-documents').textContent === '6'"
    )
    page.reload()
    assert page.inner_text("#count-documents") == "6"

    with Server(FakeLLM(gold={t: labels for t, labels in texts.values()})) as llm:
        page.goto(f"{site}/projects/mail/autolabel")
        page.check('input[name="labeler"][value="openai"]')
        page.fill('input[name="c_name"]', "loopback")
        page.select_option('select[name="c_provider"]', "openai")
        page.fill('input[name="c_endpoint"]', llm.url + "/v1")
        page.fill('input[name="c_model"]', "gpt-4o-mini")
        page.fill('input[name="c_api_key_env"]', "LABELWISE_TEST_NO_API_KEY")
        page.click("#add-connection")
        page.wait_for_selector('#llm option[value="loopback"]', state="attached")
        page.click("#test-connection")  # one tiny request: latency, model, schema, logprobs
        page.wait_for_function(
            "document.querySelector('#connection-test').textContent.includes('answered in')"
        )
        said = page.inner_text("#connection-test")
        assert "by gpt-4o-mini" in said and "JSON schema yes, logprobs yes" in said, said
        llm.fake.requests.clear()
        page.click("#estimate-button")
        page.wait_for_function(
            "document.querySelector('#estimate').textContent.includes('4 documents')"
        )
        assert "prompt tokens" in page.inner_text("#estimate")
        page.fill('input[name="budget_usd"]', "1")
        page.click("#start-job")
        page.wait_for_url(re.compile(r".*/jobs$"))
        page.wait_for_selector("td.status-succeeded", timeout=60_000)
        assert len(llm.fake.requests) == 4

    page.goto(f"{site}/projects/mail/review?sort=confidence_asc")
    rows = page.locator("#suggestion-table tbody tr")
    assert rows.count() == 5  # t1 has two classes
    page.locator("input.pick").first.check()
    page.click("#reject-selected")
    page.wait_for_function("document.querySelectorAll('#suggestion-table input.pick').length === 4")
    page.fill("#threshold", "0")
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))  # say no first
    page.click("#accept-above")
    page.wait_for_function("document.querySelector('#flash') !== null")
    page.wait_for_timeout(300)
    assert asked == ["Accept 4 suggestions at confidence ≥ 0?"]
    assert page.locator("#suggestion-table input.pick").count() == 4  # nothing accepted
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    page.click("#accept-above")
    page.wait_for_function("document.querySelectorAll('#suggestion-table input.pick').length === 0")
    with store.session() as s:
        statuses = sorted(
            s.scalars(select(Suggestion.status).where(Suggestion.job_id.is_not(None)))
        )
    assert statuses.count("rejected") == 1 and statuses.count("accepted") == 4
    page.goto(site + "/")  # a project in several languages gets the multilingual encoder
    page.fill('#new-project input[name="name"]', "weltweit")
    page.check('#new-project input[name="multilingual"]')
    page.click("#new-project button[type=submit]")
    page.wait_for_url(re.compile(r".*/projects/weltweit$"))
    assert "sentence encoder e5-multilingual" in page.inner_text("#encoder")
    assert not errors, errors


def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    """A page at ``url``, and the list its script errors are kept in."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page, errors


def first_auto_labeled(browser: Any, site: str) -> tuple[Any, list[str]]:
    """A page on the first document of the Auto labeled list, and its script errors."""
    page, errors = open_page(browser, f"{site}/projects/{PROJECT}/documents?filter=auto-labeled")
    page.locator("#documents a.doc-link").nth(0).click()
    return page, errors


def test_twenty_decisions_with_a_alone(site: str, store: Store, browser: Any) -> None:
    """The review loop at its fastest: `a` twenty times stores twenty labels with no page load,
    and `u` takes the last one back."""
    from labelwise.autolabel import suggest
    from labelwise.labelers.embedding import EmbeddingLabeler
    from labelwise.store.embeddings import StoreVectorCache

    suggest(store, PROJECT, EmbeddingLabeler(cache=StoreVectorCache(store)))
    page, errors = first_auto_labeled(browser, site)
    page.wait_for_function("document.querySelector('#counter').textContent.includes('left in')")
    start = page.inner_text("#counter")
    loads: list[int] = []
    page.on("load", lambda _p: loads.append(1))
    names = []
    for _ in range(20):
        name = page.inner_text("#doc-name")
        names.append(name)
        page.keyboard.press("a")
        page.wait_for_function(f"document.querySelector('#doc-name').textContent !== {name!r}")
    total = int(start.split(" of ")[0])
    # counted once; each accept took a document out of the list and counted it down
    after = f"{total - 20} of {total} left in Auto labeled"
    page.wait_for_function(f"document.querySelector('#counter').textContent.startsWith({after!r})")
    assert loads == [] and not errors, (loads, errors)
    with store.session() as s:
        p = get_project(s, PROJECT)
        labeled = [
            n
            for n in names
            if s.scalar(
                select(Label).where(
                    Label.document_id == get_document(s, p, n).id, Label.suggestion_id.is_not(None)
                )
            )
            is not None
        ]
    assert len(labeled) == 20
    page.keyboard.press("u")
    page.wait_for_function(f"document.querySelector('#doc-name').textContent === {names[-1]!r}")
    with store.session() as s:
        p = get_project(s, PROJECT)
        doc = get_document(s, p, names[-1])
        assert s.scalar(select(Label).where(Label.document_id == doc.id)) is None
    left = page.inner_text("#counter")
    assert left.startswith(f"{total - 19} of {total} left in Auto labeled"), left  # undone: back
    # a click on the page (a class's radio) does not take the keys away
    page.locator("#manual input").nth(1).click()
    page.wait_for_timeout(300)
    here = page.inner_text("#doc-name")
    page.keyboard.press("j")
    page.wait_for_function(f"document.querySelector('#doc-name').textContent !== {here!r}")
    assert loads == [] and not errors, (loads, errors)


def test_a_suggestion_replaced_while_shown_is_shown_again(
    site: str, store: Store, browser: Any
) -> None:
    """A refreshed run replaces the suggestion on the page (or another reviewer decided it):
    the key press saves nothing wrong and the page shows the document as it is now."""
    from labelwise.autolabel import suggest
    from labelwise.labelers.embedding import EmbeddingLabeler
    from labelwise.store.embeddings import StoreVectorCache

    labeler = EmbeddingLabeler(cache=StoreVectorCache(store))
    suggest(store, PROJECT, labeler)
    page, errors = first_auto_labeled(browser, site)
    page.wait_for_selector("#suggestions .suggestion")
    name = page.inner_text("#doc-name")
    shown = int(page.locator("#suggestions .suggestion").first.get_attribute("data-id") or 0)
    suggest(store, PROJECT, labeler, docs=[name], refresh=True)  # meanwhile, elsewhere
    page.keyboard.press("a")
    page.wait_for_function("document.querySelector('#flash').textContent.includes('shown again')")
    assert page.inner_text("#doc-name") == name
    now = int(page.locator("#suggestions .suggestion").first.get_attribute("data-id") or 0)
    with store.session() as s:
        doc = get_document(s, get_project(s, PROJECT), name)
        assert s.get(Suggestion, shown) is None and s.get(Suggestion, now) is not None
        assert s.scalar(select(Label).where(Label.document_id == doc.id)) is None
    page.keyboard.press("a")  # the new one is accepted, and on to the next document
    page.wait_for_function(f"document.querySelector('#doc-name').textContent !== {name!r}")
    with store.session() as s:
        label = s.scalar(select(Label).where(Label.suggestion_id == now))
        assert label is not None
    # bulk review: all or none, and it says the list changed
    page.goto(f"{site}/projects/{PROJECT}/review")
    first = page.locator(".pick").first
    stale = int(first.get_attribute("value") or 0)
    with store.session() as s:
        stale_doc = s.scalar(
            select(Document.name)
            .join(Suggestion, Suggestion.document_id == Document.id)
            .where(Suggestion.id == stale)
        )
        assert stale_doc is not None
    suggest(store, PROJECT, labeler, docs=[stale_doc], refresh=True)
    first.check()
    page.locator(".pick").nth(1).check()
    page.click("#accept-selected")
    page.wait_for_function("document.querySelector('#flash').textContent.includes('list changed')")
    with store.session() as s:
        assert s.scalar(select(func.count(Label.id)).where(Label.suggestion_id.is_not(None))) == 1
    assert not errors, errors


def test_the_wizard_starts_a_refit_chain_and_the_jobs_page_stops_it(
    site: str, store: Store, browser: Any
) -> None:
    page, errors = open_page(browser, f"{site}/projects/{PROJECT}/autolabel")
    page.fill('input[name="retrain_every"]', "2")
    page.click("#start-job")
    page.wait_for_url(re.compile(r".*/jobs$"))
    page.wait_for_selector("td.status-succeeded", timeout=120_000)
    assert "refits every 2 labels" in page.inner_text("#jobs")
    with store.session() as s:  # a person labels two documents: the server refits
        p = get_project(s, PROJECT)
        docs = s.scalars(
            select(Document)
            .where(
                Document.project_id == p.id,
                ~select(Label.id).where(Label.document_id == Document.id).exists(),
            )
            .order_by(Document.id)
            .limit(2)
        ).all()
        for d in docs:
            rules.set_labels(s, p, d, [p.classes[0]])
    # the page, left open, shows the job the server starts and its end, without a reload
    page.wait_for_function(
        "document.querySelectorAll('#jobs td.status-succeeded').length === 2", timeout=120_000
    )
    with store.session() as s:
        jobs = s.scalars(select(Job).order_by(Job.id)).all()
    assert len(jobs) == 2
    stop = page.locator(f'tr[data-job="{jobs[1].id}"] button.cancel')
    assert stop.inner_text() == "Stop refitting"
    assert page.locator(f'tr[data-job="{jobs[0].id}"] button').count() == 0  # followed
    stop.click()
    page.wait_for_function("!document.querySelector('button.cancel')")
    with store.session() as s:
        last = s.get(Job, jobs[1].id)
        assert last is not None and "retrain_every" not in last.options
    assert not errors, errors


def test_the_classes_page_creates_describes_renames_and_deletes(
    site: str, store: Store, browser: Any
) -> None:
    from labelwise.store.models import LabelClass

    def stored(name: str) -> LabelClass | None:
        with store.session() as s:
            p = get_project(s, PROJECT)
            return s.scalar(
                select(LabelClass).where(LabelClass.project_id == p.id, LabelClass.name == name)
            )

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{site}/projects/{PROJECT}/classes")
    page.fill('#new-class input[name="name"]', "refund request")
    page.fill('#new-class textarea[name="description"]', "Asks for money back")
    page.fill('#new-class textarea[name="examples"]', "please refund me\nI want my money back")
    page.click('#new-class button[type="submit"]')
    row = page.locator('tr[data-class="refund request"]')
    row.wait_for()
    c = stored("refund request")
    assert c is not None and c.description == "Asks for money back"
    assert c.examples == ["please refund me", "I want my money back"]
    # a name the rules refuse is said, and nothing changes
    row.locator('input[name="name"]').fill("refund/request")
    row.locator(".save-class").click()
    page.wait_for_selector("#flash.error")
    assert stored("refund request") is not None
    row.locator('input[name="name"]').fill("refund_request")
    row.locator('textarea[name="description"]').fill("Money back")
    row.locator(".save-class").click()
    page.locator('tr[data-class="refund_request"]').wait_for()
    c = stored("refund_request")
    assert c is not None and c.description == "Money back" and stored("refund request") is None
    # delete asks first, with the counts; dismissing keeps the class
    questions: list[str] = []

    def answer(dialog: Any, accept: bool) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    page.locator('tr[data-class="refund_request"] .delete-class').click()
    page.wait_for_timeout(300)
    assert stored("refund_request") is not None
    page.once("dialog", lambda d: answer(d, True))
    page.locator('tr[data-class="refund_request"] .delete-class').click()
    page.locator('tr[data-class="refund_request"]').wait_for(state="detached")
    assert stored("refund_request") is None
    assert questions[0].startswith('Delete class "refund_request" with its 0 labels and 0 sugg')
    shot(page, "classes")


def test_the_import_form_picks_columns_from_a_preview(
    site: str, store: Store, browser: Any, tmp_path: Path
) -> None:
    """A CSV with ';' separators and its own column names: the form shows its first rows,
    guesses the columns (a `category` column is the labels), reports the ignored one, and
    replaces documents with the same name when asked."""
    csv = tmp_path / "tickets.csv"
    csv.write_text(
        'id;body;category;agent\nk1;"I was charged twice; refund";card_arrival;ann\n'
        "k2;My card has not arrived;card_arrival;bob\n",
        encoding="utf-8",
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{site}/projects/{PROJECT}")
    before = int(page.inner_text("#count-documents"))
    page.set_input_files("#import input[type=file]", str(csv))
    page.wait_for_selector("#columns:not([hidden])")
    assert page.locator("#preview tr").count() == 3  # the header and two rows
    assert "I was charged twice; refund" in page.inner_text("#preview")
    assert page.input_value('select[name="text_column"]') == "body"
    assert page.input_value('select[name="name_column"]') == "id"
    assert page.input_value('select[name="label_column"]') == "category"
    page.click("#import button[type=submit]")
    page.wait_for_selector("#import-report:not([hidden])")
    report = page.inner_text("#import-report")
    assert "2 new" in report and "'agent'" in report, report  # the ignored column is named
    page.wait_for_function(  # the counters follow without a reload
        f"document.querySelector('#count-documents').textContent === '{before + 2}'"
    )
    with store.session() as s:
        p = get_project(s, PROJECT)
        assert get_document(s, p, "k1").text == "I was charged twice; refund"
    # the same names again, with "replace": the text changes, nothing is added
    csv.write_text("id;body;category;agent\nk1;Refund the double charge;card_arrival;ann\n")
    page.set_input_files("#import input[type=file]", str(csv))
    page.wait_for_selector("#columns:not([hidden])")
    page.check('#import input[name="replace"]')
    page.click("#import button[type=submit]")
    page.wait_for_function(
        "document.querySelector('#import-report').textContent.includes('1 replaced')"
    )
    with store.session() as s:
        p = get_project(s, PROJECT)
        assert get_document(s, p, "k1").text == "Refund the double charge"
    shot(page, "import")


def test_audit_mode_labels_blind_and_reports(site: str, store: Store, browser: Any) -> None:
    """The audit page draws documents labeled by accepted suggestions, shows each without its
    label or suggestion, records the key pressed as the blind label (no page load), and the
    report follows; the page passes axe at 800 px with a document waiting."""
    from labelwise.autolabel import suggest
    from labelwise.labelers.embedding import EmbeddingLabeler
    from labelwise.store import labels as rules
    from labelwise.store.embeddings import StoreVectorCache
    from labelwise.store.models import Audit, Document

    suggest(store, PROJECT, EmbeddingLabeler(cache=StoreVectorCache(store)))
    with store.session() as s:
        p = get_project(s, PROJECT)
        assert rules.accept_above(s, p, 0.0) > 5
    page = browser.new_page(viewport={"width": 800, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{site}/projects/{PROJECT}/audit")
    page.fill("#audit-draw input[name=n]", "3")
    page.click("#audit-draw button")
    page.wait_for_selector("#audit-doc")
    assert page.inner_text("#audit-left") == "3 waiting"
    # blind: nothing on the card but the document's own text says suggestion, label or score
    # (the text itself may say "right away": the sample is random)
    text = page.inner_text("#audit-text")
    card = page.inner_text("#audit-doc").replace(text, "", 1).lower()
    assert text and "suggest" not in card and "confidence" not in card and "right" not in card
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    serious = [
        v["id"]
        for v in axe.run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious and page.evaluate("document.documentElement.scrollWidth") <= 800
    shot(page, "audit")
    loads: list[int] = []
    page.on("load", lambda _p: loads.append(1))
    names = []
    for _ in range(3):
        name = page.get_attribute("#audit-doc", "data-name") or ""
        names.append(name)
        page.keyboard.press("1")  # single-label: the first class, saved at once
        page.wait_for_function(
            f"!document.querySelector('#audit-doc') || "
            f"document.querySelector('#audit-doc').dataset.name !== {name!r}"
        )
    page.wait_for_function("document.querySelector('#audit-left').textContent === '0 waiting'")
    page.wait_for_function(
        "document.querySelector('#audit-message').textContent.includes('audited')"
    )
    assert loads == [] and not errors, (loads, errors)
    with store.session() as s:
        p = get_project(s, PROJECT)
        cls = p.classes[0].name
        audits = s.execute(
            select(Document.name, Audit.blind)
            .join(Document, Document.id == Audit.document_id)
            .where(Audit.project_id == p.id)
        ).all()
        assert sorted(name for name, _ in audits) == sorted(names)
        assert all(blind == [cls] for _, blind in audits)
        for name in names:  # the blind label is the document's label now
            assert rules.document_labels(s, get_document(s, p, name)) == [cls]
    page.goto(f"{site}/projects/{PROJECT}")  # the overview says it too
    assert "of 3 audited labels were right" in page.inner_text("#label-quality")
