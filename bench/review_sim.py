"""How many human decisions does it take to reach a dataset whose labels are 95 % right?

    python bench/review_sim.py [--data ../shared/data] [--pool 1000] [--batch 50]
                               [--llm-accuracy 0.85] [--datasets banking77,sms_spam,goemotions]
                               [--resuggest] [--encoder minilm-fast] [--descriptions]

A simulated reviewer answers from the gold labels. Each run starts from a fresh SQLite project
holding a pool of unlabeled documents and 8 reviewed labels per class (the reviewer's first
decisions), and repeats, until at least 95 % of the pool carries a right label:

1. the labelers suggest for the unlabeled documents; the embedded labeler also checks itself on
   the labels, held out, as an autolabel job does (after an acceptance only on the labels a
   person gave since; its first decisions; ``--no-held-out`` skips it, as labelwise did before);
2. ``accept at precision 0.95`` (the lowest threshold whose reviewed precision holds 95 % at its
   lower 90 % bound) accepts what it can, per labeler; the real precision of each acceptance is
   read from the gold labels;
3. the reviewer decides on a batch from the "most informative first" queue (one decision per
   document: ``a`` when the suggestion is right, the right class's key when it is not).

Each acceptance of the embedded labeler is also checked on documents the project never sees
(``--unseen``, 1,000 by default, drawn from the same data set outside the pool; single-label):
the same fit of the labeler suggests for them, and the share of its suggestions at or above the
acceptance's threshold that are right is printed beside the pool's real precision (weighed by
generation as the acceptance was).

Paths compared on each dataset:

- **embedded**: the embedded labeler alone (free);
- **LLM everywhere**: a loopback LLM (an OpenAI-compatible server on 127.0.0.1 whose answers are
  right with ``--llm-accuracy`` and whose logprobs are informative but imperfect) labels every
  document, then the same review and acceptance loop;
- **cascade**: the embedded labeler first, then the LLM only for the documents it is unsure of
  (``--only-uncertain --below 0.95``, calibrated on the reviewed decisions), then the loop;
- **embedded, re-suggested** (``--resuggest``): the embedded labeler suggests again each round,
  learning from the labels so far. Its confidences then change meaning, so each run is a
  generation of its own (as each autolabel job is): acceptance takes only the decisions on the
  same generation, and each round reviews a batch of the new suggestions before accepting;
- **plain** (counted, not run): the LLM labels every document and a person reviews every
  suggestion: one request and one decision per document.

Data sets: Banking77, SMS spam and GoEmotions (multi-label: 28 emotions; the reviewer's one
decision gives a document all its gold classes, a document is right when it has exactly its gold
classes, and an acceptance's precision counts the accepted classes that are gold) from the shared
data; AG News from where you keep it (``--ag-news``).

Prints one table per dataset: human decisions per 1,000 documents (with and without the 8 per
class of the start), LLM requests, the final share of right labels, and the real precision of
every acceptance made at the 0.95 target.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.llm_server

from labeler_bench import AG_DESCRIPTIONS, SMS_DESCRIPTIONS
from sqlalchemy import select
from tests.llm_server import FakeLLM, Server

from labelwise.autolabel import build_task, check_held_out, make_labeler, suggest
from labelwise.domain import DocInput, DocumentRecord, ProjectKind, content_hash
from labelwise.embeddings.registry import ENGLISH, get_encoder
from labelwise.labelers.embedding import EmbeddingLabeler
from labelwise.store import Store, decisions, open_store
from labelwise.store import labels as rules
from labelwise.store.classes import add_class
from labelwise.store.documents import write_batch
from labelwise.store.embeddings import StoreVectorCache
from labelwise.store.llm import add_connection
from labelwise.store.models import Document, Label, LabelClass, Suggestion
from labelwise.store.projects import create_project, get_project
from labelwise.store.query import DocumentQuery
from labelwise.store.trust import accept_at_precision
from labelwise.store.views import review_items

TARGET = 0.95  # share of the pool with a right label
PRECISION = 0.95  # accept-at-precision target
SEED_PER_CLASS = 8
BELOW = PRECISION  # the cascade sends the LLM what the embedded labeler cannot get accepted
DOCS_PER_REQUEST = 4


def llm_answers(
    pool: list[tuple[str, Gold]], classes: list[str], accuracy: float, seed: int
) -> tuple[dict[str, list[str]], dict[str, float]]:
    """What the loopback LLM answers for each text, and the probability its logprobs give the
    answer: right (every gold class) with ``accuracy``, else one class that is not; its
    logprobs informative but imperfect: a right answer's probability is drawn from Beta(8, 2)
    (mean 0.8) and a wrong one's from Beta(3, 3) (mean 0.5)."""
    rng = random.Random(seed)
    answers, confidence = {}, {}
    for text, gold in pool:
        right = rng.random() < accuracy
        answers[text] = list(gold) if right else [rng.choice([c for c in classes if c not in gold])]
        confidence[text] = rng.betavariate(8, 2) if right else rng.betavariate(3, 3)
    return answers, confidence


