"""`labelwise suggest` and `labelwise estimate`: run a labeler, or price it first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from labelwise.cli.common import JsonOpt, emit_json, get_store, option_error, out, progress_bar
from labelwise.domain import UNCERTAIN_BELOW, LabelwiseError
from labelwise.labelers.openai import RunOptions

LabelerOpt = typer.Option(
    "embedded", help="embedded (offline, the default), openai (with --llm) or model (with --model)."
)
LlmOpt = typer.Option(None, "--llm", help="The LLM connection (labelwise llm list) for openai.")
DocsOpt = typer.Option(
    "unlabeled", help="unlabeled, all, auto-labeled, or a file of document names (one a line)."
)
ClassesOpt = typer.Option(None, help="Only these classes, comma-separated [default: all].")
UncertainOpt = typer.Option(
    False,
    "--only-uncertain",
    help="openai: send only documents the embedded labeler and trained models are not sure "
    "of (their best calibrated score is below --below).",
)
RefreshOpt = typer.Option(
    False,
    "--refresh",
    help="embedded, model: label documents again that have pending suggestions of the "
    "labeler and replace those with the new ones (the embedded labeler refits on the labels "
    "given since).",
)
BelowOpt = typer.Option(
    UNCERTAIN_BELOW, "--below", min=0.0, max=1.0, help="With --only-uncertain: the score."
)


def run_option(field: str, *names: str) -> Any:
    """The typer option of one :class:`RunOptions` field: its default, limits and description
    as declared there."""
    info = RunOptions.model_fields[field]
    limits = {
        key: getattr(m, attr)
        for m in info.metadata
        for attr, key in (("ge", "min"), ("le", "max"))
        if getattr(m, attr, None) is not None
    }
    return typer.Option(info.default, *names, help=f"openai: {info.description}", **limits)


DocsPerRequestOpt = run_option("docs_per_request", "--docs-per-request")
RationaleOpt = run_option("rationale", "--rationale/--no-rationale")
FewShotOpt = run_option("few_shot", "--few-shot")
ConcurrencyOpt = run_option("concurrency", "--concurrency")
BatchOpt = run_option("batch", "--batch/--no-batch")


def parse_docs(value: str) -> str | list[str]:
    """``unlabeled`` / ``all`` / ``auto-labeled``, or a file with one document name a line."""
    if value in ("unlabeled", "all", "auto-labeled"):
        return value
    path = Path(value)
    if not path.is_file():
        raise LabelwiseError(
            f"--docs {value!r} is neither unlabeled, all, auto-labeled nor a file of document names"
        )
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [n for n in names if n]


def parse_classes(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


def llm_options(
    labeler: str,
    docs_per_request: int,
    rationale: bool,
    few_shot: int,
    concurrency: int | None = None,
    batch: bool = False,
) -> dict[str, Any]:
    """The run options of an openai job, checked against :class:`RunOptions`."""
    if labeler != "openai":
        return {}
    values: dict[str, Any] = {
        "docs_per_request": docs_per_request,
        "rationale": rationale,
        "few_shot": few_shot,
    }
    if concurrency is not None:
        values["concurrency"] = concurrency
    if batch:
        values["batch"] = True
    try:
        return RunOptions.model_validate(values).model_dump(exclude_unset=True)
    except ValidationError as exc:
        raise option_error(exc) from exc


def suggest(
    project: str,
    labeler: str = LabelerOpt,
    llm: str | None = LlmOpt,
    model: str | None = typer.Option(None, "--model", help="model: the trained model to use."),
    docs: str = DocsOpt,
    classes: str | None = ClassesOpt,
    limit: int | None = typer.Option(None, min=1, help="At most this many documents."),
    docs_per_request: int = DocsPerRequestOpt,
    rationale: bool = RationaleOpt,
    few_shot: int = FewShotOpt,
    concurrency: int = ConcurrencyOpt,
    only_uncertain: bool = UncertainOpt,
    below: float = BelowOpt,
    refresh: bool = RefreshOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Suggest labels for documents with a labeler and store them for review."""
    from labelwise.autolabel import make_labeler
    from labelwise.autolabel import suggest as run

    store = get_store()
    instance = make_labeler(
        store,
        labeler,
        llm=llm,
        options=llm_options(labeler, docs_per_request, rationale, few_shot, concurrency),
        project=project,
        model=model,
    )
    with progress_bar(f"suggesting with {instance.name}", quiet=as_json) as on_progress:
        report = run(
            store,
            project,
            instance,
            docs=parse_docs(docs),
            classes=parse_classes(classes),
            limit=limit,
            on_progress=on_progress,
            below=below if only_uncertain else None,
            refresh=refresh,
        )
    if as_json:
        emit_json(report.to_dict())
        return
    out.print(
        f"{report.suggestions} suggestions for {report.suggested} of {report.documents} "
        f"documents ({report.labeler}, {report.model}); {report.skipped} skipped, "
        f"{report.failed} failed"
    )
    if report.prompt_tokens or report.completion_tokens:
        out.print(f"tokens: {report.prompt_tokens} prompt, {report.completion_tokens} completion")
    for reason, examples in report.failures.items():
        out.print(f"  failed ({reason}): {'; '.join(examples)}")
    out.print(f"review them: labelwise docs {project} --filter auto-labeled")


