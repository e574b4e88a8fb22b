"""Every route of the REST API on a real uvicorn server over a real database, walked the way a
client uses them; the OpenAPI document lists them all; access and CSRF rules."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from labelwise.store import Store
from labelwise.web.app import create_app
from tests.llm_server import FakeLLM, Server
from tests.test_api import serve
from tests.test_training import TEXTS, build

TOKEN = "web-token-456"


class Client:
    def __init__(self, base: str, token: str | None = None) -> None:
        self.base, self.token = base, token

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                content, status, hdrs = resp.read(), resp.status, dict(resp.headers)
        except urllib.error.HTTPError as exc:
            content, status, hdrs = exc.read(), exc.code, dict(exc.headers)
        if hdrs.get("content-type", "").startswith("application/json") and content:
            return status, json.loads(content), hdrs
        return status, content, hdrs


@pytest.fixture
def client(store: Store) -> Iterator[Client]:
    build(store)
    for base in serve(store, TOKEN):
        yield Client(base, TOKEN)


def wait(c: Client, path: str, done: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        status, body, _ = c("GET", path)
        assert status == 200, body
        if done(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def test_every_route_through_a_project_life(client: Client, store: Store) -> None:
    c = client
    # projects and classes
    assert c("GET", "/api/health")[0] == 200
    status, body, _ = c("POST", "/api/projects", {"name": "q", "kind": "multi_label"})
    assert status == 201 and body["kind"] == "multi_label"
    assert c("POST", "/api/projects", {"name": "q"})[0] == 409
    assert {p["name"] for p in c("GET", "/api/projects")[1]} == {"p", "q"}
    status, body, _ = c("POST", "/api/projects/q/classes", {"name": "x", "examples": ["ex"]})
    assert status == 201 and body["examples"] == ["ex"]
    status, body, _ = c("PATCH", "/api/projects/q/classes/x", {"name": "y", "description": "d"})
    assert status == 200 and (body["name"], body["description"]) == ("y", "d")
    assert [k["name"] for k in c("GET", "/api/projects/q/classes")[1]] == ["y"]
    assert c("DELETE", "/api/projects/q/classes/y")[1] == {
        "labels_removed": 0,
        "suggestions_removed": 0,
    }
    assert c("GET", "/api/projects/q")[1]["classes"] == {}
    assert c("DELETE", "/api/projects/q")[0] == 204
    assert c("GET", "/api/projects/q")[0] == 404

    # import (body = the file) with a bad line named, export
    lines = [
        json.dumps({"name": "imp-1", "text": "Snow is falling on the hills."}),
        "{not json",
        json.dumps({"name": "imp-2", "text": "Stir the soup slowly.", "labels": ["cooking"]}),
    ]
    status, report, _ = c(
        "POST",
        "/api/projects/p/import?format=jsonl&filename=new.jsonl",
        raw="\n".join(lines).encode(),
    )
    assert status == 200 and report["inserted"] == 2, report
    assert len(report["errors"]) == 1 and "new.jsonl:2" in json.dumps(report["errors"])
    status, content, headers = c("GET", "/api/projects/p/export?format=jsonl")
    assert (
        status == 200 and b'"imp-2"' in content and "attachment" in headers["content-disposition"]
    )

    # documents: filters, search, paging, one document with neighbours
    docs = c("GET", "/api/projects/p/documents?filter=unlabeled&count=true")[1]
    assert {d["name"] for d in docs["documents"]} == {"new-1", "new-2", "imp-1"}
    assert docs["total"] == 3
    found = c("GET", "/api/projects/p/documents?q=pasta")[1]["documents"]
    assert [d["name"] for d in found] == ["new-2"]
    page1 = c("GET", "/api/projects/p/documents?limit=5")[1]
    page2 = c("GET", f"/api/projects/p/documents?limit=5&after={page1['next_after']}")[1]
    back = c("GET", f"/api/projects/p/documents?limit=5&before={page2['prev_before']}")[1]
    assert [d["name"] for d in back["documents"]] == [d["name"] for d in page1["documents"]]
    one = c("GET", "/api/projects/p/documents/weather-1?filter=labeled&class=weather")[1]
    assert (one["previous"], one["next"], one["labels"]) == ("weather-0", "weather-2", ["weather"])
    status, body, _ = c("PUT", "/api/projects/p/documents/imp-1/labels", ["weather"])
    assert status == 200 and body["labels"] == ["weather"]
    assert c("PUT", "/api/projects/p/documents/imp-1/labels", [])[1]["labels"] == []
    assert c(
        "POST", "/api/projects/p/documents/dataset", {"documents": ["imp-1"], "dataset": "test"}
    )[1] == {"changed": 1}

    # an embedded autolabel job: 202 + Location, run by the server
    status, job, headers = c("POST", "/api/projects/p/jobs", {"labeler": "embedding"})
    assert status == 202 and headers["location"] == f"/api/jobs/{job['id']}"
    job = wait(c, headers["location"], lambda j: j["status"] not in ("queued", "running"))
    assert (job["status"], job["done"]) == ("succeeded", 3)
    assert [j["id"] for j in c("GET", "/api/projects/p/jobs")[1]] == [job["id"]]
    assert c("POST", f"/api/jobs/{job['id']}/cancel")[0] == 409  # already ended
    assert c("POST", f"/api/jobs/{job['id']}/resume", {})[0] == 400

    # suggestions: list, review one document, reject, accept above
    rows = c("GET", "/api/projects/p/suggestions?sort=confidence_asc")[1]
    assert len(rows) == 3 and rows[0]["confidence"] <= rows[-1]["confidence"]
    by_doc = {r["document"]: r for r in rows}
    status, view, _ = c(
        "POST",
        "/api/projects/p/documents/new-1/review",
        {"accept": [by_doc["new-1"]["id"]], "dataset": "train"},
    )
    assert (
        status == 200 and view["labels"] == [by_doc["new-1"]["class"]] and not view["suggestions"]
    )
    status, body, _ = c(
        "POST", "/api/projects/p/documents/new-1/review", {"reject": [by_doc["new-1"]["id"]]}
    )
    assert status == 409 and "reload" in body["error"]["message"]
    assert c("POST", "/api/projects/p/suggestions/reject", {"ids": [by_doc["imp-1"]["id"]]})[1] == {
        "rejected": 1
    }
    assert (
        c("POST", "/api/projects/p/suggestions/accept", {"ids": [by_doc["imp-1"]["id"]]})[0] == 409
    )
    accepted = c("POST", "/api/projects/p/suggestions/accept-above", {"threshold": 0.0})[1]
    assert accepted == {"accepted": 1}
    assert c("GET", "/api/projects/p/suggestions")[1] == []
    review = c("GET", f"/api/jobs/{job['id']}")[1]["review"]
    assert (review["accepted"], review["rejected"]) == (2, 1)

    # training: 202, poll the model, evaluation, picture, deploy, predict, delete
    status, body, headers = c(
        "POST", "/api/projects/p/models", {"model": "m", "manual_split": True}
    )
    assert status == 202 and headers["location"] == "/api/projects/p/models/m"
    assert body["train_documents"] > 0 and body["test_documents"] > 0
    model = wait(c, headers["location"], lambda m: m["status"] != "training")
    assert model["status"] == "ready", model
    assert [m["name"] for m in c("GET", "/api/projects/p/models")[1]] == ["m"]
    ev = c("GET", "/api/projects/p/models/m/evaluation")[1]
    assert set(ev["per_class"]) == set(TEXTS) and "confusion" in ev
    status, png, headers = c("GET", "/api/projects/p/models/m/confusion.png")
    assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert c("PUT", "/api/projects/p/deployments/prod", {"model": "m"})[0] == 200
    assert [d["name"] for d in c("GET", "/api/projects/p/deployments")[1]] == ["prod"]
    status, body, _ = c(
        "POST",
        "/api/projects/p/deployments/prod/predict",
        {"documents": [{"id": "1", "text": "Thunderstorms and hail tonight."}]},
    )
    assert status == 200 and body["documents"][0]["class"][0]["category"] == "weather"
    assert c("DELETE", "/api/projects/p/models/m")[0] == 409  # deployed
    assert c("DELETE", "/api/projects/p/deployments/prod")[0] == 204
    assert c("DELETE", "/api/projects/p/models/m")[0] == 204


def test_llm_connections_estimate_and_an_llm_job(client: Client, store: Store) -> None:
    c = client
    gold = {t: [k] for k, texts in TEXTS.items() for t in texts}
    gold["Light drizzle and a chilly breeze this evening."] = ["weather"]
    gold["Grate the cheese over the pasta and serve."] = ["cooking"]
    with Server(FakeLLM(gold=gold)) as llm:
        connection = {
            "name": "local",
            "provider": "openai",
            "endpoint": llm.url + "/v1",
            "model": "gpt-4o-mini",
            "api_key_env": "LABELWISE_TEST_NO_API_KEY",
        }
        status, body, _ = c("POST", "/api/llm", connection)
        assert status == 201 and "key" not in json.dumps(body).replace("api_key_env", "")
        assert c("GET", "/api/llm/local")[1]["endpoint"] == llm.url + "/v1"
        assert [x["name"] for x in c("GET", "/api/llm")[1]] == ["local"]
        est = c("POST", "/api/projects/p/estimate", {"llm": "local", "options": {"few_shot": 0}})[1]
        assert est["documents"] == 2 and est["prompt_tokens"] > 0 and est["cost_usd"] > 0
        status, job, headers = c(
            "POST",
            "/api/projects/p/jobs",
            {"labeler": "openai", "llm": "local", "options": {"few_shot": 0, "concurrency": 2}},
        )
        assert status == 202
        job = wait(c, headers["location"], lambda j: j["status"] not in ("queued", "running"))
        assert (job["status"], job["done"]) == ("succeeded", 2) and job["prompt_tokens"] > 0
        assert len(llm.fake.requests) == 2
        # a refreshed run would throw away (and pay again for) what the LLM answered
        status, body, _ = c(
            "POST", "/api/projects/p/jobs", {"labeler": "openai", "llm": "local", "refresh": True}
        )
        assert status == 400 and "free labelers" in body["error"]["message"]
        assert len(llm.fake.requests) == 2
    assert c("DELETE", "/api/llm/local")[0] == 204
    status, body, _ = c("POST", "/api/projects/p/jobs", {"labeler": "openai"})
    assert status == 400 and "LLM connection" in body["error"]["message"]


def test_the_server_refits_every_n_labels_until_the_chain_is_stopped(client: Client) -> None:
    """An embedded job with retrain_every: once it succeeded, each new label (here one) makes
    the server follow it with a refreshed job; cancelling the chain's last job ends it."""
    c = client
    status, body, _ = c(
        "POST", "/api/projects/p/jobs", {"labeler": "model", "model": "m", "retrain_every": 1}
    )
    assert status == 400 and "embedded labeler" in body["error"]["message"]
    status, job, headers = c(
        "POST", "/api/projects/p/jobs", {"labeler": "embedding", "retrain_every": 1}
    )
    assert status == 202 and job["options"]["retrain_every"] == 1
    wait(c, headers["location"], lambda j: j["status"] == "succeeded")
    time.sleep(2)  # the server looks every second: no new label, no refit
    assert len(c("GET", "/api/projects/p/jobs")[1]) == 1
    assert c("PUT", "/api/projects/p/documents/new-1/labels", ["weather"])[0] == 200
    jobs = wait(
        c,
        "/api/projects/p/jobs",
        lambda js: len(js) == 2 and js[0]["status"] == "succeeded",
    )
    first, second = jobs[1], jobs[0]  # newest first
    assert first["options"]["followed_by"] == second["id"]
    assert second["options"]["refresh"] is True and second["options"]["retrain_every"] == 1
    assert second["total"] == 1  # new-2, the one document left unlabeled
    # stop: cancelling the chain's last job (it ended) ends the chain
    status, stopped, _ = c("POST", f"/api/jobs/{second['id']}/cancel")
    assert status == 202 and "retrain_every" not in stopped["options"]
    assert c("POST", f"/api/jobs/{second['id']}/cancel")[0] == 409  # nothing left to stop
    assert c("PUT", "/api/projects/p/documents/new-2/labels", ["cooking"])[0] == 200
    time.sleep(2.5)
    assert len(c("GET", "/api/projects/p/jobs")[1]) == 2