Gold = tuple[str, ...]  # a document's classes (one in a single-label data set)
Data = tuple[ProjectKind, list[str], list[tuple[str, Gold]]]


def banking77(root: Path) -> Data:
    with (root / "banking77/train.csv").open(encoding="utf-8", newline="") as fh:  # one name ends
        rows = [(r["text"], (r["category"].rstrip("?"),)) for r in csv.DictReader(fh)]  # with "?"
    return ProjectKind.SINGLE_LABEL, sorted({c for _, (c,) in rows}), rows


def goemotions(root: Path) -> Data:
    """GoEmotions' train part: Reddit comments, 28 emotions (neutral among them), multi-label."""
    names = (root / "goemotions/labels.txt").read_text(encoding="utf-8").split()
    rows = []
    with (root / "goemotions/train.tsv").open(encoding="utf-8") as fh:
        for line in fh:
            text, ids, _ = line.rstrip("\n").split("\t")
            rows.append((text, tuple(names[int(i)] for i in ids.split(","))))
    return ProjectKind.MULTI_LABEL, names, rows


def sms_spam(root: Path) -> Data:
    rows = []
    with (root / "sms_spam/SMSSpamCollection").open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            label, _, text = line.rstrip("\n").partition("\t")
            if i == 0 and label.lower() == "label":
                continue
            rows.append((text, (label,)))
    return ProjectKind.SINGLE_LABEL, ["ham", "spam"], rows


def ag_news(path: Path) -> Data:
    """AG News' test.csv (label,title,description; research use, read from where you keep it:
    ``--datasets ag_news --ag-news PATH``)."""
    names = {"1": "World", "2": "Sports", "3": "Business", "4": "Sci-Tech"}
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [
            (f"{r['title']}. {r['description']}".replace("\\", " "), (names[r["label"]],))
            for r in csv.DictReader(fh)
        ]
    return ProjectKind.SINGLE_LABEL, sorted(names.values()), rows


DATASETS = {"banking77": banking77, "sms_spam": sms_spam, "goemotions": goemotions}
AG_NEWS_DESCRIPTIONS = {  # the labeler bench's, under this bench's class names
    n.replace("/", "-"): d for n, d in AG_DESCRIPTIONS.items()
}


@dataclass
class Run:
    path: str
    pool: int
    seed_decisions: int = 0
    decisions: int = 0  # the reviewer's, after the start
    llm_requests: int = 0
    right: float = 0.0  # share of the pool with a right label at the end
    rounds: int = 0
    acceptances: list[tuple[int, float]] = field(default_factory=list)  # (accepted, real prec.)
    # per acceptance: the precision labelwise estimated and the low end of its interval
    estimates: list[tuple[float, float]] = field(default_factory=list)
    # per embedded acceptance: (suggestions of unseen documents at or above its threshold,
    # their share right)
    unseen: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0

    def per_1000(self, with_seed: bool) -> float:
        return 1000 * (self.decisions + (self.seed_decisions if with_seed else 0)) / self.pool


