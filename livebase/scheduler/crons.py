"""``functions/crons.py``: recurring jobs, declared once and reconciled on
every deploy.

    from livebase import CronJobs, api

    crons = CronJobs()
    crons.interval("clear old messages", {"minutes": 10}, api.messages.clear_old)
    crons.daily("report", {"hourUTC": 7, "minuteUTC": 30}, api.reports.send)

Every schedule is in UTC. ``hourly``/``daily``/``weekly``/``monthly`` are
shorthands for a five-field cron expression; ``interval`` runs first right
after the deploy that adds it, then every period.

This module only describes crons (it is imported by user code, so it stays
free of server imports); ``livebase.scheduler.cron_runner`` runs them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from livebase.errors import InvalidValue, LivebaseError
from livebase.values.model import normalize_value

MAX_CRON_NAME = 128
MIN_INTERVAL_MS = 1000.0
DAYS_OF_WEEK = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
# Accepted spellings of every schedule key (Convex's camelCase and snake_case).
_KEY_ALIASES = {
    "minuteUTC": "minuteUTC",
    "minute_utc": "minuteUTC",
    "hourUTC": "hourUTC",
    "hour_utc": "hourUTC",
    "dayOfWeek": "dayOfWeek",
    "day_of_week": "dayOfWeek",
    "day": "day",
}
_INTERVAL_UNITS = {"seconds": 1000.0, "minutes": 60_000.0, "hours": 3_600_000.0}


class CronError(LivebaseError):
    """A cron is declared wrongly (bad schedule, duplicate name, bad args)."""

    code = "InvalidCronJob"


@dataclass(frozen=True)
class CronJob:
    """One declared cron: what to run, with which args, on which schedule.

    ``schedule`` is ``{"kind": "interval", "ms": n}`` or ``{"kind": "cron",
    "cron": "m h dom mon dow"}``; it is stored as is in ``_cron_jobs``.
    """

    name: str
    function: Any  # a path string, an ``api`` reference or a FunctionDefinition
    args: dict[str, Any]
    schedule: dict[str, Any]


class CronJobs:
    """The crons of a deployment: assign one to ``crons`` in ``functions/crons.py``."""

    def __init__(self) -> None:
        self.jobs: dict[str, CronJob] = {}

    def __repr__(self) -> str:
        return f"CronJobs({', '.join(self.jobs)})"

    # -- schedules ------------------------------------------------------------

    def interval(self, name: str, schedule: dict[str, Any], fn: Any, args: dict[str, Any] | None = None) -> None:
        """Run every ``{"seconds": n}``, ``{"minutes": n}`` or ``{"hours": n}``
        (exactly one key, at least one second); the first run is right after
        the deploy that adds the cron."""
        where = f"crons.interval({name!r}, ...)"
        spec = _check_dict(schedule, where)
        units = [k for k in spec if k in _INTERVAL_UNITS]
        unknown = [k for k in spec if k not in _INTERVAL_UNITS]
        if unknown or len(units) != 1:
            raise CronError(
                f"{where}: the schedule must have exactly one of 'seconds', 'minutes' or 'hours', got {schedule!r}"
            )
        amount = spec[units[0]]
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount):
            raise CronError(f"{where}: {units[0]} must be a number, got {amount!r}")
        ms = float(amount) * _INTERVAL_UNITS[units[0]]
        if ms < MIN_INTERVAL_MS:
            raise CronError(f"{where}: the interval must be at least 1 second, got {amount!r} {units[0]}")
        self._add(name, fn, args, {"kind": "interval", "ms": ms}, where)

    def hourly(self, name: str, schedule: dict[str, Any], fn: Any, args: dict[str, Any] | None = None) -> None:
        """Every hour at ``{"minuteUTC": m}``."""
        where = f"crons.hourly({name!r}, ...)"
        spec = _keys(schedule, where, allowed=("minuteUTC",))
        minute = _minute(spec, name, where)
        self._add(name, fn, args, {"kind": "cron", "cron": f"{minute} * * * *"}, where)

    def daily(self, name: str, schedule: dict[str, Any], fn: Any, args: dict[str, Any] | None = None) -> None:
        """Every day at ``{"hourUTC": h, "minuteUTC": m}``."""
        where = f"crons.daily({name!r}, ...)"
        spec = _keys(schedule, where, allowed=("hourUTC", "minuteUTC"))
        hour = _int_field(spec, "hourUTC", 0, 23, where)
        minute = _minute(spec, name, where)
        self._add(name, fn, args, {"kind": "cron", "cron": f"{minute} {hour} * * *"}, where)

    def weekly(self, name: str, schedule: dict[str, Any], fn: Any, args: dict[str, Any] | None = None) -> None:
        """Every week on ``{"dayOfWeek": "monday", "hourUTC": h, "minuteUTC": m}``."""
        where = f"crons.weekly({name!r}, ...)"
        spec = _keys(schedule, where, allowed=("dayOfWeek", "hourUTC", "minuteUTC"))
        day = spec.get("dayOfWeek")
        if not isinstance(day, str) or day.lower() not in DAYS_OF_WEEK:
            raise CronError(f"{where}: dayOfWeek must be one of {', '.join(DAYS_OF_WEEK)}; got {day!r}")
        hour = _int_field(spec, "hourUTC", 0, 23, where)
        minute = _minute(spec, name, where)
        dow = DAYS_OF_WEEK.index(day.lower())
        self._add(name, fn, args, {"kind": "cron", "cron": f"{minute} {hour} * * {dow}"}, where)

    def monthly(self, name: str, schedule: dict[str, Any], fn: Any, args: dict[str, Any] | None = None) -> None:
        """Every month on ``{"day": d, "hourUTC": h, "minuteUTC": m}``; a month
        without day ``d`` (e.g. day 31 in April) is skipped."""
        where = f"crons.monthly({name!r}, ...)"
        spec = _keys(schedule, where, allowed=("day", "hourUTC", "minuteUTC"))
        day = _int_field(spec, "day", 1, 31, where)
        hour = _int_field(spec, "hourUTC", 0, 23, where)
        minute = _minute(spec, name, where)
        self._add(name, fn, args, {"kind": "cron", "cron": f"{minute} {hour} {day} * *"}, where)

    def cron(self, name: str, cron: str, fn: Any, args: dict[str, Any] | None = None) -> None:
        """A five-field cron expression, ``"minute hour day-of-month month day-of-week"``, in UTC."""
        where = f"crons.cron({name!r}, ...)"
        if not isinstance(cron, str):
            raise CronError(f"{where}: the cron expression must be a string like '*/5 * * * *', got {cron!r}")
        expr = " ".join(cron.split())
        if len(expr.split(" ")) != 5 or not croniter.is_valid(expr):
            raise CronError(
                f"{where}: {cron!r} is not a valid cron expression; expected five fields "
                "'minute hour day-of-month month day-of-week', like '*/5 * * * *' or '0 9 * * 1-5'"
            )
        self._add(name, fn, args, {"kind": "cron", "cron": expr}, where)

    # -- helpers ------------------------------------------------------------------

    def _add(self, name: Any, fn: Any, args: Any, schedule: dict[str, Any], where: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise CronError(f"{where}: the cron name must be a non-empty string")
        if len(name) > MAX_CRON_NAME or not name.isprintable():
            raise CronError(f"{where}: cron names are printable and at most {MAX_CRON_NAME} characters")
        if name in self.jobs:
            raise CronError(f"{where}: a cron named {name!r} is already defined; cron names must be unique")
        if fn is None:
            raise CronError(f"{where}: missing the function to run")
        if args is None:
            args = {}
        if type(args) is not dict:
            raise CronError(f"{where}: args must be a dict, got {type(args).__name__}")
        try:
            args = normalize_value(args, where="args")
        except InvalidValue as e:
            raise CronError(f"{where}: {e.message}") from None
        self.jobs[name] = CronJob(name, fn, args, schedule)


def _check_dict(schedule: Any, where: str) -> dict[str, Any]:
    if type(schedule) is not dict:
        raise CronError(f"{where}: the schedule must be a dict, got {schedule!r}")
    return schedule


def _keys(schedule: Any, where: str, *, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The schedule with canonical (camelCase) keys; unknown keys are errors."""
    out: dict[str, Any] = {}
    for key, value in _check_dict(schedule, where).items():
        canonical = _KEY_ALIASES.get(key)
        if canonical not in allowed:
            raise CronError(f"{where}: unknown schedule key {key!r} (allowed: {', '.join(allowed)})")
        if canonical in out:
            raise CronError(f"{where}: {canonical!r} is given twice")
        out[canonical] = value
    return out