def test_openapi_lists_every_route(store: Store) -> None:
    app = create_app(store, run_jobs=False)
    schema = app.openapi()
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            assert route.path in schema["paths"], route.path
            for method in route.methods - {"HEAD"}:
                assert method.lower() in schema["paths"][route.path], (method, route.path)
    assert len(schema["paths"]) >= 25


def test_access_and_csrf(client: Client) -> None:
    anonymous = Client(client.base)
    status, body, _ = anonymous("GET", "/api/projects")
    assert status == 401
    # pages send a browser to sign in
    req = urllib.request.Request(client.base + "/projects/p")
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as exc:
        opener.open(req, timeout=10)
    assert exc.value.code == 303 and exc.value.headers["location"].startswith("/login")
    # a browser request (Origin, cookie) that changes something needs the CSRF token
    status, body, _ = client(
        "POST", "/api/projects", {"name": "z"}, headers={"Origin": "http://evil.example"}
    )
    assert status == 403 and "not this server's origin" in body["error"]["message"]
    status, body, _ = client(
        "POST", "/api/projects", {"name": "z"}, headers={"Cookie": "lw_csrf=abc"}
    )
    assert status == 403 and "CSRF" in body["error"]["message"]
    status, body, _ = client(
        "POST",
        "/api/projects",
        {"name": "z"},
        headers={"Cookie": "lw_csrf=abc", "X-CSRF-Token": "abc"},
    )
    assert status == 201
    status, body, _ = client(
        "POST",
        "/api/projects",
        {"name": "z2"},
        headers={"Cookie": "lw_csrf=abc", "X-CSRF-Token": "abd"},
    )
    assert status == 403
    # signing in with the form sets the token cookie; a wrong token does not
    form = b"token=wrong&next=/&csrf_token=abc"
    status, _, _ = anonymous(
        "POST",
        "/login",
        raw=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": "lw_csrf=abc"},
    )
    assert status == 401
    req = urllib.request.Request(
        client.base + "/login",
        data=f"token={TOKEN}&next=/projects/p&csrf_token=abc".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": "lw_csrf=abc"},
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        opener.open(req, timeout=10)
    assert exc.value.code == 303 and exc.value.headers["location"] == "/projects/p"
    cookie = exc.value.headers["set-cookie"]
    assert "lw_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    status, page, _ = anonymous("GET", "/projects/p", headers={"Cookie": f"lw_token={TOKEN}"})
    assert status == 200 and TOKEN.encode() not in page  # no secret reaches a page
    assert b'action="/logout"' in page
    req = urllib.request.Request(
        client.base + "/logout",
        data=b"csrf_token=abc",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"lw_csrf=abc; lw_token={TOKEN}",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        opener.open(req, timeout=10)
    assert exc.value.code == 303 and 'lw_token=""' in exc.value.headers["set-cookie"]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_the_server_resumes_a_job_whose_process_died(store: Store) -> None:
    """A running job whose process died (its claims held by a pid that no longer exists on
    this machine) is taken up and finished by the server when it starts."""
    import socket

    from labelwise.jobs import runner
    from labelwise.store import jobs as svc

    build(store)
    job_id = runner.create(store, "p", "embedding", docs="all")
    with store.session() as s:
        svc.claim_items(s, job_id, f"{socket.gethostname()}:999999999:dead", 5, stale_after=60)
        job = svc.get_job(s, job_id)
        job.status = "running"
    for base in serve(store, TOKEN):
        c = Client(base, TOKEN)
        job = wait(c, f"/api/jobs/{job_id}", lambda j: j["status"] not in ("queued", "running"))
        assert (job["status"], job["done"], job["pending"]) == ("succeeded", job["total"], 0)
