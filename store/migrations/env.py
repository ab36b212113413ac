"""Alembic environment: uses the connection ``store.db.migrate`` hands over, or DATABASE_URL."""

from alembic import context

from store.db import database_url, make_engine
from store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # the `alembic` command line, with alembic.ini at the project root
    engine = make_engine(database_url())
    with engine.execution_options(ambient_write=True).begin() as conn:
        _run(conn)
