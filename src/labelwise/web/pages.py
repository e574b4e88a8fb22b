"""Server-rendered pages (Jinja2, escaped by default). Pages read through the store services;
every change a page makes goes through the JSON API with the page's CSRF token."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from labelwise.domain import (
    ACTIVE_JOB,
    MAX_ID,
    DocFilter,
    JobStatus,
    ModelStatus,
    SuggestionStatus,
)
from labelwise.jobs import runner
from labelwise.store import llm as llm_svc
from labelwise.store import trained
from labelwise.store.projects import get_project, list_projects, summarize
from labelwise.store.query import DocumentQuery
from labelwise.store.views import DocumentSort, ReviewSort, listing_page
from labelwise.web.deps import (
    CSRF_COOKIE,
    TOKEN_COOKIE,
    StoreDep,
    csrf_token,
)
from labelwise.web.guard import local_path
from labelwise.web.routers.documents import Filters

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# the statuses, one vocabulary: templates use the enums, the page's JS reads them from the page
templates.env.globals.update(JobStatus=JobStatus, ModelStatus=ModelStatus, ACTIVE_JOB=ACTIVE_JOB)
VOCABULARY = {
    "job": {s.name: s.value for s in JobStatus},
    "activeJob": [s.value for s in ACTIVE_JOB],
    "model": {s.name: s.value for s in ModelStatus},
    "suggestion": {s.name: s.value for s in SuggestionStatus},
}
templates.env.globals["vocabulary"] = VOCABULARY
router = APIRouter(include_in_schema=False)
PAGE = 50
REVIEW_PAGE = 200  # suggestions a page of bulk review
LIST_NAMES = {
    DocFilter.ALL: "All",
    DocFilter.UNLABELED: "Unlabeled",
    DocFilter.LABELED: "Labeled",
    DocFilter.AUTO_LABELED: "Auto labeled",
}


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page with the CSRF token in a meta tag and in an HttpOnly, SameSite=Strict cookie."""
    token = csrf_token(request)
    auth = request.app.state.token is not None
    response = templates.TemplateResponse(
        request, name, {"csrf": token, "auth": auth, **context}, status_code=status
    )
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status=status, status_code=status, message=message)


LABELERS = ("embedding", "openai", "model")  # the filters' choices


@router.get("/login")
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=local_path(next))