def left_out_line(est: Any) -> str:
    """What the estimate leaves out, and why, in words."""
    parts = []
    if est.cached is None:
        parts.append("answers cached before are not looked up with few-shot examples")
    elif est.cached:
        parts.append(f"{est.cached} answered before (cached, free)")
    left = est.left_out or {}
    if left.get("labeled"):
        parts.append(f"{left['labeled']} left out: a user label settles them")
    if left.get("already_suggested"):
        parts.append(f"{left['already_suggested']} left out: already suggested by this model")
    if getattr(est, "below", None) is not None:
        saved = "" if est.saved_usd is None else f", saving about ${est.saved_usd:.4f}"
        parts.append(
            f"{left.get('confident', 0)} left out: the embedded labeler or a trained model "
            f"already scores them at least {est.below} (calibrated){saved}"
        )
    return "; ".join(parts) if parts else "nothing left out"


def estimate(
    project: str,
    llm: str = typer.Option(..., "--llm", help="The LLM connection to price."),
    docs: str = DocsOpt,
    classes: str | None = ClassesOpt,
    limit: int | None = typer.Option(None, min=1, help="At most this many documents."),
    docs_per_request: int = DocsPerRequestOpt,
    rationale: bool = RationaleOpt,
    few_shot: int = FewShotOpt,
    batch: bool = BatchOpt,
    only_uncertain: bool = UncertainOpt,
    below: float = BelowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Print documents, prompt tokens, expected completion tokens and cost; sends nothing."""
    from labelwise.estimate import estimate_for_connection

    result = estimate_for_connection(
        get_store(),
        project,
        llm,
        llm_options("openai", docs_per_request, rationale, few_shot, batch=batch),
        docs=parse_docs(docs),
        classes=parse_classes(classes),
        limit=limit,
        below=below if only_uncertain else None,
    )
    if as_json:
        emit_json(result.to_dict())
        return
    kind = "exact" if result.exact else "estimated"
    out.print(f"{result.documents} documents in {result.requests} requests to {result.model}")
    out.print(left_out_line(result))
    out.print(f"prompt tokens: {result.prompt_tokens:,} ({kind}, {result.encoding})")
    out.print(f"completion tokens (expected): {result.completion_tokens:,}")
    if result.cost_usd is None:
        out.print(f"cost: unknown — no price for {result.price_model!r}; set LABELWISE_PRICES")
    else:
        out.print(
            f"cost: ${result.cost_usd:.4f} at ${result.price_in}/1M input, "
            f"${result.price_out}/1M output tokens"
            + (" (the Batch API's price: half the list price)" if result.batch else "")
        )
