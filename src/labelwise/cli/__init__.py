"""The `labelwise` command: thin commands over the library."""

from __future__ import annotations

import typer

from labelwise.cli import documents, labeling, review, training
from labelwise.cli.classes import class_app
from labelwise.cli.common import App, JsonOpt, emit_json, get_store, out, progress_bar
from labelwise.cli.llm import llm_app
from labelwise.cli.projects import db_app, project_app

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
app.command("train")(training.train)
app.command("evaluate")(training.evaluate)
app.command("models")(training.models)
app.add_typer(training.model_app, name="model")
app.command("deploy")(training.deploy)
app.command("deployments")(training.deployments)
app.command("predict")(training.predict)


@app.command("demo")
def demo(
    project: str = typer.Option(
        "demo-banking77", help="Name of the demo project (replaced if it exists)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Run the demo: a Banking77 sample project, imported and summarized (offline)."""
    from labelwise.demo import run_demo

    with progress_bar("importing the demo sample", quiet=as_json) as on_progress:
        result = run_demo(get_store(), project, on_progress)
    s = result.summary
    if as_json:
        emit_json(
            {"project": result.project, "import": result.imported.to_dict(), "summary": s.to_dict()}
        )
        return
    out.print(
        f"demo project {s.name!r}: {s.documents} documents, {len(s.classes)} classes, "
        f"{s.labeled} labeled ({s.train} train / {s.test} test), {s.unlabeled} unlabeled"
    )
    for name, counts in s.classes.items():
        out.print(f"  {name:<36} {counts['labels']:>3} labels")
    out.print(f"next: labelwise docs {s.name} --filter unlabeled | labelwise project show {s.name}")


def main() -> None:
    app()
