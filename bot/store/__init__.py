"""Storage: SQLAlchemy models, sessions, the job queue and migrations."""
