"""Accuracy and speed of the embedded labeler, one table per encoder.

    python bench/labeler_bench.py [--data ../shared/data] [--german PATH] [--english-news PATH]
                                 [--trec DIR] [--encoders minilm,...]

Datasets: Banking77 (77 intents), SMS spam (2 classes), GoEmotions (28 emotions, multi-label)
from the shared data, and 10kGNAD (German news, 9 classes; `--german` names the `test.csv` of
github.com/tblock/10kGNAD, CC BY-NC-SA 4.0) and AG News (English news, 4 classes; `--english-news`
names its `test.csv`, columns label,title,description; for research use) and TREC question types
(6 classes; `--trec` names a folder of `train_5500.label` and `TREC_10.label`, Li & Roth's data,
for research use; the labeled ones from the first, the official 500 held out from the second):
all read from where you keep them, never shipped. Rows:
the baseline (cosine to the bare class name, what most zero-shot embedding labelers do),
labelwise zero-shot from class names, zero-shot from names plus a one-line description (where
the bench has descriptions), and labelwise with 8 user-labeled documents per class; each
single-label row as a run labels (the class vectors adapted to a random sample of up to 512 of
the documents labeled, as ``suggest`` and jobs do) and without that ("unadapted"). Held-out
documents are never among the labeled ones. Single-label: accuracy; multi-label: micro-F1 (and
top-1: the top suggestion is a gold label). Each text is encoded once per encoder (an in-memory
cache); speed is measured apart: docs/s encoding short (Banking77), news-length (AG News, when
given) and 400-word texts not seen before, on this machine, in the same run.
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labelwise.autolabel import SURVEY
from labelwise.domain import ClassSpec, DocInput, Example, LabelTask, ProjectKind, content_hash
from labelwise.embeddings import Matrix, TextEncoder, embed_cached
from labelwise.embeddings.registry import ENCODERS, get_encoder
from labelwise.labelers.embedding import EmbeddingLabeler

Rows = list[tuple[str, tuple[str, ...]]]
Data = tuple[ProjectKind, list[str], dict[str, str], Rows, Rows]  # kind, classes, desc, shots, test

SMS_DESCRIPTIONS = {
    "spam": "unsolicited advertising: prizes, offers, premium numbers, reply to win",
    "ham": "an ordinary personal message between friends, family or colleagues",
}
GERMAN_DESCRIPTIONS = {  # written for this bench from the sections' names (Der Standard, Austria)
    "Web": "Internet, Technik, Computer, Apps und soziale Netzwerke",
    "Panorama": "Vermischtes: Unglücke, Verbrechen, Prominente, Kurioses",
    "International": "Außenpolitik und Nachrichten aus dem Ausland",
    "Wirtschaft": "Unternehmen, Märkte, Finanzen, Arbeit und Konjunktur",
    "Sport": "Fußball, Tennis, Skifahren und andere Sportarten",
    "Inland": "Österreichische Innenpolitik: Regierung, Parteien, Parlament",
    "Etat": "Medien: Fernsehen, Radio, Zeitungen, ORF",
    "Kultur": "Kunst, Musik, Film, Theater und Literatur",
    "Wissenschaft": "Forschung, Wissenschaft, Medizin, Weltraum",
}


def split(by: dict[str, list[str]], shots: int, tests: int, rng: random.Random) -> Data:
    classes = sorted(by)
    train: Rows = []
    test: Rows = []
    for c in classes:
        texts = rng.sample(by[c], min(len(by[c]), shots + tests))
        train += [(t, (c,)) for t in texts[:shots]]
        test += [(t, (c,)) for t in texts[shots:]]
    return ProjectKind.SINGLE_LABEL, classes, {}, train, test


def banking77(root: Path, shots: int, tests: int, rng: random.Random) -> Data:
    by: dict[str, list[str]] = defaultdict(list)
    with (root / "banking77/train.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            by[row["category"]].append(row["text"])
    return split(by, shots, tests, rng)


def sms_spam(root: Path, shots: int, tests: int, rng: random.Random) -> Data:
    by: dict[str, list[str]] = defaultdict(list)
    with (root / "sms_spam/SMSSpamCollection").open(encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            label, _, text = line.rstrip("\n").partition("\t")
            by[label].append(text)
    kind, classes, _, train, test = split(by, shots, tests, rng)
    return kind, classes, SMS_DESCRIPTIONS, train, test


AG_NEWS = {"1": "World", "2": "Sports", "3": "Business", "4": "Sci/Tech"}
AG_DESCRIPTIONS = {  # written for this bench
    "World": "international news: politics, conflicts and governments around the world",
    "Sports": "games, teams, athletes, matches and championships",
    "Business": "companies, markets, the economy, stocks, oil prices and earnings",
    "Sci/Tech": "science and technology: computers, the internet, software, space",
}


def english_news(path: Path, shots: int, tests: int, rng: random.Random) -> Data:
    by: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            text = f"{row['title']}. {row['description']}".replace("\\", " ")
            by[AG_NEWS[row["label"]]].append(text)
    kind, classes, _, train, test = split(by, shots, tests, rng)
    return kind, classes, AG_DESCRIPTIONS, train, test


def german_news(path: Path, shots: int, tests: int, rng: random.Random) -> Data:
    by: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as fh:
        for label, text in csv.reader(fh, delimiter=";", quotechar="'"):
            by[label].append(text)
    kind, classes, _, train, test = split(by, shots, tests, rng)
    return kind, classes, GERMAN_DESCRIPTIONS, train, test


TREC_DESCRIPTIONS = {  # written for this bench from the task's guidelines (Li & Roth, 2002)
    "ABBR": "abbreviation: what a short form stands for, or the short form of something",
    "DESC": "description: a definition, a reason, a manner or an explanation",
    "ENTY": "entity: a thing such as an animal, product, food, disease, color, sport or work",
    "HUM": "human: a person, a group of people or an organization",
    "LOC": "location: a place such as a city, country, state, mountain or address",
    "NUM": "number: a date, count, amount of money, distance, period, size or percentage",
}


def questions(folder: Path, shots: int, rng: random.Random) -> Data:
    """TREC question types (6 coarse classes): labeled ones from ``train_5500.label``, the
    official 500 held-out questions of ``TREC_10.label``."""

    def read(name: str) -> dict[str, list[str]]:
        by: dict[str, list[str]] = defaultdict(list)
        for line in (folder / name).read_text(encoding="latin-1").splitlines():
            label, _, text = line.partition(" ")
            by[label.split(":")[0]].append(text.strip())
        return by

    kind, classes, _, train, _ = split(read("train_5500.label"), shots, 0, rng)
    test = [(t, (c,)) for c, texts in sorted(read("TREC_10.label").items()) for t in texts]
    return kind, classes, TREC_DESCRIPTIONS, train, test


def goemotions(root: Path, shots: int, n: int, rng: random.Random) -> Data:
    names = (root / "goemotions/labels.txt").read_text(encoding="utf-8").split()

    def read(part: str) -> Rows:
        rows = []
        with (root / f"goemotions/{part}.tsv").open(encoding="utf-8") as fh:
            for line in fh:
                text, ids, _ = line.rstrip("\n").split("\t")
                rows.append((text, tuple(names[int(i)] for i in ids.split(","))))
        return rows

    train = read("train")
    chosen: Rows = []
    for c in names:
        pool = [r for r in train if c in r[1]]
        chosen += rng.sample(pool, min(shots, len(pool)))
    return ProjectKind.MULTI_LABEL, names, {}, chosen, rng.sample(read("dev"), n)


def score(kind: ProjectKind, test: Rows, predicted: list[list[str]]) -> tuple[float, float]:
    if kind == ProjectKind.SINGLE_LABEL:
        acc = float(np.mean([p[:1] == list(g) for (_, g), p in zip(test, predicted, strict=True)]))
        return acc, acc
    tp = fp = fn = top_hits = 0
    for (_, gold), pred in zip(test, predicted, strict=True):
        g, p = set(gold), set(pred)
        tp, fp, fn = tp + len(g & p), fp + len(p - g), fn + len(g - p)
        top_hits += bool(pred) and pred[0] in g
    return 2 * tp / max(2 * tp + fp + fn, 1), top_hits / len(test)


class MemoryCache:
    """Vectors kept in memory, so each text of a dataset is encoded once per encoder."""

    def __init__(self) -> None:
        self.vectors: dict[tuple[str, str], Matrix] = {}

    def get_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, Matrix]:
        return {h: self.vectors[model, h] for h in hashes if (model, h) in self.vectors}

    def put_vectors(self, model: str, vectors: dict[str, Matrix]) -> None:
        self.vectors.update({(model, h): v for h, v in vectors.items()})


def run(name: str, data: Data, encoder: TextEncoder, shots: int, seed: int) -> list[tuple]:  # type: ignore[type-arg]
    kind, classes, descriptions, train, test = data
    cache = MemoryCache()
    docs = [DocInput(i, t, content_hash(t)) for i, (t, _) in enumerate(test)]
    d = embed_cached(encoder, [t for t, _ in test], [x.content_hash for x in docs], cache)
    c = encoder.encode(list(classes))
    base_pred = [[classes[int(i)]] for i in (d @ c.T).argmax(1)]
    rows = [(name, "baseline: name similarity", len(test), *score(kind, test, base_pred))]
    setups = [("zero-shot, names", tuple(ClassSpec(n) for n in classes), ())]
    if descriptions:
        described = tuple(ClassSpec(n, descriptions[n]) for n in classes)
        setups.append(("zero-shot, names + descriptions", described, ()))
    examples = tuple(Example(t, g, content_hash(t)) for t, g in train)
    setups.append((f"{shots} labeled per class", tuple(ClassSpec(n) for n in classes), examples))
    if descriptions:  # what a user has who wrote descriptions and then labeled a few
        setups.append((f"{shots} labeled per class + descriptions", described, examples))
    for label, specs, shown in setups:
        for adapted in (True, False) if kind == ProjectKind.SINGLE_LABEL else (False,):
            labeler = EmbeddingLabeler(encoder=encoder, cache=cache)
            task = LabelTask(kind, specs, shown)
            if adapted:  # as a run does: a random sample of the documents it labels
                labeler.survey(task, random.Random(seed).sample(docs, min(SURVEY, len(docs))))
            outs = labeler.label(task, docs)
            pred = [[p.class_name for p in o.predictions] for o in outs]
            shown_label = (
                label if adapted or kind != ProjectKind.SINGLE_LABEL else f"{label} (unadapted)"
            )
            rows.append((name, shown_label, len(test), *score(kind, test, pred)))
    return rows


def speed(encoder: TextEncoder, texts: list[str], words: int | None, n: int) -> float:
    """docs/s encoding ``n`` texts (cut or joined to ``words`` words when given)."""
    if words:
        pool = " ".join(texts).split()
        texts = [" ".join(pool[i * words : (i + 1) * words]) for i in range(n)]
    sample = [f"{i} {t}" for i, t in enumerate(texts[:n])]  # unseen: no cache anywhere
    start = time.perf_counter()
    encoder.encode(sample)
    return len(sample) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data"
    )
    parser.add_argument("--german", type=Path, help="10kGNAD's test.csv (German news)")
    parser.add_argument("--english-news", type=Path, help="AG News' test.csv (label,title,...)")
    parser.add_argument(
        "--trec", type=Path, help="folder of TREC's train_5500.label and TREC_10.label"
    )
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument(
        "--tests", type=int, default=10, help="held-out Banking77 documents per class"
    )
    parser.add_argument("--goemotions", type=int, default=400)
    parser.add_argument(
        "--seed", type=int, default=7, help="draws the labeled and held-out documents"
    )
    args = parser.parse_args()
    sets: list[tuple[str, Data]] = [
        ("banking77", banking77(args.data, args.shots, args.tests, random.Random(args.seed))),
        ("sms_spam", sms_spam(args.data, args.shots, 150, random.Random(args.seed))),
        (
            "goemotions",
            goemotions(args.data, args.shots, args.goemotions, random.Random(args.seed)),
        ),
    ]
    if args.english_news:
        sets.append(
            ("en_news", english_news(args.english_news, args.shots, 100, random.Random(args.seed)))
        )
    if args.trec:
        sets.append(("questions", questions(args.trec, args.shots, random.Random(args.seed))))
    if args.german:
        sets.append(("de_news", german_news(args.german, args.shots, 40, random.Random(args.seed))))
    short = [t for t, _ in sets[0][1][4]]
    for name in args.encoders.split(","):
        encoder = get_encoder(name)
        encoder.encode(["warm up"])
        print(f"\n## encoder {name}: {ENCODERS[name].model} ({ENCODERS[name].languages})\n")
        print("| dataset | labeler | docs | acc/F1 | top-1 |\n|---|---|---|---|---|")
        for dataset, data in sets:
            for ds, label, n, main_score, top1 in run(
                dataset, data, encoder, args.shots, args.seed
            ):
                print(f"| {ds} | {label} | {n} | {main_score:.3f} | {top1:.3f} |", flush=True)
        news = [t for ds, data in sets if ds == "en_news" for t, _ in data[4]]
        print(
            f"\nencoding, 2 cores: short texts (Banking77) {speed(encoder, short, None, 400):.1f}"
            + (f" docs/s; news (AG News) {speed(encoder, news, None, 400):.1f}" if news else "")
            + f" docs/s; 400-word texts {speed(encoder, short * 3, 400, 24):.1f} docs/s"
        )
    print(
        "\nsingle-label: accuracy; goemotions: micro-F1 over all suggested labels, top-1 = top "
        "suggestion is a gold label"
    )


if __name__ == "__main__":
    main()
