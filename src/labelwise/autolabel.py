"""Run a labeler over a project's documents and store its suggestions (synchronous driver).

Which documents: ``unlabeled`` (default), ``all``, ``auto-labeled`` or an explicit list of
names. A document with a user label is skipped in a single-label project; in a multi-label
project the labeler is told not to suggest the classes the user already set. A document that
already has a pending suggestion from the same labeler, model and prompt version is skipped, so
running twice does not duplicate work; a *refreshed* run of a free labeler (``refresh``) labels
them again and replaces the labeler's pending suggestions with its new ones, a document at a
time as they are stored (the embedded labeler refits on the labels given since). Suggestions are
committed batch by batch.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from labelwise.domain import (
    CHEAP_LABELERS,
    ClassSpec,
    DocFilter,
    DocInput,
    Example,
    FailureReason,
    LabelTask,
    LabelwiseError,
    Progress,
    ProjectKind,
    SuggestionStatus,
)
from labelwise.labelers.base import Labeler, Outcome
from labelwise.labelers.loop import Answered, LabelingLoop
from labelwise.store import Store, decisions
from labelwise.store import labels as rules
from labelwise.store.documents import filter_clause, labels_by_document
from labelwise.store.models import Document, Job, Label, Project, Suggestion
from labelwise.store.projects import get_project

MAX_EXAMPLES_PER_CLASS = 200
SURVEY = 512  # documents a labeler that adapts to them sees before a run labels any
DOC_CHOICES = ("unlabeled", "all", "auto-labeled")


@dataclass
class SuggestReport:
    labeler: str
    model: str
    documents: int = 0
    suggested: int = 0
    suggestions: int = 0
    skipped: int = 0
    failed: int = 0
    failures: dict[str, list[str]] = field(default_factory=dict)  # reason -> examples
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_labeler(
    store: Store,
    name: str,
    *,
    llm: str | None = None,
    options: dict[str, Any] | None = None,
    project: str | None = None,
    model: str | None = None,
) -> Labeler:
    """A labeler by registry name; ``openai`` takes its settings from the LLM connection
    ``llm``, ``model`` is the trained model ``model`` of ``project``. Embeddings go through
    the store's cache."""
    from labelwise.embeddings.registry import get_encoder
    from labelwise.labelers import labeler_class
    from labelwise.labelers.embedding import EmbeddingLabeler
    from labelwise.labelers.openai import OpenAILabeler, options_from_connection
    from labelwise.store.embeddings import StoreVectorCache
    from labelwise.store.llm import get_connection

    cls = labeler_class(name)
    cache = StoreVectorCache(store)
    if cls.name == "model":
        from labelwise.labelers.model import ModelLabeler
        from labelwise.training.predict import resolve

        if not (project and model):
            raise LabelwiseError(
                "the model labeler needs the name of one of the project's trained models"
            )
        model_name, artifact = resolve(store, project, model=model)
        return ModelLabeler(artifact, model_name, cache=cache)
    if cls is EmbeddingLabeler:
        if llm:
            raise LabelwiseError(
                "an LLM connection is for the openai labeler; the embedded one needs none"
            )
        encoder = None  # the project's; the English one without a project
        if project:
            with store.session() as session:
                encoder = get_encoder(get_project(session, project).encoder)
        return EmbeddingLabeler(cache=cache, encoder=encoder)
    if cls is OpenAILabeler:
        if not llm:
            raise LabelwiseError("the openai labeler needs an LLM connection (add one first)")
        with store.session() as session:
            conn = get_connection(session, llm)
            settings = get_project(session, project) if project else None
            instructions = (settings.prompt or "") if settings else ""
            # few-shot examples are picked by the project's encoder
            encoder = get_encoder(settings.encoder) if settings else None
            try:
                opts = options_from_connection(conn, instructions=instructions, **(options or {}))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first["loc"])
                raise LabelwiseError(f"labeler option {where}: {first['msg']}") from exc
        from labelwise.store.answers import StoreAnswerCache
        from labelwise.store.pacing import StoreSchedule

        # team mode (PostgreSQL): the workers of a connection share its rate limits' slots
        schedule = StoreSchedule(store) if store.engine.dialect.name == "postgresql" else None
        return OpenAILabeler(
            opts, encoder=encoder, cache=cache, answers=StoreAnswerCache(store), schedule=schedule
        )
    return cls()


