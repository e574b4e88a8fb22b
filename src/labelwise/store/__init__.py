"""The project store: models, migrations and one service module per aggregate."""

from labelwise.store.db import Store, open_store

__all__ = ["Store", "open_store"]
