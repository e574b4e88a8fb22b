"""`labelwise autolabel`, `labelwise jobs`, `labelwise job show|cancel|resume`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from labelwise.cli.common import (
    App,
    JsonOpt,
    YesOpt,
    confirm,
    emit_json,
    err,
    get_store,
    live_progress,
    out,
)
from labelwise.cli.labeling import (
    BatchOpt,
    BelowOpt,
    ClassesOpt,
    ConcurrencyOpt,
    DocsOpt,
    DocsPerRequestOpt,
    FewShotOpt,
    LabelerOpt,
    LlmOpt,
    RationaleOpt,
    RefreshOpt,
    UncertainOpt,
    left_out_line,
    llm_options,
    parse_classes,
    parse_docs,
)
from labelwise.domain import JobStatus
from labelwise.jobs import runner
from labelwise.jobs.ending import JobProgress
from labelwise.labelers import labeler_class
from labelwise.labelers.openai import OpenAILabeler
from labelwise.schemas import JobPublic
from labelwise.store import jobs as svc

job_app = App(help="Show, cancel and resume autolabel jobs.")


@contextmanager
def job_bar(quiet: bool) -> Iterator[Callable[[JobProgress], None]]:
    """The CLI's listener on the runner's ``on_progress``: done, failed, docs/s, tokens, cost."""
    if quiet:
        yield lambda p: None
        return
    columns = (
        TextColumn("job {task.fields[job]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[figures]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with live_progress(*columns) as bar:
        task = bar.add_task("", total=None, job="", figures="")

        def listen(p: JobProgress) -> None:
            bar.update(
                task,
                total=p.total,
                completed=p.done + p.failed,
                job=p.job_id,
                figures=f"{p.failed} failed, {p.docs_per_second:.1f} docs/s, "
                f"{p.prompt_tokens + p.completion_tokens} tokens, ${p.cost_usd:.4f}",
            )

        yield listen


def _show_end(job_id: int, as_json: bool) -> None:
    data = runner.show(get_store(), job_id)
    if as_json:
        emit_json(data, JobPublic)
        return
    out.print(
        f"job {data['id']} {data['status']}: {data['done']} done, {data['failed']} failed, "
        f"{data['pending']} pending of {data['total']}; {data['suggestions']} suggestions; "
        f"{data['prompt_tokens'] + data['completion_tokens']} tokens, "
        f"${data['cost_usd']:.4f}" + (f" ({data['reason']})" if data["reason"] else "")
    )
    for reason, info in data["failures"].items():
        out.print(f"  failed ({reason}) x{info['count']}: {'; '.join(info['examples'])}")


def autolabel(
    project: str,
    labeler: str = LabelerOpt,
    llm: str | None = LlmOpt,
    model: str | None = typer.Option(None, "--model", help="model: the trained model to use."),
    docs: str = DocsOpt,
    classes: str | None = ClassesOpt,
    budget: float | None = typer.Option(None, help="Stop before spending more than this (USD)."),
    limit: int | None = typer.Option(None, min=1, help="At most this many documents."),
    docs_per_request: int = DocsPerRequestOpt,
    rationale: bool = RationaleOpt,
    few_shot: int = FewShotOpt,
    concurrency: int = ConcurrencyOpt,
    batch: bool = BatchOpt,
    only_uncertain: bool = UncertainOpt,
    below: float = BelowOpt,
    dry_run_on_labeled: int | None = typer.Option(
        None,
        min=1,
        help="First check the labeler on N user-labeled documents (nothing stored) "
        "and ask before going on.",
    ),
    queue: bool = typer.Option(
        False, "--queue", help="Only create the job and leave it to `labelwise worker` processes."
    ),
    refresh: bool = RefreshOpt,
    retrain_every: int | None = typer.Option(
        None,
        "--retrain-every",
        min=1,
        help="embedded: after the job, stay and, each time N more labels arrive (from the "
        "pages, the API or another shell), refit the labeler on all of them and refresh its "
        "suggestions, until Ctrl-C. With --queue the server or `labelwise worker` does it "
        "(until `labelwise job cancel` on the chain's last job).",
    ),
    yes: bool = YesOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Start an autolabel job: shows the estimate, asks, then runs it with progress."""
    store = get_store()
    if retrain_every is not None and labeler_class(labeler).name != "embedding":
        raise typer.BadParameter(
            "--retrain-every refits the embedded labeler as labels arrive, so it is for "
            "--labeler embedded; to retrain a trained model, run `labelwise train` and then "
            "autolabel --labeler model --refresh"
        )
    options = llm_options(labeler, docs_per_request, rationale, few_shot, concurrency, batch)
    class_list = parse_classes(classes)
    doc_choice = parse_docs(docs)
    uncertain = below if only_uncertain else None
    if dry_run_on_labeled:
        from labelwise.autolabel import dry_run, make_labeler
        from labelwise.costs import cost as price_of

        checker = make_labeler(
            store, labeler, llm=llm, options=options or None, project=project, model=model
        )
        if isinstance(checker, OpenAILabeler):  # it spends money: say how much, then ask
            from labelwise.estimate import estimate_dry_run

            n, prompt, completion, dry_cost = estimate_dry_run(
                store, project, checker, dry_run_on_labeled, class_list
            )
            price = "unknown (no price)" if dry_cost is None else f"${dry_cost:.4f}"
            err.print(
                f"dry run estimate: {n} labeled documents, {prompt:,} prompt tokens, "
                f"~{completion:,} completion tokens, {price}"
            )
            confirm("send the dry run?", yes)
        check = dry_run(store, project, checker, dry_run_on_labeled, class_list)
        spent = price_of(checker.price_model, check.prompt_tokens, check.completion_tokens) or 0.0
        err.print(
            f"dry run on {check.documents} labeled documents: {check.agreement:.1%} agree "
            f"with the user labels, {check.failed} failed, "
            f"{check.prompt_tokens + check.completion_tokens} tokens, ${spent:.4f}"
        )
        for cls, m in check.evaluation["per_class"].items():
            if m["support"] or m["fp"]:
                err.print(
                    f"  {cls}: precision {m['precision']:.2f}, recall {m['recall']:.2f} "
                    f"({m['support']} labeled)"
                )
        confirm("go on with the job?", yes)
    if labeler == "openai":
        from labelwise.estimate import estimate_for_connection

        est = estimate_for_connection(
            store,
            project,
            llm,
            options,
            docs=doc_choice,
            classes=class_list,
            limit=limit,
            below=uncertain,
        )
        cost = "unknown (no price)" if est.cost_usd is None else f"${est.cost_usd:.4f}"
        err.print(
            f"estimate: {est.documents} documents, {est.prompt_tokens:,} prompt tokens "
            f"({'exact' if est.exact else 'estimated'}), ~{est.completion_tokens:,} "
            f"completion tokens, {cost}; charged per token by the provider"
        )
        err.print(f"  {left_out_line(est)}")
        if budget is not None:
            err.print(f"budget: ${budget:.4f} (the job stops before passing it)")
        confirm("start the job?", yes)
    job_id = runner.create(
        store,
        project,
        labeler,
        llm=llm or "",
        model=model or "",
        docs=doc_choice,
        classes=class_list,
        options=options,
        budget_usd=budget,
        limit=limit,
        below=uncertain,
        refresh=refresh,
        retrain_every=retrain_every if queue else None,  # else this process refits
    )
    if queue:
        err.print(f"job {job_id} queued; `labelwise worker` processes will run it")
        if retrain_every is not None:
            err.print(
                f"and the server or a worker will refit every {retrain_every} labels until "
                f"`labelwise job cancel` on the chain's last job"
            )
        _show_end(job_id, as_json)
        return
    err.print(f"job {job_id} created; if it is interrupted: labelwise job resume {job_id}")
    with job_bar(as_json) as listen:
        runner.run(store, job_id, listen)
    _show_end(job_id, as_json)
    if retrain_every is not None:
        refit_as_labels_arrive(project, retrain_every, doc_choice, class_list, limit, as_json)


