"""Projects and classes; import and export of documents."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from labelwise.domain import Dataset, LabelwiseError
from labelwise.ingest.importer import ImportReport
from labelwise.schemas import ClassPublic, ClassRemovedPublic
from labelwise.store import classes as class_svc
from labelwise.store.projects import (
    ProjectSummary,
    create_project,
    delete_project,
    get_project,
    list_projects,
    summarize,
)
from labelwise.store.views import class_view
from labelwise.web.deps import StoreDep

router = APIRouter(prefix="/api/projects", tags=["projects"])

MAX_UPLOAD = 200 * 1024 * 1024


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["single_label", "multi_label"] = "single_label"
    language: str = Field("en", max_length=20)
    description: str = Field("", max_length=10_000)
    multilingual: bool = Field(
        False, description="Documents in several languages: the multilingual encoder."
    )
    encoder: str | None = Field(
        None,
        max_length=40,
        description="The sentence encoder by name (GET /api/encoders); by default the one "
        "for the project's language.",
    )


class EncoderSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encoder: str = Field(min_length=1, max_length=40)


class EncoderChangePublic(BaseModel):
    project: str
    encoder: str
    previous: str
    job_id: int | None = Field(
        description="The job re-embedding the documents (poll /api/jobs/{id}); null when the "
        "project already used this encoder or has no classes yet."
    )


class ClassCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    examples: list[str] = Field(default_factory=list)


class ClassUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    description: str | None = None
    examples: list[str] | None = None


@router.get("", response_model=list[ProjectSummary])
def projects(store: StoreDep) -> list[dict[str, Any]]:
    """Every project with its counts."""
    with store.session() as session:
        return [summarize(session, p).to_dict() for p in list_projects(session)]


@router.post("", status_code=201, response_model=ProjectSummary)
def new_project(body: ProjectCreate, store: StoreDep) -> dict[str, Any]:
    with store.session() as session:
        project = create_project(
            session,
            body.name,
            body.kind,
            body.language,
            body.description,
            multilingual=body.multilingual,
            encoder=body.encoder,
        )
        return summarize(session, project).to_dict()


@router.get("/{project}", response_model=ProjectSummary)
def project(project: str, store: StoreDep) -> dict[str, Any]:
    """A project's counts: documents, labeled, train/test, labels and suggestions per class."""
    with store.session() as session:
        return summarize(session, get_project(session, project)).to_dict()


@router.put("/{project}/encoder", response_model=EncoderChangePublic)
async def change_encoder(
    project: str, body: EncoderSet, request: Request, store: StoreDep
) -> dict[str, Any]:
    """Change the project's sentence encoder; the server re-embeds its documents in the
    background, as a job with progress."""
    from labelwise.encoders import set_encoder

    change = await run_in_threadpool(set_encoder, store, project, body.encoder)
    if change.job_id is not None:
        request.app.state.background.nudge()
    return change.to_dict()


@router.delete("/{project}", status_code=204)
def remove_project(project: str, store: StoreDep) -> None:
    with store.session() as session:
        delete_project(session, project)


@router.get("/{project}/classes", tags=["classes"], response_model=list[ClassPublic])
def classes(project: str, store: StoreDep) -> list[dict[str, Any]]:
    with store.session() as session:
        p = get_project(session, project)
        return [class_view(session, c) for c in class_svc.list_classes(session, p)]


@router.post("/{project}/classes", status_code=201, tags=["classes"], response_model=ClassPublic)
def new_class(project: str, body: ClassCreate, store: StoreDep) -> dict[str, Any]:
    with store.session() as session:
        p = get_project(session, project)
        return class_view(
            session, class_svc.add_class(session, p, body.name, body.description, body.examples)
        )


@router.patch("/{project}/classes/{name}", tags=["classes"], response_model=ClassPublic)
def change_class(project: str, name: str, body: ClassUpdate, store: StoreDep) -> dict[str, Any]:
    """Rename a class, or set its description or examples."""
    with store.session() as session:
        p = get_project(session, project)
        if body.name is not None and body.name != name:
            name = class_svc.rename_class(session, p, name, body.name).name
        return class_view(
            session, class_svc.describe_class(session, p, name, body.description, body.examples)
        )


@router.delete("/{project}/classes/{name}", tags=["classes"], response_model=ClassRemovedPublic)
def remove_class(project: str, name: str, store: StoreDep) -> dict[str, int]:
    """Remove a class with its labels and suggestions."""
    with store.session() as session:
        labels, suggestions = class_svc.remove_class(session, get_project(session, project), name)
    return {"labels_removed": labels, "suggestions_removed": suggestions}


@router.post("/{project}/import", tags=["documents"], response_model=ImportReport)
async def import_documents(
    project: str,
    request: Request,
    store: StoreDep,
    format: Literal["csv", "jsonl"] = "jsonl",
    dataset: Dataset | None = None,
    create_classes: bool = False,
    replace: bool = False,
    filename: str = "upload",
    text_column: str | None = Query(None, max_length=100, description="CSV: the text column."),
    name_column: str | None = Query(None, max_length=100, description="CSV: the name column."),
    label_column: str | None = Query(None, max_length=100, description="CSV: the label column."),
) -> dict[str, Any]:
    """Import a CSV or JSONL file sent as the request body (as `labelwise import` reads it);
    bad records are listed by line, good ones stored."""
    from labelwise.ingest.importer import run_import
    from labelwise.ingest.records import Options

    if int(request.headers.get("content-length") or 0) > MAX_UPLOAD:
        raise LabelwiseError(f"the file is over {MAX_UPLOAD // 2**20} MiB; use labelwise import")
    safe = "".join(ch for ch in Path(filename).name if ch.isalnum() or ch in "._-") or "upload"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{safe}.{format}"
        size = 0
        with path.open("wb") as fh:  # streamed: the limit holds while reading, not after
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_UPLOAD:
                    raise LabelwiseError(
                        f"the file is over {MAX_UPLOAD // 2**20} MiB; use labelwise import"
                    )
                fh.write(chunk)
        if not size:
            raise LabelwiseError("the request body is empty; send the file's content")
        report = await run_in_threadpool(  # the import is synchronous: off the event loop
            run_import,
            store,
            project,
            str(path),
            fmt=format,
            dataset=dataset,
            create_classes=create_classes,
            replace=replace,
            options=Options(
                text_column=text_column or None,
                name_column=name_column or None,
                label_column=label_column or None,
            ),
        )
    data = report.to_dict()
    data["source"] = filename
    for e in data["errors"]:  # name the uploaded file, not the server's temporary copy
        for key, value in e.items():
            e[key] = value.replace(str(path), filename)
    return data


@router.get("/{project}/export", tags=["documents"], response_class=FileResponse)
def export_documents(
    project: str,
    store: StoreDep,
    format: Literal["csv", "jsonl"] = "jsonl",
    include_suggestions: bool = False,
) -> FileResponse:
    """The project's documents and labels as a CSV or JSONL download."""
    from labelwise.ingest.exporter import export_project

    tmp = Path(tempfile.mkdtemp())
    path = tmp / f"{project}.{format}"
    export_project(store, project, path, format, include_suggestions=include_suggestions)

    def clean() -> None:
        path.unlink(missing_ok=True)
        tmp.rmdir()

    return FileResponse(path, filename=path.name, background=BackgroundTask(clean))
