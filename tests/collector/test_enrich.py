"""Server-side enrichment: the daily visitor salt, cookieless sessions, clock clamping."""

from __future__ import annotations

from datetime import UTC, datetime

from heliograph.collector.enrich import (
    CLOCK_SKEW_MS,
    SESSION_IDLE_SECONDS,
    CookielessSessions,
    DailySalt,
    clamp_timestamp,
    classify_user_agent,
)

MIDNIGHT = datetime(2026, 11, 29, tzinfo=UTC).timestamp()


def test_the_salt_holds_for_one_utc_day_and_then_changes() -> None:
    salt = DailySalt()
    morning = salt.current(MIDNIGHT + 1)
    assert salt.current(MIDNIGHT + 86_399.9) == morning
    next_day = salt.current(MIDNIGHT + 86_400)
    assert next_day != morning
    # Going back does not bring yesterday's salt back: it was never stored.
    assert salt.current(MIDNIGHT + 1) not in (morning, next_day)


def test_visitor_hashes_differ_by_site_address_agent_and_salt() -> None:
    salt = DailySalt()
    first = salt.visitor_hash(1, "192.0.2.1", "UA")
    assert first == salt.visitor_hash(1, "192.0.2.1", "UA")
    assert len(first) == 16 and int(first, 16) >= 0
    others = {
        salt.visitor_hash(2, "192.0.2.1", "UA"),
        salt.visitor_hash(1, "192.0.2.2", "UA"),
        salt.visitor_hash(1, "192.0.2.1", "UA2"),
        DailySalt().visitor_hash(1, "192.0.2.1", "UA"),
    }
    assert first not in others and len(others) == 4
    # (Whether the raw address reaches the spool is tested on the spooled bytes themselves;
    # a hex digest contains "192" by chance about once in 300 salts.)


def test_cookieless_sessions_end_after_thirty_idle_minutes() -> None:
    sessions = CookielessSessions()
    first = sessions.session_for("v", 1000.0)
    assert sessions.session_for("v", 1000.0 + SESSION_IDLE_SECONDS - 1) == first
    assert sessions.session_for("v", 1000.0 + 2 * SESSION_IDLE_SECONDS) != first
    assert sessions.session_for("w", 1000.0) != first


def test_client_clocks_are_trusted_only_within_a_day() -> None:
    now = 10 * CLOCK_SKEW_MS
    assert clamp_timestamp(now - 5, now) == now - 5
    assert clamp_timestamp(now + 1, now) == now
    assert clamp_timestamp(now - CLOCK_SKEW_MS - 1, now) == now


def test_user_agents_are_classified() -> None:
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"
    assert classify_user_agent(iphone).device == "mobile"
    assert classify_user_agent("Googlebot/2.1 (+http://www.google.com/bot.html)").device == "bot"
    assert classify_user_agent("").device == "other"
