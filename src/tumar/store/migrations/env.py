"""Alembic environment. Migrations are run by ``tumar migrate`` (or at start-up), which passes
an open connection in ``config.attributes["connection"]``. Migrations never import app code."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations with `tumar migrate`; it supplies the connection.")

context.configure(connection=connection, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