def connection_check(store: Store, llm: str) -> dict[str, Any]:
    """One tiny request through connection ``llm`` (nothing cached or stored)."""
    from labelwise.labelers.openai import OpenAILabeler, options_from_connection
    from labelwise.store.llm import get_connection

    with store.session() as session:
        conn = get_connection(session, llm)
        opts = options_from_connection(
            conn, few_shot=0, concurrency=1, max_retries=1, deadline=30.0, timeout=20.0
        )
    labeler = OpenAILabeler(opts)
    labeler.check()
    return labeler.test_connection()


def build_task(
    session: Session, project: Project, classes: Sequence[str] | None = None
) -> LabelTask:
    """The labeling task of ``project``: its classes (or the chosen ones) and user labels."""
    specs = [ClassSpec(c.name, c.description, tuple(c.examples)) for c in project.classes]
    if classes:
        known = {s.name for s in specs}
        unknown = [c for c in classes if c not in known]
        if unknown:
            raise LabelwiseError(
                f"project {project.name!r} has no class {unknown[0]!r}; its classes are: "
                + ", ".join(sorted(known))
            )
        specs = [s for s in specs if s.name in set(classes)]
    if not specs:
        raise LabelwiseError(
            f"project {project.name!r} has no classes; add some with `labelwise class add`"
        )
    examples = load_examples(session, project, specs)
    return LabelTask(
        kind=ProjectKind(project.kind),
        classes=tuple(specs),
        examples=tuple(examples),
        language=project.language,
    )


def load_examples(session: Session, project: Project, specs: Sequence[ClassSpec]) -> list[Example]:
    """The user-labeled documents a labeler learns from: the first
    ``MAX_EXAMPLES_PER_CLASS`` of each class (by id). Bounded by design: ids are chosen per
    class in SQL, and only the chosen documents' texts are read, so a project with a million
    labels costs what one with a few thousand does."""
    by_name = {c.name: c.id for c in project.classes}
    wanted = {by_name[s.name]: s.name for s in specs}
    chosen: set[int] = set()
    for class_id in wanted:
        chosen.update(
            session.scalars(
                select(Label.document_id)
                .join(Document, Document.id == Label.document_id)
                .where(Document.project_id == project.id, Label.class_id == class_id)
                .order_by(Label.document_id)
                .limit(MAX_EXAMPLES_PER_CLASS)
            )
        )
    ids = sorted(chosen)
    labels = labels_by_document(session, ids)
    examples = []
    for i in range(0, len(ids), 500):
        rows = session.execute(
            select(Document.id, Document.text, Document.content_hash)
            .where(Document.id.in_(ids[i : i + 500]))
            .order_by(Document.id)
        )
        for doc_id, text, digest in rows:
            names = tuple(n for n in labels[doc_id] if n in wanted.values())
            if names:
                examples.append(Example(text, names, digest))
    return examples


def confident_documents(
    session: Session, project: Project, ids: Sequence[int], below: float
) -> set[int]:
    """Of ``ids``, the documents a cheap labeler (the embedded one, a trained model) already
    suggests a class for with a calibrated score of at least ``below``: its confidence mapped
    through the labeler's calibration to the project's reviewed decisions, or the confidence
    itself while there are too few decisions to calibrate."""
    from labelwise.store.trust import calibrated, calibrations

    fits = calibrations(session, project)
    wanted = set(ids)
    rows = session.execute(
        select(Suggestion.document_id, Suggestion.labeler, Suggestion.confidence)
        .join(Document, Document.id == Suggestion.document_id)
        .where(
            Document.project_id == project.id,
            Suggestion.labeler.in_(CHEAP_LABELERS),
            rules.reviewable_clause(project),
        )
    )
    confident: set[int] = set()
    for doc_id, name, confidence in rows:
        if doc_id in wanted and calibrated(fits, name, confidence) >= below:
            confident.add(doc_id)
    return confident


