"""Schema version 2: tables that materialized views keep from ``events`` for the dashboards.

Every dashboard used to scan the events of its window (2.25M rows for the largest site over 30
days at 10M events, 200-600 ms each on two cores). These tables hold the same facts folded the
way each dashboard reads them, so a 30-day dashboard reads thousands to a few hundred thousand
narrow rows instead (bench/store_queries.py measures both).

Hash keys (visitor_key, session_key, pageview_key) are stored without compression: random 64-bit
values do not compress, and skipping LZ4 saves 5-10% of a scan.

- Additive roll-ups (SummingMergeTree): a row may exist several times until parts merge, so a
  reader always aggregates with sum() or a distinct count, which any number of parts answers
  exactly. Their time column is the start of a 15-minute slot (every time zone in use has an
  offset that is a multiple of 15 minutes, so local days and hours are unions of slots) or of a
  UTC hour; a window that does not start and end on a slot boundary reads its ragged edges from
  the finer table underneath (queries/windows.py).
- Entity states (VersionedCollapsingMergeTree): one live row per session and per page view,
  maintained while inserting. A materialized view looks up the live row of every session (page
  view) of the inserted block, writes it again with sign -1 (a cancel) and writes the merged
  state with sign +1 and a higher version. Readers weight every row by ``sign``, so a session is
  counted once however many inserts it arrived in and however far background merges got, with no
  FINAL and no GROUP BY per session at read time. This relies on writes of one store being
  serialised (the embedded backend holds a lock; one loader per store) and on one insert
  reaching the views as one block (rows.py keeps inserts far below the squashing threshold).
- Derived sums: materialized views on the entity tables add ``sign``-weighted counts into small
  tables (sessions and bounces per slot, depth histograms per path and hour, entry and exit
  pages per day), which are exact for the same reason.

Every table leads its sort key with tenant_id, and every read goes through the tenant guard of
sql.py, which knows these tables by name.
"""

from __future__ import annotations

# The referrer of a page view as the dashboards name it: its external host or "(direct)".
SOURCE = (
    "if(referrer_host = '' OR referrer_host = domain(url), '(direct)', toString(referrer_host))"
)

TRAFFIC_SLOTS_DDL = """
CREATE TABLE IF NOT EXISTS traffic_slots
(
    tenant_id UInt64,
    site_id UInt64,
    slot DateTime('UTC'),
    visitor_key UInt64 CODEC(NONE),
    device LowCardinality(String),
    browser LowCardinality(String),
    os LowCardinality(String),
    pageviews UInt64
)
ENGINE = SummingMergeTree(pageviews)
PARTITION BY toYYYYMM(slot)
ORDER BY (tenant_id, site_id, slot, visitor_key, device, browser, os)
"""

TRAFFIC_SLOTS_SELECT = """
SELECT tenant_id, site_id, toStartOfFifteenMinutes(ts) AS slot, visitor_key, device, browser, os,
       count() AS pageviews
FROM events
WHERE type = 'pageview'
GROUP BY tenant_id, site_id, slot, visitor_key, device, browser, os
"""

# The days of a UTC month (bit d-1 for day d) on which a visitor viewed pages with a device
# class, browser or OS (dim, value): whole UTC days of a window read one row per visitor and
# value per month, instead of one per visitor, client and 15 minutes.
VISITOR_MONTHS_DDL = """
CREATE TABLE IF NOT EXISTS visitor_months
(
    tenant_id UInt64,
    site_id UInt64,
    month Date,
    dim LowCardinality(String),
    value LowCardinality(String),
    visitor_key UInt64 CODEC(NONE),
    days SimpleAggregateFunction(groupBitOr, UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(month)
ORDER BY (tenant_id, site_id, month, dim, value, visitor_key)
"""

VISITOR_MONTHS_SELECT = """
SELECT tenant_id, site_id, toStartOfMonth(ts) AS month, pair.1 AS dim, pair.2 AS value,
       visitor_key, groupBitOr(bitShiftLeft(toUInt32(1), toDayOfMonth(ts) - 1)) AS days
FROM events
ARRAY JOIN [('device', toString(device)), ('browser', toString(browser)), ('os', toString(os))]
    AS pair
WHERE type = 'pageview'
GROUP BY tenant_id, site_id, month, dim, value, visitor_key
"""