def refit_as_labels_arrive(
    project: str,
    every: int,
    docs: str | list[str],
    classes: list[str] | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Each time ``every`` more labels arrive, a refreshed embedded job (it refits on all the
    labels and replaces its pending suggestions); until Ctrl-C. An interrupted job stays
    resumable, as any job."""
    from labelwise.autolabel import labels_in, wait_for_labels

    store = get_store()
    seen, runs = labels_in(store, project), 0
    try:
        while True:
            err.print(
                f"{seen} labels; refitting when {every} more arrive (review in the pages or "
                "the API); Ctrl-C stops"
            )
            seen = wait_for_labels(store, project, seen + every) or seen
            job_id = runner.create(
                store,
                project,
                "embedding",
                docs=docs,
                classes=classes,
                limit=limit,
                refresh=True,
            )
            err.print(f"refitting on {seen} labels: job {job_id}")
            with job_bar(as_json) as listen:
                runner.run(store, job_id, listen)
            _show_end(job_id, as_json)
            runs += 1
    except KeyboardInterrupt:
        err.print(f"stopped after {runs} refits")


def jobs(project: str, as_json: bool = JsonOpt) -> None:
    """List a project's jobs, newest first."""
    rows = runner.project_jobs(get_store(), project)
    if as_json:
        emit_json(rows, list[JobPublic])
        return
    table = Table(caption="docs: done/failed/total · review: accepted/rejected")
    table.add_column("job", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True, min_width=max(len(s) for s in JobStatus))
    table.add_column("labeler", overflow="fold")
    table.add_column("docs", justify="right", overflow="fold")
    table.add_column("tokens", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("review", justify="right", overflow="fold")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["status"],
            r["labeler"] + (f" {r['llm']}" if r["llm"] else ""),
            f"{r['done']}/{r['failed']}/{r['total']}",
            f"{r['prompt_tokens'] + r['completion_tokens']:,}",
            f"${r['cost_usd']:.4f}",
            f"{r['review']['accepted']}/{r['review']['rejected']}",
        )
    out.print(table if rows else f"{project!r} has no jobs: labelwise autolabel {project}")


@job_app.command("show")
def show(job_id: int, as_json: bool = JsonOpt) -> None:
    """A job's status, counts, tokens, cost, times and failures by reason."""
    _show_end(job_id, as_json)


@job_app.command("cancel")
def cancel(job_id: int) -> None:
    """Ask a job to stop after the requests in flight; on a refit chain's last job that ended,
    stop the chain."""
    with get_store().session() as session:
        done = svc.request_cancel(session, job_id)
    if done == svc.Cancelled.CHAIN_STOPPED:
        out.print(f"job {job_id} had ended; its refit chain is stopped (no job follows it)")
    elif done == svc.Cancelled.CANCELLED:
        out.print(f"job {job_id} cancelled")
    else:
        out.print(f"job {job_id}: cancel requested")


@job_app.command("resume")
def resume(
    job_id: int,
    retry_failed: bool = typer.Option(False, help="Also send the failed documents again."),
    budget: float | None = typer.Option(
        None, min=0.0, help="A new budget in USD for the whole job (e.g. after budget_reached)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Go on with a job that was interrupted (killed, cancelled, stopped by its budget):
    documents already done are not sent again. Takes over the documents other processes had
    claimed, so do not resume a job that workers are still running."""
    runner.set_budget(get_store(), job_id, budget)
    if retry_failed:
        with get_store().session() as session:
            n = svc.reset_failed(session, job_id)
        err.print(f"job {job_id}: {n} failed documents will be sent again")
    with job_bar(as_json) as listen:
        runner.run(get_store(), job_id, listen, takeover=True)
    _show_end(job_id, as_json)


def worker(
    poll: float = typer.Option(2.0, min=0.1, help="Seconds between looks for work when idle."),
    claim_timeout: float = typer.Option(
        runner.CLAIM_TIMEOUT,
        min=1.0,
        help="Seconds after which the claims of a worker that stopped renewing them are taken.",
    ),
    exit_when_idle: bool = typer.Option(
        False, help="Stop when no job has work left instead of waiting for more."
    ),
) -> None:
    """Run queued and running autolabel jobs together with other workers sharing the database
    (PostgreSQL for workers on several machines); stop with Ctrl-C."""
    from labelwise.jobs.worker import work

    name = runner.worker_name()
    err.print(f"worker {name} started; waiting for jobs (Ctrl-C stops)")
    try:
        runs = work(
            get_store(),
            worker=name,
            poll=poll,
            claim_timeout=claim_timeout,
            exit_when_idle=exit_when_idle,
            on_job=lambda job_id, status: err.print(f"job {job_id}: {status}"),
        )
    except KeyboardInterrupt:
        err.print("worker stopped; its unfinished claims are taken over by others")
        raise typer.Exit(130) from None
    err.print(f"worker {name} idle after {runs} job runs; exiting")
