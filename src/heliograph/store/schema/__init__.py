"""The events schema and its migrations, applied in order and recorded in a version table."""

from heliograph.store.schema.migrations import MIGRATIONS, Migration, migrate

__all__ = ["MIGRATIONS", "Migration", "migrate"]