# Page views per path and UTC day: names the candidate top pages of whole days; the hours
# around them are summed from page_visitors.
PAGE_DAYS_DDL = """
CREATE TABLE IF NOT EXISTS page_days
(
    tenant_id UInt64,
    site_id UInt64,
    day DateTime('UTC'),
    path LowCardinality(String),
    pageviews UInt64
)
ENGINE = SummingMergeTree(pageviews)
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, site_id, day, path)
"""

PAGE_DAYS_SELECT = """
SELECT tenant_id, site_id, toStartOfDay(ts) AS day, path, count() AS pageviews
FROM events
WHERE type = 'pageview'
GROUP BY tenant_id, site_id, day, path
"""

# Path before hour: the distinct visitors of a few candidate paths are read as a few ranges.
PAGE_VISITORS_DDL = """
CREATE TABLE IF NOT EXISTS page_visitors
(
    tenant_id UInt64,
    site_id UInt64,
    path LowCardinality(String),
    hour DateTime('UTC'),
    visitor_key UInt64 CODEC(NONE),
    pageviews UInt64
)
ENGINE = SummingMergeTree(pageviews)
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, site_id, path, hour, visitor_key)
"""

PAGE_VISITORS_SELECT = """
SELECT tenant_id, site_id, path, toStartOfHour(ts) AS hour, visitor_key, count() AS pageviews
FROM events
WHERE type = 'pageview'
GROUP BY tenant_id, site_id, path, hour, visitor_key
"""

# Click rows in heatmap order: one path's clicks over a window are one range per part.
CLICKS_DDL = """
CREATE TABLE IF NOT EXISTS clicks
(
    tenant_id UInt64,
    site_id UInt64,
    path LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    x UInt32,
    y UInt32,
    dw UInt32,
    dh UInt32,
    selector String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, site_id, path, ts)
"""

CLICKS_SELECT = """
SELECT tenant_id, site_id, path, ts, x, y, dw, dh, selector
FROM events
WHERE type = 'click'
"""

SITE_DAYS_DDL = """
CREATE TABLE IF NOT EXISTS site_days
(
    tenant_id UInt64,
    site_id UInt64,
    day Date,
    events SimpleAggregateFunction(sum, UInt64),
    first_ts SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_ts SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant_id, site_id, day)
"""

SITE_DAYS_SELECT = """
SELECT tenant_id, site_id, toDate(ts) AS day, count() AS events, min(ts) AS first_ts,
       max(ts) AS last_ts
FROM events
GROUP BY tenant_id, site_id, day
"""

# One live row per session: its first and last page view, their paths, the referrer of the
# first, the page-view count and the visitor. ``version`` is the page views folded in so far,
# so it grows with every update and a cancel row always pairs with the row it cancels.
SESSIONS_DDL = """
CREATE TABLE IF NOT EXISTS sessions
(
    tenant_id UInt64,
    site_id UInt64,
    session_key UInt64 CODEC(NONE),
    first_ts DateTime64(3, 'UTC'),
    last_ts DateTime64(3, 'UTC'),
    views UInt64,
    visitor_key UInt64 CODEC(NONE),
    entry_path LowCardinality(String),
    exit_path LowCardinality(String),
    source LowCardinality(String),
    sign Int8,
    version UInt64,
    INDEX session_lookup session_key TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = VersionedCollapsingMergeTree(sign, version)
PARTITION BY toYYYYMM(first_ts)
ORDER BY (tenant_id, site_id, toStartOfHour(first_ts), session_key)
"""

_SESSION_COLUMNS = "first_ts, last_ts, views, visitor_key, entry_path, exit_path, source, version"

SESSIONS_BATCH = f"""
SELECT tenant_id, site_id, session_key, min(ts) AS first_ts, max(ts) AS last_ts,
       count() AS views, any(visitor_key) AS visitor_key, argMin(path, ts) AS entry_path,
       argMax(path, ts) AS exit_path, argMin({SOURCE}, ts) AS source, count() AS version
FROM events
WHERE type = 'pageview'
GROUP BY tenant_id, site_id, session_key
"""  # noqa: S608  (constants of this module only)

