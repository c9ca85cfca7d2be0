"""The event store. Reach it only through ``heliograph.store.api``.

Layout: ``api`` (the door), ``sql`` (the tenant-scoped query builder and the executor guard),
``queries/`` (dashboard queries built with it), ``rows`` (insert payloads), ``results`` (frozen
dataclasses returned to callers), ``schema/`` (migrations), ``backends/`` (chDB in-process, or a
ClickHouse server through clickhouse-connect).
"""
