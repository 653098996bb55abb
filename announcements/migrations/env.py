"""Alembic environment: runs on the connection handed over by `Database.migrate`."""

from alembic import context
from sqlmodel import SQLModel

import announcements.models  # noqa: F401  (registers the tables)
import announcements.request_models  # noqa: F401  (the request log's tables)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