def select_documents(
    session: Session,
    project: Project,
    docs: str | Sequence[str],
    labeler: Labeler,
    *,
    below: float | None = None,
    refresh: bool = False,
) -> tuple[list[int], dict[str, int]]:
    """Ids of the documents to label, and how many of the chosen ones are left out, by why:
    ``labeled`` (a user label settles them), ``already_suggested`` (a pending suggestion
    of this labeler, model and prompt version; none with ``refresh``) and, with ``below``
    (only the uncertain ones), ``confident`` (a cheap labeler scores a class at least
    ``below``)."""
    if below is not None and labeler.name in CHEAP_LABELERS:
        raise LabelwiseError(
            f"only the uncertain documents is for a labeler that costs per document; "
            f"{labeler.name!r} labels every document for free"
        )
    if refresh:
        check_refresh(labeler)
    if isinstance(docs, str):
        if docs not in DOC_CHOICES:
            raise LabelwiseError(
                f"documents {docs!r}: choose unlabeled, all, auto-labeled or a list of "
                "document names"
            )
        query = select(Document.id).where(filter_clause(project, DocFilter(docs), None))
    else:
        query = select(Document.id).where(
            Document.project_id == project.id, Document.name.in_(list(docs))
        )
    chosen = list(session.scalars(query.order_by(Document.id)))
    if not isinstance(docs, str) and len(chosen) < len(set(docs)):
        found = set(session.scalars(select(Document.name).where(Document.id.in_(chosen))))
        missing = [n for n in docs if n not in found]
        raise LabelwiseError(
            f"project {project.name!r} has no document {missing[0]!r} "
            f"({len(missing)} of the names are unknown)"
        )
    skip = select(Document.id).where(
        Document.project_id == project.id,
        exists().where(
            Suggestion.document_id == Document.id,
            Suggestion.status == SuggestionStatus.PENDING,
            Suggestion.labeler == labeler.name,
            Suggestion.model == labeler.model_id,
            Suggestion.prompt_version == labeler.prompt_version,
        ),
    )
    suggested = set() if refresh else set(session.scalars(skip))
    labeled: set[int] = set()
    if project.kind == ProjectKind.SINGLE_LABEL:  # a user label always wins
        labeled = set(
            session.scalars(
                select(Label.document_id).join(Document).where(Document.project_id == project.id)
            )
        )
    kept = [i for i in chosen if i not in suggested and i not in labeled]
    left_out = {
        "labeled": sum(i in labeled for i in chosen),
        "already_suggested": sum(i in suggested and i not in labeled for i in chosen),
    }
    if below is not None:
        confident = confident_documents(session, project, kept, below)
        left_out["confident"] = len(confident)
        kept = [i for i in kept if i not in confident]
    return kept, left_out


def check_refresh(labeler: Labeler) -> None:
    """A refreshed run replaces pending suggestions: only for a labeler that costs nothing,
    so that nothing paid for is thrown away."""
    if labeler.name not in CHEAP_LABELERS:
        raise LabelwiseError(
            f"refreshing replaces the labeler's pending suggestions, which is for the free "
            f"labelers ({', '.join(CHEAP_LABELERS)}); {labeler.name!r} is paid per document"
        )


def plan(
    store: Store,
    project_name: str,
    labeler: Labeler,
    docs: str | Sequence[str],
    classes: Sequence[str] | None,
    limit: int | None,
    *,
    below: float | None = None,
    refresh: bool = False,
) -> tuple[LabelTask, list[int], dict[str, int]]:
    """The task, the ids of the documents to label (at most ``limit``) and how many of the
    chosen documents are left out, by why."""
    with store.session() as session:
        project = get_project(session, project_name)
        task = build_task(session, project, classes)
        ids, skipped = select_documents(
            session, project, docs, labeler, below=below, refresh=refresh
        )
    return task, ids if limit is None else ids[:limit], skipped


def load_inputs(store: Store, ids: Sequence[int]) -> tuple[list[DocInput], dict[int, str]]:
    """The documents ``ids`` as labeler inputs (with the classes their user already set), and
    their names."""
    with store.session() as session:
        rows = session.scalars(
            select(Document).where(Document.id.in_(list(ids))).order_by(Document.id)
        ).all()
        user = labels_by_document(session, [d.id for d in rows])
    inputs = [DocInput(d.id, d.text, d.content_hash, frozenset(user[d.id])) for d in rows]
    return inputs, {d.id: d.name for d in rows}


def survey(
    store: Store, labeler: Labeler, task: LabelTask, ids: Sequence[int], seed: int = 0
) -> None:
    """Show ``labeler`` a seeded random sample of the documents ``ids`` a run labels, when it
    adapts to them (the embedded labeler, single-label). A sample of the whole run, not each
    chunk: an import sorted by class hands the labeler chunks of a few classes."""
    if ids and labeler.wants_survey(task):
        chosen = random.Random(seed).sample(sorted(ids), min(SURVEY, len(ids)))
        labeler.survey(task, load_inputs(store, sorted(chosen))[0])


