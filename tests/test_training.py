"""Training, evaluation, artifacts, deployments, prediction and the model as a labeler."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from labelwise.autolabel import make_labeler, suggest
from labelwise.cli import app
from labelwise.domain import Conflict, Dataset, LabelwiseError, ProjectKind
from labelwise.store import Store, trained
from labelwise.store import labels as rules
from labelwise.store.documents import get_document, set_dataset
from labelwise.store.models import TrainedModel
from labelwise.store.projects import get_project
from labelwise.training.artifact import Artifact
from labelwise.training.metrics import evaluate
from labelwise.training.predict import MAX_CHARACTERS, check_request, predict
from labelwise.training.split import LabeledDoc, auto_split, manual_split
from labelwise.training.train import TrainOptions, train_model
from tests.helpers import make_project

TEXTS = {
    "weather": [
        "Heavy rain and wind tomorrow.",
        "Sunny and warm all weekend.",
        "Snow is expected tonight in the hills.",
        "A cold front brings thunderstorms.",
        "Fog will clear by noon, then sunshine.",
        "Temperatures drop below freezing.",
    ],
    "sports": [
        "The home team won the final match.",
        "The striker scored twice.",
        "The coach was sacked after five defeats.",
        "She won the marathon in record time.",
        "The league title was decided on the last day.",
        "He signed for a rival club.",
    ],
    "cooking": [
        "Whisk eggs with sugar and bake.",
        "Fry the onions slowly in butter.",
        "Season the soup with salt and pepper.",
        "Knead the dough for ten minutes.",
        "Roast the chicken with garlic and lemon.",
        "Simmer the sauce until thick.",
    ],
}


def build(store: Store, kind: ProjectKind = ProjectKind.SINGLE_LABEL) -> None:
    docs = {f"{c}-{i}": t for c, texts in TEXTS.items() for i, t in enumerate(texts)}
    docs["new-1"] = "Light drizzle and a chilly breeze this evening."
    docs["new-2"] = "Grate the cheese over the pasta and serve."
    make_project(store, kind=kind, classes=tuple(TEXTS), docs=docs)
    with store.session() as s:
        p = get_project(s, "p")
        by = {c.name: c for c in p.classes}
        for c, texts in TEXTS.items():
            for i in range(len(texts)):
                rules.set_labels(s, p, get_document(s, p, f"{c}-{i}"), [by[c]])
        set_dataset(s, p, [f"{c}-{i}" for c in TEXTS for i in (4, 5)], Dataset.TEST)


def test_metrics_against_hand_computed_values() -> None:
    truth = [["a"], ["a"], ["b"], ["b"], ["c"]]
    pred = [["a"], ["b"], ["b"], ["b"], ["a"]]
    ev = evaluate(ProjectKind.SINGLE_LABEL, ["a", "b", "c"], truth, pred, list("vwxyz"))
    a, b, c = (ev["per_class"][k] for k in "abc")
    # a: tp1 fp1 fn1; b: tp2 fp1 fn0; c: tp0 fp0 fn1
    assert (a["tp"], a["fp"], a["fn"], a["tn"]) == (1, 1, 1, 2)
    assert a["precision"] == a["recall"] == a["f1"] == 0.5
    assert b["precision"] == pytest.approx(2 / 3) and b["recall"] == 1.0
    assert b["f1"] == pytest.approx(0.8)
    assert (c["precision"], c["recall"], c["f1"]) == (0.0, 0.0, 0.0)
    assert ev["micro"]["f1"] == pytest.approx(0.6) and ev["accuracy"] == pytest.approx(0.6)
    assert ev["macro"]["f1"] == pytest.approx((0.5 + 0.8 + 0) / 3)
    assert ev["confusion"]["matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert ev["confusion"]["normalized"][0] == [0.5, 0.5, 0.0]
    assert [m["document"] for m in ev["mismatches"]] == ["w", "z"]
    assert any(
        "'a' and 'b' are confused 1 times" in g or "'a' and 'c'" in g for g in ev["guidance"]
    )


def test_multi_label_metrics() -> None:
    ev = evaluate(ProjectKind.MULTI_LABEL, ["x", "y"], [["x", "y"], ["y"]], [["x"], ["x", "y"]])
    assert ev["per_class"]["x"]["fp"] == 1 and ev["per_class"]["y"]["fn"] == 1
    assert ev["micro"]["precision"] == pytest.approx(2 / 3)
    assert "confusion" not in ev


def _docs(counts: dict[str, int], dataset: str = "train") -> list[LabeledDoc]:
    out, n = [], 0
    for c, k in counts.items():
        for _ in range(k):
            n += 1
            out.append(LabeledDoc(n, f"d{n}", "t", f"h{n}", dataset, (c,)))
    return out


def test_auto_split_is_stratified() -> None:
    docs = _docs({"a": 10, "b": 2, "c": 1}) + _docs({"a": 3}, "test")
    train, test = auto_split(docs, 80)
    count = lambda ds, c: sum(d.labels[0] == c for d in ds)  # noqa: E731
    assert (count(train, "a"), count(test, "a")) == (8, 2)
    assert (count(train, "b"), count(test, "b")) == (1, 1)
    assert (count(train, "c"), count(test, "c")) == (1, 0)
    assert all(d.dataset == "train" for d in train + test)  # the test set is not used
    assert auto_split(docs, 80) == (train, test)  # deterministic
    with pytest.raises(LabelwiseError, match="from 1 to 99"):
        auto_split(docs, 100)


def test_manual_split_needs_a_test_set() -> None:
    with pytest.raises(LabelwiseError, match="needs labeled documents in the test set"):
        manual_split(_docs({"a": 3}))
    train, test = manual_split(_docs({"a": 3}) + _docs({"a": 1}, "test"))
    assert (len(train), len(test)) == (3, 1)


def test_training_deletes_unaccepted_suggestions_and_keeps_counts(store: Store) -> None:
    build(store)
    with store.session() as s:
        p = get_project(s, "p")
        ids = [get_document(s, p, n).id for n in ("new-1", "new-2")]
        rejected, _ = rules.add_suggestions(
            s,
            p,
            [
                rules.NewSuggestion(ids[0], "sports", 0.4, "llm", job_id=5),
                rules.NewSuggestion(ids[1], "cooking", 0.9, "llm", job_id=5),
            ],
        )
        rules.reject(s, p, rejected.id)
    result = train_model(store, "p", "m1", TrainOptions(manual_split=True))
    assert result.discarded_suggestions == 2
    with store.session() as s:
        p = get_project(s, "p")
        assert rules.reviewable_suggestions(s, p) == []
        assert rules.outcomes(s, p)["job:5"] == {"accepted": 0, "rejected": 1, "discarded": 1}
    assert result.evaluation["accuracy"] >= 5 / 6  # 6 test documents, 3 clear topics
    assert result.train_documents == 12 and result.test_documents == 6
    assert any("only 4 training documents" in w for w in result.warnings)


def test_refuses_a_class_without_labels_and_keeps_suggestions(store: Store) -> None:
    build(store)
    with store.session() as s:
        p = get_project(s, "p")
        from labelwise.store.classes import add_class

        add_class(s, p, "finance")
        rules.add_suggestions(
            s, p, [rules.NewSuggestion(get_document(s, p, "new-1").id, "weather", 0.5, "llm")]
        )
    with pytest.raises(LabelwiseError, match="no labeled training document: finance"):
        train_model(store, "p", "m1")
    with store.session() as s:
        p = get_project(s, "p")
        assert len(rules.reviewable_suggestions(s, p)) == 1  # refused before deleting anything
        assert trained.list_models(s, p) == []


def test_artifact_round_trip_and_tamper_refusal(store: Store) -> None:
    build(store)
    train_model(store, "p", "m1", TrainOptions(manual_split=True))
    with store.session() as s:
        row = trained.get_model(s, get_project(s, "p"), "m1")
        data, config = bytes(row.arrays or b""), dict(row.config)
    art = Artifact.from_bytes(data, config)
    again_data, again_config = art.to_bytes()
    assert again_config["sha256"] == config["sha256"] or again_data  # re-savable
    probe = np.random.default_rng(0).normal(size=(3, art.coef.shape[1]))
    assert np.allclose(
        Artifact.from_bytes(again_data, again_config).probabilities(probe), art.probabilities(probe)
    )
    assert config["labels"] == list(TEXTS) and config["training_data_hash"]
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    with pytest.raises(LabelwiseError, match="SHA-256"):
        Artifact.from_bytes(bytes(tampered), config)
    with pytest.raises(LabelwiseError, match="do not fit its labels"):
        Artifact.from_bytes(data, {**config, "labels": ["only", "two", "of", "four"]})
    # tampering with the stored row is caught when predicting
    with store.session() as s:
        s.get(TrainedModel, row.id).arrays = bytes(tampered)  # type: ignore[union-attr]
    with pytest.raises(LabelwiseError, match="changed after training"):
        predict(store, "p", ["hello"], model="m1")


@pytest.mark.parametrize("algorithm", ["embedding-logreg", "tfidf-logreg"])
def test_deploy_and_predict(store: Store, algorithm: str) -> None:
    build(store)
    train_model(store, "p", "m1", TrainOptions(algorithm=algorithm, manual_split=True))
    with store.session() as s:
        trained.deploy(s, get_project(s, "p"), "m1", "production")
    texts = ["Rain and wind all day long.", "Bake the bread in a hot oven."]
    results = predict(store, "p", texts, deployment="production")
    if algorithm == "embedding-logreg":
        assert [r["class"][0]["category"] for r in results] == ["weather", "cooking"]
    for r in results:
        assert set(r["scores"]) == set(TEXTS)
        assert sum(r["scores"].values()) == pytest.approx(1, abs=1e-5)
    train_model(store, "p", "m2", TrainOptions(algorithm="tfidf-logreg", manual_split=True))
    with store.session() as s:
        p = get_project(s, "p")
        trained.deploy(s, p, "m2", "production")  # swap
        assert [(d.name, m) for d, m in trained.list_deployments(s, p)] == [("production", "m2")]
        with pytest.raises(Conflict, match="deployed as production"):
            trained.delete_model(s, p, "m2")


def test_multi_label_training(store: Store) -> None:
    build(store, ProjectKind.MULTI_LABEL)
    result = train_model(store, "p", "m", TrainOptions(manual_split=True))
    assert result.evaluation["micro"]["f1"] >= 0.6
    with store.session() as s:
        row = trained.get_model(s, get_project(s, "p"), "m")
        art = Artifact.from_bytes(row.arrays or b"", dict(row.config))
    assert art.thresholds is not None and len(art.thresholds) == 3
    [r] = predict(store, "p", ["Snow and a cold wind tonight."], model="m")
    assert "weather" in [c["category"] for c in r["class"]]


def test_one_training_per_project_and_unique_names(store: Store) -> None:
    build(store)
    with store.session() as s:
        trained.start_training(s, get_project(s, "p"), "running", "embedding-logreg")
    with pytest.raises(Conflict, match="already running"):
        train_model(store, "p", "second", TrainOptions(manual_split=True))
    with store.session() as s:
        trained.fail_training(s, trained.get_model(s, get_project(s, "p"), "running").id, "x")
    train_model(store, "p", "second", TrainOptions(manual_split=True))
    with pytest.raises(Conflict, match="never change"):
        train_model(store, "p", "second", TrainOptions(manual_split=True))


def test_a_training_whose_process_died_does_not_block(store: Store) -> None:
    import subprocess
    import sys

    build(store)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    with store.session() as s:
        row = trained.start_training(s, get_project(s, "p"), "killed", "embedding-logreg")
        row.config = {**row.config, "pid": int(dead.stdout)}  # that process has exited
    train_model(store, "p", "next", TrainOptions(manual_split=True))
    with store.session() as s:
        killed = trained.get_model(s, get_project(s, "p"), "killed")
        assert killed.status == "failed" and "died" in killed.error


def test_prediction_request_limits() -> None:
    check_request(["a"] * 25)
    with pytest.raises(LabelwiseError, match="26 documents in one request; the limit is 25"):
        check_request(["a"] * 26)
    with pytest.raises(LabelwiseError, match="125,000 for all documents"):
        check_request(["x" * (MAX_CHARACTERS // 2 + 1)] * 2)
    with pytest.raises(LabelwiseError, match="document 1 is empty"):
        check_request(["a", " "])


def test_model_as_labeler_end_to_end(store: Store) -> None:
    build(store)
    train_model(store, "p", "m1", TrainOptions(manual_split=True))
    labeler = make_labeler(store, "model", project="p", model="m1")
    report = suggest(store, "p", labeler)
    assert (report.documents, report.suggested, report.failed) == (2, 2, 0)
    with store.session() as s:
        p = get_project(s, "p")
        names = {c.id: c.name for c in p.classes}
        got = {
            x.document_id: (names[x.class_id], x.labeler, x.model)
            for x in rules.reviewable_suggestions(s, p)
        }
        ids = {get_document(s, p, n).id: n for n in ("new-1", "new-2")}
    assert {ids[k]: v for k, v in got.items()} == {
        "new-1": ("weather", "model", "m1"),
        "new-2": ("cooking", "model", "m1"),
    }


def test_training_cli(runner: CliRunner, cli_env: str, tmp_path: Path) -> None:
    from labelwise.cli.common import get_store

    build(get_store())
    result = runner.invoke(app, ["train", "p", "--model", "m", "--manual-split"])
    assert result.exit_code == 0, result.stderr
    assert "warning: class 'weather' has only 4" in result.stderr
    png = tmp_path / "cm.png"
    result = runner.invoke(app, ["evaluate", "p", "m", "--plot", str(png)])
    assert result.exit_code == 0 and png.read_bytes()[:4] == b"\x89PNG"
    assert "(macro)" in result.stdout
    ev = json.loads(runner.invoke(app, ["evaluate", "p", "m", "--json"]).stdout)
    assert ev["documents"] == 6
    assert runner.invoke(app, ["deploy", "p", "m"]).exit_code == 0
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"text": "Thunder and hail this afternoon."}\n', encoding="utf-8")
    out = json.loads(
        runner.invoke(
            app, ["predict", "p", "Whisk the cream", "--file", str(lines), "--json"]
        ).stdout
    )
    assert [r["class"][0]["category"] for r in out] == ["cooking", "weather"]
    shown = json.loads(runner.invoke(app, ["model", "show", "p", "m", "--json"]).stdout)
    assert shown["config"]["labels"] == list(TEXTS)
    result = runner.invoke(app, ["suggest", "p", "--labeler", "model", "--model", "m", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["suggested"] == 2
    bad = runner.invoke(app, ["train", "p", "--model", "m2", "--algorithm", "svm"])
    assert bad.exit_code == 1 and "algorithm 'svm' is unknown" in bad.stderr
    with get_store().session() as s:
        assert s.scalars(select(TrainedModel.name)).all() == ["m"]
