"""The README tour's sample files (``labelwise demo --files DIR``): a folder of support mails, a
labeled CSV and an unlabeled JSONL, written from texts shipped here (no download)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from labelwise.domain import LabelwiseError

MAILS = {
    "billing": [
        "I was charged twice for the same order this month.",
        "My invoice shows a fee I never agreed to, please explain it.",
        "Can I get a refund for the subscription I cancelled last week?",
        "The card payment went through but the order still says unpaid.",
        "Why did the price on my bill go up without notice?",
        "Please send me a copy of the invoice for order 4411.",
    ],
    "login": [
        "I cannot sign in, the app says my password is wrong.",
        "The password reset link in your mail has expired.",
        "My account is locked after three failed attempts.",
        "Two-factor codes never arrive on my phone, so I cannot log in.",
        "After the update the app logs me out every few minutes.",
        "How do I change the e-mail address I use to sign in?",
    ],
    "shipping": [
        "Where is my parcel? It has not arrived after ten days.",
        "The tracking number you sent does not work on the courier's site.",
        "My package was delivered to the wrong address.",
        "Can you ship to Norway, and how long does it take?",
        "The box arrived damaged and one item is missing.",
        "I need to change the delivery address of an order in transit.",
    ],
}
UNLABELED = [
    "Hello, I was billed for two accounts but I only have one.",
    "The courier says the parcel was returned to you, what now?",
    "I forgot my username and the reset form does not accept my mail.",
    "Do you offer invoices with my company's VAT number?",
    "The app keeps saying 'session expired' when I open my orders.",
    "My order shows delivered but nothing came.",
]


def write_tour_files(folder: Path) -> list[Path]:
    """Write ``mail/`` (one .txt per mail), ``tickets.csv`` (``body``, ``category``) and
    ``tickets.jsonl`` (unlabeled) into ``folder``; refuses to overwrite them."""
    mail, table, lines = folder / "mail", folder / "tickets.csv", folder / "tickets.jsonl"
    taken = [p for p in (mail, table, lines) if p.exists()]
    if taken:
        raise LabelwiseError(f"{taken[0]} exists already; pick another folder for the files")
    mail.mkdir(parents=True)
    n = 0
    for texts in MAILS.values():
        for text in texts[:3]:  # half of each class as mails, the rest in the CSV
            n += 1
            (mail / f"mail-{n:02d}.txt").write_text(text + "\n", encoding="utf-8")
    with table.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "body", "category"])
        for category, texts in MAILS.items():
            for i, text in enumerate(texts[3:], start=1):
                writer.writerow([f"{category}-{i}", text, category])
    with lines.open("w", encoding="utf-8") as fh:
        for i, text in enumerate(UNLABELED, start=1):
            fh.write(json.dumps({"name": f"new-{i}", "text": text}) + "\n")
    return [mail, table, lines]
