"""The one storage layer: models, engine/session, Alembic migrations, store functions."""