class Sim:
    """One project in a fresh SQLite store: the pool, the gold labels, the reviewer."""

    def __init__(
        self,
        tmp: Path,
        kind: ProjectKind,
        classes: list[str],
        pool: list[tuple[str, Gold]],
        encoder: str,
        descriptions: dict[str, str],
        held_out: bool = True,
        unseen: Sequence[tuple[str, Gold]] = (),
        sample_share: float = 0.5,
    ) -> None:
        self.held_out = held_out
        self.unseen = [] if kind == ProjectKind.MULTI_LABEL else list(unseen)
        # per generation: (confidence, right) of the embedded labeler on the unseen documents
        self.unseen_answers: dict[int, list[tuple[float, bool]]] = {}
        self.store: Store = open_store(f"sqlite:///{tmp / 'sim.db'}")
        self.gold = {f"d{i:05d}": c for i, (_, c) in enumerate(pool)}
        self.generation = 0  # embedded suggestion runs so far
        self.encoder = get_encoder(encoder)
        with self.store.session() as s:
            p = create_project(s, "sim", kind, encoder=encoder)
            for c in classes:
                add_class(s, p, c, descriptions.get(c, ""))
        with self.store.session() as s:
            p = get_project(s, "sim")
            ids = {c.name: c.id for c in p.classes}
            records = [
                DocumentRecord(f"d{i:05d}", text, where=str(i)) for i, (text, _) in enumerate(pool)
            ]
            write_batch(s, p, records, ids)
        self.cache = StoreVectorCache(self.store)
        # the reviewer's batch: the most informative (they fix what is wrong) and a random
        # sample (it vouches for a threshold), half each by default
        self.orders: list[tuple[str, float]] = [
            ("informative", 1 - sample_share),
            ("sample", sample_share),
        ]

    def label(self, names: list[str]) -> None:
        """The reviewer gives each document its gold classes (one decision each)."""
        with self.store.session() as s:
            p = get_project(s, "sim")
            by_name = {c.name: c for c in p.classes}
            docs = s.scalars(
                select(Document).where(Document.project_id == p.id, Document.name.in_(names))
            )
            for doc in docs:
                gold = [by_name[c] for c in self.gold[doc.name]]
                rules.set_labels(s, p, doc, gold)
                if p.kind == ProjectKind.MULTI_LABEL:  # and says no to the other classes
                    for sid in s.scalars(
                        select(Suggestion.id).where(
                            Suggestion.document_id == doc.id,
                            Suggestion.status == "pending",
                            Suggestion.class_id.not_in([c.id for c in gold]),
                        )
                    ).all():
                        rules.reject(s, p, sid)

    def seed(self) -> int:
        per: dict[str, list[str]] = defaultdict(list)
        for name, gold in self.gold.items():
            if len(per[gold[0]]) < SEED_PER_CLASS:
                per[gold[0]].append(name)
        chosen = [n for names in per.values() for n in names]
        self.label(chosen)
        return len(chosen)

    def suggest_embedded(self) -> None:
        """Fresh embedded suggestions for the unlabeled documents (the labeler learns from the
        labels so far): a refreshed run, as ``autolabel --refresh`` and ``--retrain-every``
        make, replaces the old pending ones."""
        labeler = EmbeddingLabeler(encoder=self.encoder, cache=self.cache)
        suggest(self.store, "sim", labeler, refresh=True)
        self.generation += 1  # each run is a generation, as each autolabel job is
        with self.store.session() as s:
            s.execute(
                Suggestion.__table__.update()
                .where(Suggestion.labeler == "embedding", Suggestion.job_id.is_(None))
                .values(job_id=self.generation)
            )
            task = build_task(s, get_project(s, "sim"))
        if self.held_out:  # as an autolabel job does: the labeler checks itself on the labels
            check_held_out(self.store, "sim", labeler, task, self.generation)
        if self.unseen:  # the same fit on documents the project never sees
            docs = [DocInput(i, t, content_hash(t)) for i, (t, _) in enumerate(self.unseen)]
            outs = labeler.label(task, docs)
            self.unseen_answers[self.generation] = [
                (o.predictions[0].confidence, o.predictions[0].class_name in self.unseen[i][1])
                for i, o in enumerate(outs)
                if o.predictions
            ]

    def connect(self, url: str) -> None:
        os.environ["REVIEW_SIM_API_KEY"] = "sk-review-sim"  # the loopback server checks none
        with self.store.session() as s:
            add_connection(
                s, "sim-llm", "openai", url + "/v1", "gpt-4o-mini", api_key_env="REVIEW_SIM_API_KEY"
            )

    def suggest_llm(self, below: float | None) -> int:
        """The LLM suggests for the unlabeled documents (with ``below``, only those the
        embedded labeler is unsure of); returns how many documents it was sent."""
        labeler = make_labeler(
            self.store,
            "openai",
            llm="sim-llm",
            # one request at a time: the suggestions are stored in the same order in every run,
            # so a run repeats itself (the random-sample review order depends on their ids)
            options={"few_shot": 0, "docs_per_request": DOCS_PER_REQUEST, "concurrency": 1},
            project="sim",
        )
        return suggest(self.store, "sim", labeler, below=below).documents

    def accepted_by_threshold(self) -> dict[int, tuple[str, str, int | None]]:
        """Suggestion id -> (document, class, job) of every suggestion a threshold accepted."""
        with self.store.session() as s:
            rows = s.execute(
                select(Suggestion.id, Document.name, LabelClass.name, Suggestion.job_id)
                .join(Document, Document.id == Suggestion.document_id)
                .join(LabelClass, LabelClass.id == Suggestion.class_id)
                .where(Suggestion.decided_by == decisions.BY_THRESHOLD)
            ).all()
        return {i: (d, c, j) for i, d, c, j in rows}

    def accept(self, run: Run, labelers: tuple[str, ...]) -> None:
        """Accept at precision per labeler; record each acceptance's real precision."""
        for labeler in labelers:
            before = self.accepted_by_threshold()
            with self.store.session() as s:
                p = get_project(s, "sim")
                result = accept_at_precision(s, p, PRECISION, labeler)
            if result.accepted:
                new = [v for k, v in self.accepted_by_threshold().items() if k not in before]
                right = sum(c in self.gold[d] for d, c, _ in new)
                run.acceptances.append((len(new), right / len(new)))
                run.estimates.append((result.estimated_precision, result.interval[0]))
                if labeler == "embedding" and self.unseen and result.threshold is not None:
                    run.unseen.append(self.check_unseen(new, result.threshold))

    def check_unseen(
        self, accepted: list[tuple[str, str, int | None]], threshold: float
    ) -> tuple[int, float]:
        """How many of the labeler's suggestions for the unseen documents are at or above
        ``threshold``, and their share right: per generation, weighed by how many of that
        generation's suggestions the acceptance took."""
        taken: dict[int, int] = defaultdict(int)
        for _, _, job in accepted:
            taken[job or 0] += 1
        n, weighed = 0, 0.0
        for generation, count in taken.items():
            above = [r for c, r in self.unseen_answers.get(generation, []) if c >= threshold]
            n += len(above)
            if above:
                weighed += count * sum(above) / len(above)
        covered = sum(c for g, c in taken.items() if self.unseen_answers.get(g))
        return n, (weighed / covered if covered else math.nan)

    def right_share(self) -> float:
        with self.store.session() as s:
            p = get_project(s, "sim")
            rows = s.execute(
                select(Document.name, LabelClass.name)
                .join(Label, Label.document_id == Document.id)
                .join(LabelClass, LabelClass.id == Label.class_id)
                .where(Document.project_id == p.id)
            ).all()
        labels: dict[str, set[str]] = defaultdict(set)
        for d, c in rows:
            labels[d].add(c)
        # right: exactly the gold classes (in a multi-label set, none missing and none extra)
        return sum(labels[d] == set(g) for d, g in self.gold.items()) / len(self.gold)

    def review(self, n: int) -> int:
        """The reviewer decides on the ``n`` most informative documents (unlabeled ones without
        a suggestion when the queue runs dry); returns how many."""
        with self.store.session() as s:
            p = get_project(s, "sim")
            names: list[str] = []
            for sort, share in self.orders:
                rows = review_items(s, p, DocumentQuery(), sort, limit=4 * n)  # type: ignore[arg-type]
                fresh = [r["document"] for r in rows if r["document"] not in names]
                names += list(dict.fromkeys(fresh))[: round(n * share)]
            names = names[:n]
            if len(names) < n:
                more = DocumentQuery(filter="unlabeled").documents(s, p, limit=n)  # type: ignore[arg-type]
                names += [d.name for d in more if d.name not in names][: n - len(names)]
        self.label(names)
        return len(names)

    def close(self) -> None:
        self.store.dispose()


