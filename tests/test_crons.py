"""Crons: ``CronJobs`` declarations, and crons running in a real server
(on time, never overlapping, following reloads, once after downtime)."""

from __future__ import annotations

import itertools
import re
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from livebase.scheduler.crons import CronError, CronJobs, first_run, next_run
from tests.support.server import RunningServer, make_project, start_server
from tests.test_scheduler import notes, run, wait_for


def cron_of(crons: CronJobs, name: str) -> dict[str, Any]:
    return crons.jobs[name].schedule


def ms(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp() * 1000


# -- declarations ------------------------------------------------------------------


def test_schedules_become_intervals_and_cron_expressions() -> None:
    c = CronJobs()
    c.interval("i", {"seconds": 1}, "jobs:write_note", {"text": "x"})
    c.interval("m", {"minutes": 1.5}, "jobs:write_note", {"text": "x"})
    c.interval("h", {"hours": 2}, "jobs:write_note", {"text": "x"})
    c.hourly("hourly", {"minuteUTC": 5}, "jobs:write_note")
    c.daily("daily", {"hour_utc": 7, "minute_utc": 30}, "jobs:write_note")
    c.weekly("weekly", {"dayOfWeek": "Friday", "hourUTC": 16, "minuteUTC": 0}, "jobs:write_note")
    c.monthly("monthly", {"day": 31, "hourUTC": 0, "minuteUTC": 15}, "jobs:write_note")
    c.cron("cron", "  */5   9-17 * *   1-5 ", "jobs:write_note")
    assert cron_of(c, "i") == {"kind": "interval", "ms": 1000.0}
    assert cron_of(c, "m") == {"kind": "interval", "ms": 90_000.0}
    assert cron_of(c, "h") == {"kind": "interval", "ms": 7_200_000.0}
    assert cron_of(c, "hourly") == {"kind": "cron", "cron": "5 * * * *"}
    assert cron_of(c, "daily") == {"kind": "cron", "cron": "30 7 * * *"}
    assert cron_of(c, "weekly") == {"kind": "cron", "cron": "0 16 * * 5"}
    assert cron_of(c, "monthly") == {"kind": "cron", "cron": "15 0 31 * *"}
    assert cron_of(c, "cron") == {"kind": "cron", "cron": "*/5 9-17 * * 1-5"}
    assert c.jobs["i"].args == {"text": "x"} and c.jobs["hourly"].args == {}
    # Without minuteUTC the minute is spread by name, the same on every deploy.
    c.hourly("spread", {}, "jobs:write_note")
    again = CronJobs()
    again.hourly("spread", {}, "jobs:write_note")
    assert re.fullmatch(r"([0-9]|[1-5][0-9]) \* \* \* \*", cron_of(c, "spread")["cron"])
    assert cron_of(again, "spread") == cron_of(c, "spread")


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda c: c.interval("x", {"seconds": 0.5}, "f:g"), "at least 1 second"),
        (lambda c: c.interval("x", {"seconds": 1, "minutes": 1}, "f:g"), "exactly one of 'seconds', 'minutes' or 'hours'"),
        (lambda c: c.interval("x", {"days": 1}, "f:g"), "exactly one of"),
        (lambda c: c.interval("x", {"seconds": "5"}, "f:g"), "seconds must be a number"),
        (lambda c: c.interval("x", 5, "f:g"), "the schedule must be a dict"),
        (lambda c: c.hourly("x", {"minuteUTC": 60}, "f:g"), "minuteUTC must be an integer from 0 to 59, got 60"),
        (lambda c: c.hourly("x", {"minute": 5}, "f:g"), "unknown schedule key 'minute'"),
        (lambda c: c.daily("x", {"minuteUTC": 5}, "f:g"), "missing 'hourUTC'"),
        (lambda c: c.daily("x", {"hourUTC": 24, "minuteUTC": 0}, "f:g"), "hourUTC must be an integer from 0 to 23"),
        (lambda c: c.daily("x", {"hourUTC": 1, "hour_utc": 1}, "f:g"), "'hourUTC' is given twice"),
        (lambda c: c.weekly("x", {"dayOfWeek": "funday", "hourUTC": 1}, "f:g"), "dayOfWeek must be one of sunday"),
        (lambda c: c.monthly("x", {"day": 0, "hourUTC": 1}, "f:g"), "day must be an integer from 1 to 31"),
        (lambda c: c.cron("x", "61 * * * *", "f:g"), "'61 * * * *' is not a valid cron expression"),
        (lambda c: c.cron("x", "* * * *", "f:g"), "expected five fields"),
        (lambda c: c.cron("x", "0 * * * * *", "f:g"), "expected five fields"),
        (lambda c: c.cron("x", 5, "f:g"), "must be a string"),
        (lambda c: c.cron("", "* * * * *", "f:g"), "the cron name must be a non-empty string"),
        (lambda c: c.cron("x", "* * * * *", "f:g", ["not", "a", "dict"]), "args must be a dict, got list"),
        (lambda c: c.cron("x", "* * * * *", "f:g", {"s": {1}}), "Invalid value at args.s"),
        (lambda c: c.cron("x", "* * * * *", None), "missing the function to run"),
    ],
)
def test_bad_declarations_raise_clear_errors(declare: Any, message: str) -> None:
    with pytest.raises(CronError) as info:
        declare(CronJobs())
    assert message in str(info.value)


def test_duplicate_names_are_refused() -> None:
    c = CronJobs()
    c.interval("cleanup", {"hours": 1}, "jobs:write_note")
    with pytest.raises(CronError, match="a cron named 'cleanup' is already defined"):
        c.daily("cleanup", {"hourUTC": 1, "minuteUTC": 0}, "jobs:write_note")