def _int_field(spec: dict[str, Any], key: str, low: int, high: int, where: str) -> int:
    value = spec.get(key)
    if value is None:
        raise CronError(f"{where}: missing {key!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CronError(f"{where}: {key} must be an integer from {low} to {high}, got {value!r}")
    return value


def _minute(spec: dict[str, Any], name: str, where: str) -> int:
    if spec.get("minuteUTC") is not None:
        return _int_field(spec, "minuteUTC", 0, 59, where)
    # Omitted: a minute derived from the name, so that crons declared
    # without one spread over the hour instead of all firing at :00.
    return hashlib.sha256(name.encode()).digest()[0] % 60


def next_run(schedule: dict[str, Any], anchor_ms: float, after_ms: float) -> float:
    """The first run time strictly after ``after_ms``.

    Intervals keep their phase: runs are ``anchor_ms + k * period`` (the
    anchor is a previous run time), so slots missed by an overrun are
    skipped rather than run late.
    """
    if schedule["kind"] == "interval":
        period = float(schedule["ms"])
        if anchor_ms > after_ms:
            return anchor_ms
        steps = math.floor((after_ms - anchor_ms) / period) + 1
        return anchor_ms + steps * period
    start = datetime.fromtimestamp(after_ms / 1000.0, UTC)
    return float(croniter(schedule["cron"], start).get_next(float)) * 1000.0


def first_run(schedule: dict[str, Any], now_ms: float) -> float:
    """When a newly deployed (or changed) cron runs first."""
    if schedule["kind"] == "interval":
        return now_ms
    return next_run(schedule, now_ms, now_ms)


def describe(schedule: dict[str, Any]) -> str:
    if schedule["kind"] == "interval":
        return f"every {schedule['ms'] / 1000:g}s"
    return f"cron {schedule['cron']!r} (UTC)"
