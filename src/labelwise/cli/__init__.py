"""The `labelwise` command: thin commands over the library."""

from __future__ import annotations

from pathlib import Path

import typer

from labelwise.cli import documents, jobs, labeling, review, serve, training
from labelwise.cli.classes import class_app
from labelwise.cli.common import App, JsonOpt, emit_json, get_store, out, progress_steps
from labelwise.cli.llm import llm_app
from labelwise.cli.projects import db_app, project_app
from labelwise.cli.training import print_evaluation

app = App(help="labelwise: custom text classification with LLM autolabeling.")
app.add_typer(project_app, name="project")
app.add_typer(class_app, name="class")
app.add_typer(db_app, name="db")
app.add_typer(llm_app, name="llm")
app.command("import")(documents.import_)
app.command("export")(documents.export)
app.command("docs")(documents.docs)
app.command("doc")(documents.doc)
app.command("label")(documents.label)
app.command("unlabel")(documents.unlabel)
app.command("dataset")(documents.dataset)
app.command("suggestions")(review.suggestions)
app.command("accept")(review.accept)
app.command("reject")(review.reject)
app.command("suggest")(labeling.suggest)
app.command("estimate")(labeling.estimate)
app.command("accept-above")(review.accept_above)
app.command("calibration")(review.calibration)
app.command("audit")(review.audit)
app.command("train")(training.train)
app.command("evaluate")(training.evaluate)
app.command("models")(training.models)
app.add_typer(training.model_app, name="model")
app.command("deploy")(training.deploy)
app.command("deployments")(training.deployments)
app.command("predict")(training.predict)
app.command("serve")(serve.serve)
app.command("autolabel")(jobs.autolabel)
app.command("jobs")(jobs.jobs)
app.add_typer(jobs.job_app, name="job")
app.command("worker")(jobs.worker)


@app.command("demo")
def demo(
    project: str = typer.Option(
        "demo-banking77", help="Name of the demo project (replaced if it exists)."
    ),
    files: Path | None = typer.Option(
        None,
        help="Only write the README tour's sample files into this folder (mail/, tickets.csv, "
        "tickets.jsonl) and stop.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Run the whole loop offline on a Banking77 sample: import, autolabel, accept, train,
    evaluate, deploy, predict."""
    from labelwise.demo import ACCEPT_ABOVE, run_demo

    if files is not None:
        from labelwise.tour import write_tour_files

        for path in write_tour_files(files):
            out.print(f"wrote {path}")
        return

    with progress_steps(quiet=as_json) as step:
        r = run_demo(get_store(), project, step)
    s = r.summary
    if as_json:
        emit_json(
            {
                "project": r.project,
                "import": r.imported.to_dict(),
                "job": r.job,
                "suggestion_accuracy": r.suggestion_accuracy,
                "accepted": r.accepted,
                "train": {k: v for k, v in r.trained.__dict__.items()},
                "predictions": r.predictions,
                "summary": s.to_dict(),
            }
        )
        return
    out.print(
        f"1. imported {r.imported.inserted} documents into {r.project!r}: "
        f"{len(s.classes)} classes, {r.imported.inserted - r.job['total']} labeled "
        f"by hand, {r.job['total']} unlabeled"
    )
    out.print(
        f"2. autolabel job {r.job['id']} with the embedded labeler (offline) suggested labels "
        f"for {r.job['done']} documents; {r.suggestion_accuracy:.1%} match the sample's true "
        "labels"
    )
    out.print(f"3. accepted {r.accepted} suggestions with confidence >= {ACCEPT_ABOVE}")
    t = r.trained
    out.print(
        f"4. trained {t.model!r} on {t.train_documents} documents in {t.seconds:.1f} s "
        f"({t.discarded_suggestions} unaccepted suggestions deleted); evaluation on "
        f"{t.test_documents} test documents:"
    )
    print_evaluation(t.evaluation)
    out.print("5. deployed it as 'production'; predictions:")
    from labelwise.demo import TRY_TEXTS

    for text, p in zip(TRY_TEXTS, r.predictions, strict=True):
        best = p["class"][0]
        out.print(f"   {text!r} -> {best['category']} ({best['confidenceScore']:.2f})")
    out.print("next, one command a line:")
    out.print(f"  labelwise project show {s.name}")
    out.print(f'  labelwise predict {s.name} "TEXT"')
    out.print("  labelwise serve    # then open http://127.0.0.1:8000 to review in the browser")


def main() -> None:
    app()
