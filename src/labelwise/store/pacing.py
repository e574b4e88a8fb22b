"""The rate limits' slots in the database: every worker of a team that sends to one connection
takes its slots from the same row, so their requests together stay within the limit."""

from __future__ import annotations

from sqlalchemy import case, update

from labelwise.store.db import Store
from labelwise.store.embeddings import insert_ignoring_duplicates
from labelwise.store.models import PacingSlot


class StoreSchedule:
    """:class:`labelwise.labelers.ratelimit.Schedule` on the project store (one short
    transaction a request; the row lock orders concurrent workers)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def advance(self, key: str, now: float, interval: float) -> float:
        key = key[:64]
        later = case((PacingSlot.slot > now, PacingSlot.slot), else_=now) + interval
        with self.store.session() as session:
            slot = session.scalar(
                update(PacingSlot)
                .where(PacingSlot.key == key)
                .values(slot=later)
                .returning(PacingSlot.slot)
            )
            if slot is None:  # the connection's first request: make its row, then take a slot
                session.execute(
                    insert_ignoring_duplicates(self.store, PacingSlot).values(key=key, slot=now)
                )
                slot = session.scalar(
                    update(PacingSlot)
                    .where(PacingSlot.key == key)
                    .values(slot=later)
                    .returning(PacingSlot.slot)
                )
        assert slot is not None  # the row exists now
        return float(slot)
