"""Alembic environment: runs on the engine handed over in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine

from labelwise.store.models import Base
from labelwise.store.search import include_object

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:  # plain `alembic` command line use: take the URL from the ini / -x
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=include_object,
    )
    context.run_migrations()