@router.post("/login")
def login(
    request: Request, token: str = Form(...), next: str = Form("/"), csrf_token: str = Form("")
) -> Response:
    expected: str | None = request.app.state.token
    csrf = request.cookies.get(CSRF_COOKIE, "")
    if not csrf or not hmac.compare_digest(csrf.encode(), csrf_token.encode()):
        return error_page(request, 403, "the sign-in form expired; reload it and try again")
    if expected is None or not hmac.compare_digest(token.encode(), expected.encode()):
        return render(request, "login.html", status=401, next=local_path(next), wrong=True)
    response = RedirectResponse(local_path(next), status_code=303)
    response.set_cookie(
        TOKEN_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """Forget the access token in this browser (the form carries the CSRF token)."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(TOKEN_COOKIE)
    return response


@router.get("/")
def projects_page(request: Request, store: StoreDep) -> HTMLResponse:
    with store.session() as session:
        rows = [summarize(session, p) for p in list_projects(session)]
    return render(request, "projects.html", projects=rows)


@router.get("/projects/{project}")
def overview(request: Request, project: str, store: StoreDep) -> HTMLResponse:
    from labelwise.store import audit as audits

    with store.session() as session:
        p = get_project(session, project)
        summary = summarize(session, p)
        audit = audits.report(session, p)  # the audited share of right labels, if any
    top = max([1] + [c["labels"] + c["pending_suggestions"] for c in summary.classes.values()])
    return render(
        request,
        "overview.html",
        p=summary,
        top=top,
        audit=audit,
        project=summary.name,
        tab="overview",
    )


@router.get("/projects/{project}/documents")
def documents_page(
    request: Request,
    project: str,
    store: StoreDep,
    filters: Filters,
    after: int = 0,
    before: int | None = None,
    sort: DocumentSort = "id",
    offset: int = Query(0, ge=0, le=MAX_ID),
) -> HTMLResponse:
    with store.session() as session:
        p = get_project(session, project)
        page = listing_page(session, p, filters, PAGE, after, before, sort=sort, offset=offset)
        classes = [c.name for c in p.classes]
        kind = p.kind
    jobs = [j["id"] for j in runner.project_jobs(store, project)]
    return render(
        request,
        "documents.html",
        project=project,
        kind=kind,
        page=page,
        classes=classes,
        labelers=LABELERS,
        jobs=jobs,
        sort=sort,
        offset=offset,
        page_size=PAGE,
        f=filters,
        filters=[x.value for x in DocFilter],
        query=_filter_query(filters),
        tab="documents",
    )


def _filter_query(filters: DocumentQuery) -> str:
    values = filters.model_dump(by_alias=True, exclude_none=True, mode="json")
    if values.get("filter") == "all":
        values.pop("filter")
    return urlencode(values)


@router.get("/projects/{project}/documents/{name:path}")
def document_page(
    request: Request, project: str, name: str, store: StoreDep, filters: Filters
) -> HTMLResponse:
    from labelwise.web.routers.documents import document

    view = document(project, name, store, filters)  # text, labels, suggestions, neighbours
    with store.session() as session:
        p = get_project(session, project)
        classes = [c.name for c in p.classes]
        kind = p.kind
    return render(
        request,
        "document.html",
        project=project,
        kind=kind,
        doc=view,
        classes=classes,
        query=_filter_query(filters),
        next=view["next"],
        previous=view["previous"],
        list_name=LIST_NAMES[filters.filter],
        tab="documents",
    )


@router.get("/projects/{project}/review")
def bulk_review(
    request: Request,
    project: str,
    store: StoreDep,
    filters: Filters,
    sort: ReviewSort = "confidence_desc",
    offset: int = Query(0, ge=0, le=MAX_ID),
) -> HTMLResponse:
    from labelwise.web.routers.suggestions import suggestions

    rows = suggestions(project, store, filters, sort=sort, limit=REVIEW_PAGE, offset=offset)
    with store.session() as session:
        classes = [c.name for c in get_project(session, project).classes]
        jobs = [j["id"] for j in runner.project_jobs(store, project)]
    return render(
        request,
        "review.html",
        project=project,
        rows=rows,
        classes=classes,
        jobs=jobs,
        job=filters.job,
        labeler=filters.labeler or "",
        labelers=LABELERS,
        class_name=filters.class_name or "",
        min_confidence=filters.min_confidence or 0.0,
        sort=sort,
        offset=offset,
        page_size=REVIEW_PAGE,
        query="&".join(x for x in (_filter_query(filters), f"sort={sort}") if x),
        tab="review",
    )


@router.get("/projects/{project}/autolabel")
def autolabel_page(request: Request, project: str, store: StoreDep) -> HTMLResponse:
    with store.session() as session:
        p = get_project(session, project)
        summary = summarize(session, p)
        connections = [llm_svc.public(c) for c in llm_svc.list_connections(session)]
        models = [m.name for m in trained.list_models(session, p) if m.status == ModelStatus.READY]
    return render(
        request,
        "autolabel.html",
        project=project,
        p=summary,
        connections=connections,
        models=models,
        tab="autolabel",
    )


@router.get("/projects/{project}/classes")
def classes_page(request: Request, project: str, store: StoreDep) -> HTMLResponse:
    from labelwise.store.classes import list_classes
    from labelwise.store.views import class_view

    with store.session() as session:
        p = get_project(session, project)
        rows = [class_view(session, c) for c in list_classes(session, p)]
    return render(request, "classes.html", project=project, classes=rows, tab="classes")


@router.get("/projects/{project}/audit")
def audit_page(request: Request, project: str, store: StoreDep) -> HTMLResponse:
    """Audit mode: documents labeled by accepted suggestions, drawn at random and shown without
    their label; the person's blind label is recorded and becomes the document's."""
    from labelwise.store import audit as audits

    with store.session() as session:
        p = get_project(session, project)
        waiting = [{"name": d.name, "text": d.text} for d in audits.waiting(session, p)]
        summary = audits.report(session, p)
        classes = [c.name for c in p.classes]
        kind = p.kind
    return render(
        request,
        "audit.html",
        project=project,
        kind=kind,
        classes=classes,
        waiting=waiting,
        report=summary,
        tab="audit",
    )


@router.get("/projects/{project}/jobs")
def jobs_page(request: Request, project: str, store: StoreDep) -> HTMLResponse:
    rows = runner.project_jobs(store, project)
    return render(request, "jobs.html", project=project, jobs=rows, tab="jobs")


@router.get("/projects/{project}/models")
def models_page(request: Request, project: str, store: StoreDep) -> HTMLResponse:
    from labelwise.web.routers.training import deployments, models

    return render(
        request,
        "models.html",
        project=project,
        models=models(project, store),
        deployments=deployments(project, store),
        tab="models",
    )


@router.get("/projects/{project}/models/{model}")
def evaluation_page(request: Request, project: str, model: str, store: StoreDep) -> HTMLResponse:
    with store.session() as session:
        row = trained.get_model(session, get_project(session, project), model)
        info, ev = trained.public(row), dict(row.evaluation or {})
    return render(request, "evaluation.html", project=project, model=info, ev=ev, tab="models")
