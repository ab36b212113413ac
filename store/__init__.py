"""Storage, the bottom layer: the engine and sessions, the SQLAlchemy models, the Alembic
migrations and the cleaner for storable text. It imports nothing of Ambient."""