# The live state of every session of the inserted block: rows that no cancel has matched.
_SESSIONS_LIVE = f"""
SELECT tenant_id, site_id, session_key, {_SESSION_COLUMNS}, 1 AS live
FROM sessions
WHERE tenant_id IN (SELECT tenant_id FROM events)
  AND (tenant_id, site_id, session_key) IN
      (SELECT tenant_id, site_id, session_key FROM events WHERE type = 'pageview')
GROUP BY tenant_id, site_id, session_key, {_SESSION_COLUMNS}
HAVING sum(sign) > 0
"""  # noqa: S608  (constants of this module only)

# In a view on ``events`` every mention of ``events`` is the inserted block, not the table.
SESSIONS_MV = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_mv TO sessions AS
SELECT tenant_id, site_id, session_key,
       if(sign < 0, o_first_ts, n_first_ts) AS first_ts,
       if(sign < 0, o_last_ts, n_last_ts) AS last_ts,
       if(sign < 0, o_views, n_views) AS views,
       if(sign < 0, o_visitor_key, n_visitor_key) AS visitor_key,
       if(sign < 0, o_entry_path, n_entry_path) AS entry_path,
       if(sign < 0, o_exit_path, n_exit_path) AS exit_path,
       if(sign < 0, o_source, n_source) AS source,
       sign,
       if(sign < 0, o_views, n_views) AS version
FROM
(
    SELECT b.tenant_id AS tenant_id, b.site_id AS site_id, b.session_key AS session_key,
           o.live AS live,
           o.first_ts AS o_first_ts, o.last_ts AS o_last_ts, o.views AS o_views,
           o.visitor_key AS o_visitor_key, o.entry_path AS o_entry_path,
           o.exit_path AS o_exit_path, o.source AS o_source,
           live AND o.first_ts <= b.first_ts AS keep_first,
           live AND o.last_ts > b.last_ts AS keep_last,
           if(keep_first, o.first_ts, b.first_ts) AS n_first_ts,
           if(keep_first, o.entry_path, b.entry_path) AS n_entry_path,
           if(keep_first, o.source, b.source) AS n_source,
           if(keep_last, o.last_ts, b.last_ts) AS n_last_ts,
           if(keep_last, o.exit_path, b.exit_path) AS n_exit_path,
           o.views + b.views AS n_views,
           if(live, o.visitor_key, b.visitor_key) AS n_visitor_key
    FROM ({SESSIONS_BATCH}) AS b
    LEFT JOIN ({_SESSIONS_LIVE}) AS o
        ON b.tenant_id = o.tenant_id AND b.site_id = o.site_id AND b.session_key = o.session_key
)
ARRAY JOIN if(live, [toInt8(-1), toInt8(1)], [toInt8(1)]) AS sign
"""  # noqa: S608  (constants of this module only)

SESSIONS_BACKFILL = f"""
INSERT INTO sessions
SELECT tenant_id, site_id, session_key, first_ts, last_ts, views, visitor_key, entry_path,
       exit_path, source, toInt8(1) AS sign, version