def loop(
    sim: Sim, run: Run, labelers: tuple[str, ...], batch: int, resuggest: bool = False
) -> None:
    """Accept what the reviewed decisions vouch for, review a batch, until the pool is right
    enough; with ``resuggest`` the embedded labeler suggests again each round."""
    while True:
        run.rounds += 1
        # a new generation is vouched for only by decisions on it: without the labeler's
        # held-out check (on the labels a person gave since the last acceptance), review a
        # batch of it first, then accept
        review_first = resuggest and run.rounds > 1 and not sim.held_out
        if resuggest and run.rounds > 1:
            sim.suggest_embedded()
        if review_first:
            if not sim.review(batch):
                return
            run.decisions += batch
        sim.accept(run, labelers)
        run.right = sim.right_share()
        if run.right >= TARGET or run.rounds > 200:
            return
        if review_first:
            continue
        if not sim.review(batch):
            return
        run.decisions += batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data"))
    parser.add_argument("--pool", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--datasets", default="banking77,sms_spam")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--llm-accuracy", type=float, default=0.85)
    parser.add_argument("--resuggest", action="store_true", help="Add the re-suggested path.")
    parser.add_argument("--ag-news", help="AG News' test.csv, for --datasets ag_news")
    parser.add_argument("--paths", default="", help="Only these paths (names joined by ;).")
    parser.add_argument("--encoder", default=ENGLISH, help="The project's encoder.")
    parser.add_argument(
        "--descriptions", action="store_true", help="Give the classes one-line descriptions."
    )
    parser.add_argument(
        "--no-held-out",
        action="store_true",
        help="Keep no held-out check of the embedded labeler on the labels (as before it).",
    )
    parser.add_argument(
        "--sample-share",
        type=float,
        default=0.5,
        help="Of each reviewed batch, the share drawn at random (the rest: most informative).",
    )
    parser.add_argument(
        "--unseen",
        type=int,
        default=1000,
        help="Documents outside the pool each embedded acceptance is also checked on.",
    )
    args = parser.parse_args()
    root = Path(args.data)
    for name in args.datasets.split(","):
        kind, classes, rows = (
            ag_news(Path(args.ag_news)) if name == "ag_news" else DATASETS[name](root)
        )
        rng = random.Random(args.seed)
        order = rng.sample(range(len(rows)), min(len(rows), args.pool + args.unseen))
        pool = [rows[i] for i in order[: args.pool]]
        unseen = [rows[i] for i in order[args.pool :]]  # documents the project never sees
        described = {"sms_spam": SMS_DESCRIPTIONS, "ag_news": AG_NEWS_DESCRIPTIONS}
        descriptions = described.get(name, {}) if args.descriptions else {}
        runs = []
        answers, confidence = llm_answers(pool, classes, args.llm_accuracy, args.seed)
        fake = FakeLLM(gold=answers, confidence=confidence)
        with Server(fake) as server:
            paths = ["embedded", "LLM everywhere", "cascade"]
            if args.resuggest:
                paths.insert(1, "embedded, re-suggested")
            if args.paths:
                paths = [p for p in paths if p in args.paths.split(";")]
            for path in paths:
                with tempfile.TemporaryDirectory() as tmp:
                    started = time.perf_counter()
                    sim = Sim(
                        Path(tmp),
                        kind,
                        classes,
                        pool,
                        args.encoder,
                        descriptions,
                        not args.no_held_out,
                        unseen,
                        args.sample_share,
                    )
                    sim.connect(server.url)
                    run = Run(path, len(pool), seed_decisions=sim.seed())
                    before = len(fake.requests)
                    if path.startswith("embedded"):
                        sim.suggest_embedded()
                        loop(sim, run, ("embedding",), args.batch, "re-suggested" in path)
                    elif path == "LLM everywhere":
                        sim.suggest_llm(None)
                        loop(sim, run, ("openai",), args.batch)
                    else:  # the free labeler first; a batch reviewed calibrates it
                        sim.suggest_embedded()
                        sim.review(args.batch)
                        run.decisions += args.batch
                        sim.accept(run, ("embedding",))
                        sim.suggest_llm(BELOW)
                        loop(sim, run, ("embedding", "openai"), args.batch)
                    run.llm_requests = len(fake.requests) - before
                    run.seconds = time.perf_counter() - started
                    sim.close()
                    runs.append(run)
        plain = len(pool) - runs[0].seed_decisions
        runs.append(
            Run(
                "plain (counted)",
                len(pool),
                runs[0].seed_decisions,
                plain,
                math.ceil(plain / DOCS_PER_REQUEST),
                1.0,
            )
        )
        print(
            f"\n{name}: pool {len(pool):,}, {len(classes)} classes, batches of {args.batch}, "
            f"encoder {args.encoder}{', descriptions' if descriptions else ''}"
        )
        print(
            f"{'path':<24} {'decisions/1000':>15} {'(+start)':>9} {'LLM req.':>9} "
            f"{'right':>7} {'rounds':>7} {'seconds':>8}  accepted at 0.95: n@real precision"
            " [labelwise's estimate, its 90 % bound] (on unseen documents: n@precision above the"
            " same threshold)"
        )
        for r in runs:
            checked = len(r.unseen) == len(r.acceptances)  # each acceptance also on unseen ones
            acc = ", ".join(
                f"{n}@{p:.3f} [{r.estimates[k][0]:.3f}, {r.estimates[k][1]:.3f}]"
                + (f" (unseen {u}@{q:.3f})" if checked else "")
                for k, (n, p) in enumerate(r.acceptances[:8])
                for u, q in [r.unseen[k] if checked else (0, 0.0)]
            )
            if len(r.acceptances) > 8:
                acc += ", …"
            low = min((p for _, p in r.acceptances), default=math.nan)
            print(
                f"{r.path:<24} {r.per_1000(False):>15.0f} {r.per_1000(True):>9.0f} "
                f"{r.llm_requests:>9} {r.right:>7.3f} {r.rounds:>7} {r.seconds:>8.0f}  "
                f"lowest {low:.3f}; {acc}"
            )


if __name__ == "__main__":
    main()
