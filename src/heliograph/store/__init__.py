"""The event store. Reach it only through ``heliograph.store.api``.

Layout: ``api`` (the door), ``sql`` (the tenant-scoped query builder and the executor guard),
``queries/`` (dashboard queries built with it; ``queries/rollup.py`` splits a window between
roll-ups and the rows under them), ``rows`` (insert payloads), ``results`` (frozen dataclasses
returned to callers), ``schema/`` (migrations; ``schema/rollups.py``: the tables materialized
views keep from ``events`` for the dashboards), ``backends/`` (chDB in-process, or a ClickHouse
server through clickhouse-connect).
"""
