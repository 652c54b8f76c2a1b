"""Alembic environment: runs on the connection handed over by :mod:`tracker.store.schema`."""

from alembic import context

from tracker.store.models import Base


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if getattr(context, "config", None) is not None:  # run by alembic, not merely imported
    run_migrations()