def test_next_run_times() -> None:
    every_second = {"kind": "interval", "ms": 1000.0}
    assert first_run(every_second, 5000.0) == 5000.0  # right after the deploy
    assert next_run(every_second, 5000.0, 5000.0) == 6000.0
    assert next_run(every_second, 5000.0, 7500.0) == 8000.0  # overrun: 6000 and 7000 are skipped
    assert next_run(every_second, 9000.0, 7500.0) == 9000.0
    daily = {"kind": "cron", "cron": "30 7 * * *"}
    assert first_run(daily, ms(2024, 3, 1, 8, 0)) == ms(2024, 3, 2, 7, 30)
    assert next_run(daily, 0.0, ms(2024, 3, 1, 7, 30)) == ms(2024, 3, 2, 7, 30)  # strictly after
    monthly_31 = {"kind": "cron", "cron": "0 0 31 * *"}
    assert next_run(monthly_31, 0.0, ms(2024, 2, 1)) == ms(2024, 3, 31)  # February has no 31st
    weekdays = {"kind": "cron", "cron": "0 12 * * 1,5"}
    assert next_run(weekdays, 0.0, ms(2023, 2, 28, 8, 35)) == ms(2023, 3, 3, 12, 0)  # a Friday


# -- running -----------------------------------------------------------------------------


def with_crons(project: Path, body: str) -> Path:
    (project / "functions" / "crons.py").write_text(textwrap.dedent(body))
    return project


def times(server: RunningServer, text: str) -> list[float]:
    return run(server, "query", "jobs:note_times", {"text": text})


def test_interval_crons_fire_on_time_and_never_overlap(tmp_path: Path) -> None:
    project = with_crons(
        make_project(tmp_path, "schedapp"),
        """
        from livebase import CronJobs, api

        crons = CronJobs()
        crons.interval("tick", {"seconds": 1}, api.jobs.write_note, {"text": "tick"})
        crons.interval("slow", {"seconds": 1}, "jobs:slow_action", {"tag": "slow", "ms": 1300})
        """,
    )
    server = start_server(project)
    try:
        time.sleep(2.5)
        ticks = times(server, "tick")
        assert 2 <= len(ticks) <= 4, ticks
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert all(800 <= g <= 1300 for g in gaps), gaps
        wait_for(lambda: len(times(server, "slow:end")) >= 2, 5, "two runs of the slow cron")
        starts, ends = times(server, "slow:start"), times(server, "slow:end")
        # The second run starts only after the first ended: the slot the first
        # run overlapped was skipped, not run concurrently or late.
        assert starts[1] >= ends[0], (starts, ends)
        assert starts[1] - starts[0] == pytest.approx(2000, abs=300), starts
    finally:
        server.stop()


def test_crons_follow_reloads_of_livebase_dev(tmp_path: Path) -> None:
    project = with_crons(
        make_project(tmp_path, "schedapp"),
        """
        from livebase import CronJobs

        crons = CronJobs()
        crons.interval("first", {"seconds": 1}, "jobs:write_note", {"text": "first"})
        """,
    )
    server = start_server(project, mode="dev")
    try:
        wait_for(lambda: notes(server, "first") >= 1, 3, "the first cron")
        with_crons(
            project,
            """
            from livebase import CronJobs

            crons = CronJobs()
            crons.interval("second", {"seconds": 1}, "jobs:write_note", {"text": "second"})
            """,
        )
        wait_for(lambda: notes(server, "second") >= 1, 5, "the cron added by the reload")
        removed_at = notes(server, "first")
        time.sleep(1.5)
        assert notes(server, "first") == removed_at  # the removed cron stopped
        assert notes(server, "second") >= 2
    finally:
        server.stop()


def test_missed_runs_run_once_after_downtime(tmp_path: Path) -> None:
    project = with_crons(
        make_project(tmp_path, "schedapp"),
        """
        from livebase import CronJobs

        crons = CronJobs()
        crons.interval("every 3s", {"seconds": 3}, "jobs:write_note", {"text": "t"})
        """,
    )
    server = start_server(project)
    try:
        first = wait_for(lambda: times(server, "t"), 3, "the first run")[0] / 1000
        server.kill()
        # Down across the slots first+3 s and first+6 s.
        time.sleep(max(0.0, first + 6.3 - time.time()))
        server.start()
        wait_for(lambda: len(times(server, "t")) >= 2, max(0.5, first + 8.7 - time.time()), "the catch-up run")
        assert len(times(server, "t")) == 2  # once, not once per missed slot
        after = wait_for(lambda: (t := times(server, "t")) and len(t) >= 3 and t, 4, "the next run")
        assert after[2] / 1000 == pytest.approx(first + 9, abs=0.5)  # back on its schedule
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('crons.interval("x", {"seconds": 1}, "jobs:nope")', "cron 'x': could not find a function named 'jobs:nope'"),
        ('crons.interval("x", {"seconds": 1}, "jobs:lookup")', "'jobs:lookup' is a query"),
        ('crons.interval("x", {"seconds": 1}, "jobs:write_note")', "jobs:write_note is missing argument(s) text"),
        ('crons.daily("x", {"hourUTC": 25}, "jobs:write_note")', "CronError"),
    ],
)
def test_invalid_crons_stop_startup(tmp_path: Path, body: str, message: str) -> None:
    project = with_crons(make_project(tmp_path, "schedapp"), f"from livebase import CronJobs\ncrons = CronJobs()\n{body}\n")
    with pytest.raises(RuntimeError) as info:
        start_server(project, mode="serve")
    assert message in str(info.value)