def to_suggestions(
    task: LabelTask, labeler: Labeler, outcomes: Sequence[Outcome], job_id: int | None = None
) -> list[rules.NewSuggestion]:
    """The suggestions to store for ``outcomes``. An outcome naming a class outside the task is
    turned into an ``invalid_label`` failure here, whatever the backend did."""
    new: list[rules.NewSuggestion] = []
    for out in outcomes:
        valid = [p for p in out.predictions if p.class_name in task.class_names]
        if not out.failure and len(valid) < len(out.predictions):
            out.failure, out.detail = (
                FailureReason.INVALID_LABEL,
                "answered a class outside the task",
            )
            out.predictions = []
        if out.failure:
            continue
        tokens = out.prompt_tokens + out.completion_tokens
        new.extend(
            rules.NewSuggestion(
                out.doc_id,
                p.class_name,
                p.confidence,
                labeler.name,
                labeler.model_id,
                labeler.prompt_version,
                p.rationale,
                job_id,
                tokens,
                confidence_source=out.confidence_source,
            )
            for p in valid
        )
    return new


def labels_in(store: Store, project_name: str) -> int:
    """How many labels the project's documents carry (a person's and accepted suggestions)."""
    with store.session() as session:
        return rules.count_labels(session, get_project(session, project_name).id)


def wait_for_labels(
    store: Store,
    project_name: str,
    at_least: int,
    *,
    stop: threading.Event | None = None,
    poll: float = 2.0,
) -> int | None:
    """Wait until the project carries at least ``at_least`` labels (given in the pages, the
    API or another process) and return how many it carries; None once ``stop`` is set."""
    stop = stop or threading.Event()
    while True:
        n = labels_in(store, project_name)
        if n >= at_least:
            return n
        if stop.wait(poll):
            return None


def answered_ids(answered: Sequence[Answered]) -> list[int]:
    """The documents a wave gave an answer for (a failed one keeps what it had)."""
    return [o.doc_id for wave in answered for o in wave.outcomes if not o.failure]


def check_held_out(
    store: Store, project_name: str, labeler: Labeler, task: LabelTask, job_id: int
) -> int:
    """Keep the labeler's held-out check on the user's labels as the first decisions of job
    ``job_id`` (once: a resumed job that has them keeps them); returns how many were kept.

    While every label is a person's, every labeled document is checked. Once an accept-above
    has given labels, the documents left are those the labelers were unsure of, harder than the
    labeled ones before it, and a check on those would promise too much (review_sim, Banking77:
    a second generation accepted 96 suggestions 88.5 % right on it). Only the documents a person
    labeled after the last acceptance are then checked: they came from the documents it left."""
    with store.session() as session:
        since = decisions.labeled_since_acceptance(session, get_project(session, project_name))
    evidence = labeler.held_out(task, since)  # read off the fit the run labels with, unlocked
    with store.session() as session:
        project = get_project(session, project_name)
        # the job's row locked: of two workers that checked at once, one keeps its check
        session.execute(select(Job.id).where(Job.id == job_id).with_for_update())
        if decisions.has_archived(session, project, labeler.name, job_id):
            return 0
        return decisions.add_held_out(session, project, labeler.name, evidence, job_id)


