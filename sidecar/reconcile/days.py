"""Which days to reconcile, as windows of unix seconds in the shop's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS = 92  # a quarter: longer ranges are a different question (use the warehouse)


class ReconcileError(Exception):
    """Bad input or an unreachable source: one line for the user, exit 1."""


@dataclass(frozen=True)
class DayWindow:
    day: date
    start: float  # unix seconds of local midnight
    end: float  # the next local midnight (23 or 25 hours later on DST changes)


def parse_day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ReconcileError(f"{flag} {text!r}: not a date; write YYYY-MM-DD") from None


def day_range(
    start: str | None,
    end: str | None,
    days: int | None,
    timezone: str,
    now: float,
) -> list[DayWindow]:
    """The days asked for: --from/--to (inclusive), or --days N ending yesterday (default 1)."""
    zone = ZoneInfo(timezone)
    today = datetime.fromtimestamp(now, zone).date()
    if days is not None and days < 1:
        raise ReconcileError(f"--days {days}: must be at least 1")
    if start is None and end is None:
        last = today - timedelta(days=1)
        first = last - timedelta(days=(days or 1) - 1)
    else:
        if days is not None:
            raise ReconcileError("--days cannot be combined with --from/--to")
        given_first = parse_day(start, "--from") if start else None
        given_last = parse_day(end, "--to") if end else None
        chosen_first = given_first or given_last
        chosen_last = given_last or given_first
        assert chosen_first is not None and chosen_last is not None
        first, last = chosen_first, chosen_last
    if last < first:
        raise ReconcileError(f"--from {first} is after --to {last}")
    if last > today:
        raise ReconcileError(f"--to {last} is in the future (today is {today} in {timezone})")
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise ReconcileError(f"{first}..{last} is {count} days; at most {MAX_DAYS} at once")
    out = []
    for i in range(count):
        d = first + timedelta(days=i)
        out.append(DayWindow(d, _midnight(d, zone), _midnight(d + timedelta(days=1), zone)))
    return out


def _midnight(d: date, zone: ZoneInfo) -> float:
    return datetime.combine(d, time(0), zone).timestamp()


def local_day(ts: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts, zone).date()