FROM ({SESSIONS_BATCH})
"""  # noqa: S608  (constants of this module only)

# One live row per page view (its id on one path): the time of its pageview row (``pv_rows``
# counts them; a page view whose scrolls arrived first has none yet) and its deepest pageview or
# scroll row. ``anchor_ts`` places it in time: its pageview row, else its first row.
PAGE_VIEWS_DDL = """
CREATE TABLE IF NOT EXISTS page_views
(
    tenant_id UInt64,
    site_id UInt64,
    path LowCardinality(String),
    pageview_key UInt64 CODEC(NONE),
    anchor_ts DateTime64(3, 'UTC'),
    pv_ts DateTime64(3, 'UTC'),
    first_ts DateTime64(3, 'UTC'),
    pv_rows UInt64,
    depth UInt8,
    sign Int8,
    version UInt64,
    INDEX page_view_lookup pageview_key TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = VersionedCollapsingMergeTree(sign, version)
PARTITION BY toYYYYMM(anchor_ts)
ORDER BY (tenant_id, site_id, toStartOfHour(anchor_ts), path, pageview_key)
"""

_PAGE_VIEW_COLUMNS = "anchor_ts, pv_ts, first_ts, pv_rows, depth, version"

PAGE_VIEWS_BATCH = """
SELECT tenant_id, site_id, path, pageview_key, minIf(ts, type = 'pageview') AS pv_ts,
       min(ts) AS first_ts, countIf(type = 'pageview') AS pv_rows, max(depth) AS depth,
       if(pv_rows > 0, pv_ts, first_ts) AS anchor_ts, count() AS version
FROM events
WHERE type IN ('pageview', 'scroll')
GROUP BY tenant_id, site_id, path, pageview_key
"""

_PAGE_VIEWS_LIVE = f"""
SELECT tenant_id, site_id, path, pageview_key, {_PAGE_VIEW_COLUMNS}, 1 AS live
FROM page_views
WHERE tenant_id IN (SELECT tenant_id FROM events)
  AND (tenant_id, site_id, path, pageview_key) IN
      (SELECT tenant_id, site_id, path, pageview_key FROM events
       WHERE type IN ('pageview', 'scroll'))
GROUP BY tenant_id, site_id, path, pageview_key, {_PAGE_VIEW_COLUMNS}
HAVING sum(sign) > 0
"""  # noqa: S608  (constants of this module only)

PAGE_VIEWS_MV = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS page_views_mv TO page_views AS
SELECT tenant_id, site_id, path, pageview_key,
       if(sign < 0, o_anchor_ts, if(n_pv_rows > 0, n_pv_ts, n_first_ts)) AS anchor_ts,
       if(sign < 0, o_pv_ts, n_pv_ts) AS pv_ts,
       if(sign < 0, o_first_ts, n_first_ts) AS first_ts,
       if(sign < 0, o_pv_rows, n_pv_rows) AS pv_rows,
       if(sign < 0, o_depth, n_depth) AS depth,
       sign,
       if(sign < 0, o_version, n_version) AS version
FROM
(
    SELECT b.tenant_id AS tenant_id, b.site_id AS site_id, b.path AS path,
           b.pageview_key AS pageview_key, o.live AS live,
           o.anchor_ts AS o_anchor_ts, o.pv_ts AS o_pv_ts, o.first_ts AS o_first_ts,
           o.pv_rows AS o_pv_rows, o.depth AS o_depth, o.version AS o_version,
           multiIf(o.pv_rows = 0, b.pv_ts, b.pv_rows = 0, o.pv_ts, least(o.pv_ts, b.pv_ts))
               AS n_pv_ts,
           if(live, least(o.first_ts, b.first_ts), b.first_ts) AS n_first_ts,
           o.pv_rows + b.pv_rows AS n_pv_rows,
           greatest(o.depth, b.depth) AS n_depth,
           o.version + b.version AS n_version
    FROM ({PAGE_VIEWS_BATCH}) AS b
    LEFT JOIN ({_PAGE_VIEWS_LIVE}) AS o
        ON b.tenant_id = o.tenant_id AND b.site_id = o.site_id AND b.path = o.path
           AND b.pageview_key = o.pageview_key
)
ARRAY JOIN if(live, [toInt8(-1), toInt8(1)], [toInt8(1)]) AS sign
"""  # noqa: S608  (constants of this module only)

PAGE_VIEWS_BACKFILL = f"""
INSERT INTO page_views
SELECT tenant_id, site_id, path, pageview_key, anchor_ts, pv_ts, first_ts, pv_rows, depth,
       toInt8(1) AS sign, version
FROM ({PAGE_VIEWS_BATCH})
"""  # noqa: S608  (constants of this module only)

# Sign-weighted sums of the entity tables, per 15-minute slot of a session's first page view or
# of a page view's pageview row: what the overview's sessions, bounce rate and scroll depth add.
OVERVIEW_SLOTS_DDL = """
CREATE TABLE IF NOT EXISTS overview_slots
(
    tenant_id UInt64,
    site_id UInt64,
    slot DateTime('UTC'),
    sessions Int64,
    bounces Int64,
    depth_views Int64,
    depth_sum Int64
)
ENGINE = SummingMergeTree((sessions, bounces, depth_views, depth_sum))
ORDER BY (tenant_id, site_id, slot)
"""

SESSION_SLOTS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS session_slots_mv TO overview_slots AS
SELECT tenant_id, site_id, toStartOfFifteenMinutes(first_ts) AS slot, sum(sign) AS sessions,
       sumIf(sign, views = 1) AS bounces, toInt64(0) AS depth_views, toInt64(0) AS depth_sum
FROM sessions
GROUP BY tenant_id, site_id, slot
"""

DEPTH_SLOTS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS depth_slots_mv TO overview_slots AS
SELECT tenant_id, site_id, toStartOfFifteenMinutes(pv_ts) AS slot, toInt64(0) AS sessions,
       toInt64(0) AS bounces, sum(sign) AS depth_views, sum(sign * depth) AS depth_sum
FROM page_views
WHERE pv_rows > 0
GROUP BY tenant_id, site_id, slot
"""

SCROLL_HOURS_DDL = """
CREATE TABLE IF NOT EXISTS scroll_hours
(
    tenant_id UInt64,
    site_id UInt64,
    path LowCardinality(String),
    hour DateTime('UTC'),
    tenth UInt8,
    pageviews Int64
)
ENGINE = SummingMergeTree(pageviews)
ORDER BY (tenant_id, site_id, path, hour, tenth)
"""

SCROLL_HOURS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS scroll_hours_mv TO scroll_hours AS
SELECT tenant_id, site_id, path, toStartOfHour(pv_ts) AS hour,
       toUInt8(intDiv(least(depth, 100), 10) * 10) AS tenth, sum(sign) AS pageviews
FROM page_views
WHERE pv_rows > 0
GROUP BY tenant_id, site_id, path, hour, tenth
"""

# Sessions per entry (exit) path and UTC day of the session's first page view.
EDGE_DAYS_DDL = """
CREATE TABLE IF NOT EXISTS edge_days
(
    tenant_id UInt64,
    site_id UInt64,
    edge Enum8('entry' = 1, 'exit' = 2),
    day DateTime('UTC'),
    path LowCardinality(String),
    sessions Int64
)
ENGINE = SummingMergeTree(sessions)
ORDER BY (tenant_id, site_id, edge, day, path)
"""

EDGE_DAYS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS edge_days_mv TO edge_days AS
SELECT tenant_id, site_id, pair.1 AS edge, toStartOfDay(first_ts) AS day, pair.2 AS path,
       sum(sign) AS sessions
FROM sessions
ARRAY JOIN [('entry', entry_path), ('exit', exit_path)] AS pair
GROUP BY tenant_id, site_id, edge, day, path
"""


def _mv(name: str, target: str, select: str) -> str:
    return f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} TO {target} AS {select}"