def suggest(
    store: Store,
    project_name: str,
    labeler: Labeler,
    *,
    docs: str | Sequence[str] = "unlabeled",
    classes: Sequence[str] | None = None,
    limit: int | None = None,
    on_progress: Progress | None = None,
    below: float | None = None,
    refresh: bool = False,
) -> SuggestReport:
    """Label the chosen documents and store the suggestions, without a job record (quick
    runs): the labeling loop of jobs, storing each wave as it arrives; returns what happened.
    With ``below``, only the documents the cheap labelers score below it; with ``refresh``,
    the labeler's pending suggestions on the documents it answers are replaced."""
    progress = on_progress or (lambda done, total: None)
    task, ids, skipped = plan(
        store, project_name, labeler, docs, classes, limit, below=below, refresh=refresh
    )
    report = SuggestReport(
        labeler=labeler.name,
        model=labeler.model_id,
        documents=len(ids),
        skipped=sum(skipped.values()),
    )
    failures: dict[str, list[str]] = defaultdict(list)
    names: dict[int, str] = {}
    todo = deque(ids)
    done = 0

    def take(n: int) -> list[DocInput]:
        chunk = [todo.popleft() for _ in range(min(n, len(todo)))]
        inputs, chunk_names = load_inputs(store, chunk)
        names.update(chunk_names)
        return inputs

    def store_wave(answered: list[Answered]) -> None:
        nonlocal done
        new = []
        for wave in answered:
            new += to_suggestions(task, labeler, wave.outcomes)
            for out in wave.outcomes:
                report.prompt_tokens += out.prompt_tokens
                report.completion_tokens += out.completion_tokens
                if out.failure:
                    report.failed += 1
                    if len(failures[out.failure]) < 5:
                        failures[out.failure].append(f"{names[out.doc_id]}: {out.detail}")
                elif out.predictions:
                    report.suggested += 1
            done += len(wave.ids)
        with store.session() as session:
            project = get_project(session, project_name)
            if refresh:
                rules.replace_pending(session, project, labeler.name, answered_ids(answered))
            rules.add_suggestions(session, project, new)
        report.suggestions += len(new)
        progress(done, len(ids))

    survey(store, labeler, task, ids)
    progress(0, len(ids))
    LabelingLoop(labeler, task).run(take, store_wave)
    report.failures = dict(failures)
    return report


@dataclass
class DryRun:
    """How a labeler does on documents whose labels the user already set."""

    documents: int
    agreement: float  # share of documents whose suggested classes equal the user's
    evaluation: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int
    failed: int


def dry_run_inputs(
    store: Store,
    project_name: str,
    n: int,
    classes: Sequence[str] | None = None,
    seed: int = 0,
) -> tuple[LabelTask, list[DocInput], dict[int, str], list[DocInput]]:
    """The dry run's task (the sampled documents left out of its examples, so the labeler
    cannot copy the answer), the sampled user-labeled documents, their names, and the same
    documents as the labeler sees them (as if unlabeled)."""
    import random

    with store.session() as session:
        project = get_project(session, project_name)
        task = build_task(session, project, classes)
        labeled = list(
            session.scalars(
                select(Document.id)
                .where(filter_clause(project, DocFilter.LABELED, None))
                .order_by(Document.id)
            )
        )
    chosen = sorted(random.Random(seed).sample(labeled, min(n, len(labeled))))
    if not chosen:
        raise LabelwiseError(
            f"project {project_name!r} has no user-labeled documents to check the labeler on"
        )
    inputs, names = load_inputs(store, chosen)
    held = {d.content_hash for d in inputs}
    task = LabelTask(
        task.kind,
        task.classes,
        tuple(e for e in task.examples if e.content_hash not in held),
        task.language,
    )
    blind = [DocInput(d.id, d.text, d.content_hash) for d in inputs]
    return task, inputs, names, blind


def dry_run(
    store: Store,
    project_name: str,
    labeler: Labeler,
    n: int,
    classes: Sequence[str] | None = None,
    seed: int = 0,
) -> DryRun:
    """Run ``labeler`` on up to ``n`` user-labeled documents without storing anything. The
    documents are left out of the labeler's examples, so it cannot copy the answer."""
    from labelwise.training.metrics import evaluate

    task, inputs, names, blind = dry_run_inputs(store, project_name, n, classes, seed)
    truth = [[c for c in d.exclude if c in task.class_names] for d in inputs]
    if labeler.wants_survey(task):  # what a run would survey: the documents to label, and these
        with store.session() as session:
            unlabeled = list(
                session.scalars(
                    select(Document.id).where(
                        filter_clause(get_project(session, project_name), DocFilter.UNLABELED, None)
                    )
                )
            )
        survey(store, labeler, task, unlabeled + [d.id for d in blind], seed)
    outcomes = labeler.label(task, blind)
    labeler.flush()
    to_suggestions(task, labeler, outcomes)  # marks answers outside the task as failures
    predicted = [[p.class_name for p in o.predictions] for o in outcomes]
    ev = evaluate(task.kind, task.class_names, truth, predicted, [names[d.id] for d in inputs])
    agree = sum(set(t) == set(p) for t, p in zip(truth, predicted, strict=True))
    return DryRun(
        len(inputs),
        agree / len(inputs),
        ev,
        sum(o.prompt_tokens for o in outcomes),
        sum(o.completion_tokens for o in outcomes),
        sum(o.failure is not None for o in outcomes),
    )