def _backfill(target: str, select: str) -> str:
    return f"INSERT INTO {target} {select}"


_ADDITIVE = (
    ("traffic_slots", TRAFFIC_SLOTS_DDL, TRAFFIC_SLOTS_SELECT),
    ("visitor_months", VISITOR_MONTHS_DDL, VISITOR_MONTHS_SELECT),
    ("page_days", PAGE_DAYS_DDL, PAGE_DAYS_SELECT),
    ("page_visitors", PAGE_VISITORS_DDL, PAGE_VISITORS_SELECT),
    ("clicks", CLICKS_DDL, CLICKS_SELECT),
    ("site_days", SITE_DAYS_DDL, SITE_DAYS_SELECT),
)

_TABLES = (
    *(name for name, _, _ in _ADDITIVE),
    "sessions",
    "page_views",
    "overview_slots",
    "scroll_hours",
    "edge_days",
)

# Tables first, then every view, then the backfills: the entity backfills feed the derived sums
# through their views. The store is not written meanwhile (open_store migrates before it returns;
# a server deployment migrates with its loader stopped).
STATEMENTS: tuple[str, ...] = (
    *(ddl for _, ddl, _ in _ADDITIVE),
    SESSIONS_DDL,
    PAGE_VIEWS_DDL,
    OVERVIEW_SLOTS_DDL,
    SCROLL_HOURS_DDL,
    EDGE_DAYS_DDL,
    SESSION_SLOTS_MV,
    DEPTH_SLOTS_MV,
    SCROLL_HOURS_MV,
    EDGE_DAYS_MV,
    *(_mv(f"{name}_mv", name, select) for name, _, select in _ADDITIVE),
    SESSIONS_MV,
    PAGE_VIEWS_MV,
    # A migration interrupted half-way runs again from the start: begin the backfill empty.
    *(f"TRUNCATE TABLE {name}" for name in _TABLES),
    *(_backfill(name, select) for name, _, select in _ADDITIVE),
    SESSIONS_BACKFILL,
    PAGE_VIEWS_BACKFILL,
)
