"""Scheduled functions (``ctx.scheduler``) against a real server and clock.

Jobs are scheduled over HTTP, their effects counted through queries, and
their states read from ``_scheduled_functions``; restart tests stop the
server with SIGTERM or SIGKILL and check what runs after it comes back.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from convex import ConvexClient

from tests.support.http import call
from tests.support.server import REPO, RunningServer, make_project, start_server

DOC = REPO / "docs" / "scheduling.md"
EXAMPLES = REPO / "docs" / "examples" / "scheduling"


# -- helpers -------------------------------------------------------------------


def run(server: RunningServer, kind: str, path: str, args: dict[str, Any] | None = None) -> Any:
    """Call a function that must succeed; its value (clean JSON)."""
    body = call(server, kind, path, args or {}, fmt="json", headers=server.admin_headers())
    assert body["status"] == "success", body
    return body["value"]


def error_of(server: RunningServer, kind: str, path: str, args: dict[str, Any]) -> str:
    body = call(server, kind, path, args, fmt="json")
    assert body["status"] == "error", body
    return body["errorMessage"]


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def notes(server: RunningServer, text: str) -> int:
    return run(server, "query", "jobs:notes", {"text": text})


def job(server: RunningServer, job_id: str) -> dict[str, Any] | None:
    return run(server, "query", "jobs:job", {"id": job_id})


def state(server: RunningServer, job_id: str) -> str:
    doc = job(server, job_id)
    assert doc is not None, job_id
    return doc["state"]["kind"]


def wait_state(server: RunningServer, job_id: str, kinds: tuple[str, ...], timeout: float = 5.0) -> dict[str, Any]:
    return wait_for(
        lambda: (d := job(server, job_id)) is not None and d["state"]["kind"] in kinds and d,
        timeout,
        f"job {job_id} to be {kinds}",
    )


def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def sched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(make_project(tmp_path_factory.mktemp("schedapp"), "schedapp"))
    yield server
    server.stop()


# -- scheduling from mutations ---------------------------------------------------


def test_scheduled_mutation_runs_once_and_is_recorded(sched: RunningServer) -> None:
    text = unique()
    before = time.time() * 1000
    job_id = run(sched, "mutation", "jobs:schedule_note", {"text": text, "delay": 50})
    doc = wait_state(sched, job_id, ("success",))
    assert notes(sched, text) == 1
    assert doc["name"] == "jobs:write_note"
    assert doc["args"] == [{"text": text}]
    assert before + 50 - 5 <= doc["scheduledTime"] <= time.time() * 1000
    assert doc["completedTime"] >= doc["scheduledTime"]
    time.sleep(0.3)
    assert notes(sched, text) == 1  # and never again


def test_rolled_back_mutation_schedules_nothing(sched: RunningServer) -> None:
    text = unique()
    assert "rolled back" in error_of(sched, "mutation", "jobs:schedule_then_fail", {"text": text})
    time.sleep(0.3)
    assert notes(sched, text) == 0
    assert not [j for j in run(sched, "query", "jobs:jobs") if j["args"] == [{"text": text}]]


def test_run_at_in_the_past_runs_promptly(sched: RunningServer) -> None:
    text = unique()
    job_id = run(sched, "mutation", "jobs:schedule_note_at", {"text": text, "when": time.time() * 1000 - 60_000})
    wait_state(sched, job_id, ("success",), timeout=2)
    assert notes(sched, text) == 1
    # An aware datetime works too (this one is 5 s in the past).
    text2 = unique()
    job2 = run(sched, "mutation", "jobs:schedule_note_at_datetime", {"text": text2, "seconds_from_now": -5})
    doc = wait_state(sched, job2, ("success",), timeout=2)
    assert abs(doc["scheduledTime"] - (doc["_creationTime"] - 5000)) < 5
    assert notes(sched, text2) == 1


def test_cancel_pending_job(sched: RunningServer) -> None:
    text = unique()
    job_id = run(sched, "mutation", "jobs:schedule_note", {"text": text, "delay": 1500})
    assert state(sched, job_id) == "pending"
    run(sched, "mutation", "jobs:cancel", {"id": job_id})
    doc = job(sched, job_id)
    assert doc is not None and doc["state"] == {"kind": "canceled"}
    assert "completedTime" in doc
    # From an action too; canceling twice (or a finished job) does nothing.
    text2 = unique()
    job2 = run(sched, "mutation", "jobs:schedule_note", {"text": text2, "delay": 1500})
    run(sched, "action", "jobs:cancel_from_action", {"id": job2})
    run(sched, "action", "jobs:cancel_from_action", {"id": job2})
    doc2 = job(sched, job2)
    assert doc2 is not None and doc2["state"] == {"kind": "canceled"}
    time.sleep(max(0.0, doc2["scheduledTime"] / 1000 + 0.3 - time.time()))
    assert notes(sched, text) == 0 and notes(sched, text2) == 0
    done = run(sched, "mutation", "jobs:schedule_note", {"text": unique(), "delay": 0})
    wait_state(sched, done, ("success",))
    run(sched, "mutation", "jobs:cancel", {"id": done})
    assert state(sched, done) == "success"


def test_failing_mutation_is_marked_failed(sched: RunningServer) -> None:
    text = unique()
    job_id = run(sched, "mutation", "jobs:schedule_failing", {"text": text})
    doc = wait_state(sched, job_id, ("failed",))
    assert doc["state"]["error"].startswith("Uncaught AppError: failing on purpose: " + text), doc
    assert notes(sched, text) == 0  # its write was rolled back
    time.sleep(0.3)
    assert state(sched, job_id) == "failed"  # not retried


def test_many_jobs_all_run_once(sched: RunningServer) -> None:
    text = unique()
    ids = run(sched, "mutation", "jobs:schedule_many", {"n": 60, "text": text})
    assert len(set(ids)) == 60
    wait_for(lambda: notes(sched, text) >= 60, 10, "60 scheduled notes")
    time.sleep(0.2)
    assert notes(sched, text) == 60
    assert all(state(sched, i) == "success" for i in ids[:5])


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "InvalidScheduledFunction: scheduler.run_after(): could not find a function named 'jobs:nope'"),
        ("query", "'jobs:lookup' is a query; only mutations and actions can be scheduled"),
        ("bad_args", "ArgumentValidationError: scheduler.run_after(): jobs:write_note got unexpected argument(s) extra"),
        ("missing_args", "jobs:write_note is missing argument(s) text"),
        ("not_a_value", "ArgumentValidationError: scheduler.run_after(): Invalid value at args.text"),
        ("negative", "the delay must not be negative, got -5"),
        ("naive", "the datetime has no time zone"),
        ("nan", "the time must be milliseconds since the epoch or a datetime, got nan"),
        ("too_big", "ScheduledFunctionsArgumentsTooLarge: scheduler.run_after(): the arguments of jobs:write_note are"),
        ("too_many", "TooManyFunctionsScheduled: Too many functions scheduled by this function execution (limit: 1000)"),
        ("cancel_wrong_table", "scheduler.cancel(): 'j"),
    ],
)
def test_scheduling_errors(sched: RunningServer, case: str, expected: str) -> None:
    message = error_of(sched, "mutation", "jobs:schedule_bad", {"case": case})
    assert expected in message, message


def test_schedule_too_many_rolls_back_everything(sched: RunningServer) -> None:
    before = len(run(sched, "query", "jobs:jobs"))
    error_of(sched, "mutation", "jobs:schedule_bad", {"case": "too_many"})
    assert len(run(sched, "query", "jobs:jobs")) == before


def test_scheduled_functions_run_without_the_callers_identity(sched: RunningServer) -> None:
    text = unique()
    acting_as = base64.b64encode(json.dumps({"subject": "alice", "issuer": "https://issuer.test"}).encode()).decode()
    body = call(
        sched,
        "mutation",
        "jobs:schedule_identity_check",
        {"text": text},
        fmt="json",
        headers={"Authorization": f"Convex {sched.admin_key}:{acting_as}"},
    )
    assert body["status"] == "success", body
    wait_state(sched, body["value"], ("success",))
    assert notes(sched, f"{text}:caller:alice") == 1
    assert notes(sched, f"{text}:scheduled:None") == 1


def test_scheduling_from_an_action_is_immediate(sched: RunningServer) -> None:
    text = unique()
    job_id = run(sched, "action", "jobs:schedule_from_action", {"text": text, "delay": 0})
    wait_state(sched, job_id, ("success",))
    assert notes(sched, text) == 1


def test_scheduled_action_states_and_at_most_once(sched: RunningServer) -> None:
    tag = unique()
    job_id = run(sched, "mutation", "jobs:schedule_action", {"fn": "jobs:slow_action", "tag": tag, "ms": 800})
    wait_state(sched, job_id, ("inProgress",), timeout=3)  # marked before the action starts
    wait_for(lambda: notes(sched, f"{tag}:start") == 1, 3, "the action to start")
    assert notes(sched, f"{tag}:end") == 0 and state(sched, job_id) == "inProgress"
    doc = wait_state(sched, job_id, ("success",), timeout=5)
    assert "completedTime" in doc
    time.sleep(0.3)
    assert notes(sched, f"{tag}:start") == 1 and notes(sched, f"{tag}:end") == 1


def test_canceling_a_running_action_cancels_what_it_schedules(sched: RunningServer) -> None:
    tag = unique()
    job_id = run(
        sched, "mutation", "jobs:schedule_action", {"fn": "jobs:action_schedules_children", "tag": tag, "ms": 500}
    )
    wait_state(sched, job_id, ("inProgress",), timeout=3)
    run(sched, "mutation", "jobs:cancel", {"id": job_id})
    assert state(sched, job_id) == "canceled"
    children = wait_for(
        lambda: [j for j in run(sched, "query", "jobs:jobs") if j["args"] == [{"text": f"{tag}:child"}]],
        5,
        "the child job",
    )
    time.sleep(0.3)
    assert children[0]["state"]["kind"] == "canceled"
    assert notes(sched, f"{tag}:start") == 1  # the action did run ...
    assert notes(sched, f"{tag}:child") == 0  # ... but its child did not
    assert state(sched, job_id) == "canceled"  # finishing doesn't overwrite the cancel


def test_subscription_sees_state_changes(sched: RunningServer) -> None:
    """The official Python client, subscribed to a query over the job."""
    job_id = run(sched, "mutation", "jobs:schedule_note", {"text": unique(), "delay": 400})
    client = ConvexClient(sched.url)
    sub = client.subscribe("jobs:job", {"id": job_id})

    async def watch() -> list[str]:
        kinds: list[str] = []
        while not kinds or kinds[-1] == "pending":
            value = await asyncio.wait_for(sub.__anext__(), 5)
            kinds.append(value["state"]["kind"])
        return kinds

    try:
        kinds = asyncio.run(watch())
    finally:
        sub.unsubscribe()
    assert kinds[0] == "pending" and kinds[-1] == "success", kinds


# -- restarts ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_pending_mutations_survive_restart_and_run_exactly_once(tmp_path: Path, how: str) -> None:
    server = start_server(make_project(tmp_path, "schedapp"))
    try:
        later, overdue = unique(), unique()
        late_job = run(server, "mutation", "jobs:schedule_note", {"text": later, "delay": 2000})
        overdue_job = run(server, "mutation", "jobs:schedule_note", {"text": overdue, "delay": 600})
        if how == "sigterm":
            server.stop()
        else:
            server.kill()
        stopped = time.monotonic()
        time.sleep(max(0.0, 0.8 - (time.monotonic() - stopped)))  # the 600 ms job is now overdue
        server.start()
        wait_state(server, overdue_job, ("success",), timeout=2)
        assert notes(server, overdue) == 1
        wait_state(server, late_job, ("success",), timeout=4)
        time.sleep(0.3)
        assert notes(server, later) == 1 and notes(server, overdue) == 1
    finally:
        server.stop()


def test_action_interrupted_by_a_crash_is_failed_not_rerun(tmp_path: Path) -> None:
    server = start_server(make_project(tmp_path, "schedapp"))
    try:
        tag = unique()
        job_id = run(server, "mutation", "jobs:schedule_action", {"fn": "jobs:slow_action", "tag": tag, "ms": 5000})
        wait_state(server, job_id, ("inProgress",), timeout=3)
        wait_for(lambda: notes(server, f"{tag}:start") == 1, 3, "the action to start")
        server.kill()
        server.start()
        doc = wait_state(server, job_id, ("failed",), timeout=3)
        assert "interrupted by a server restart" in doc["state"]["error"]
        time.sleep(0.5)
        assert notes(server, f"{tag}:start") == 1 and notes(server, f"{tag}:end") == 0
        assert state(server, job_id) == "failed"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with the executor's knobs turned down."""
    server = start_server(
        make_project(tmp_path_factory.mktemp("tuned"), "schedapp"),
        env={
            "LIVEBASE_SCHEDULER_CONCURRENCY": "2",
            "LIVEBASE_SCHEDULER_RETENTION_MS": "300",
            "LIVEBASE_SCHEDULER_CLEANUP_INTERVAL_MS": "200",
        },
    )
    yield server
    server.stop()


def test_finished_jobs_are_cleaned_up(tuned: RunningServer) -> None:
    done = run(tuned, "mutation", "jobs:schedule_note", {"text": unique(), "delay": 0})
    waiting = run(tuned, "mutation", "jobs:schedule_note", {"text": unique(), "delay": 60_000})
    wait_state(tuned, done, ("success",))
    wait_for(lambda: job(tuned, done) is None, 12, "the finished job to be deleted")
    assert state(tuned, waiting) == "pending"  # pending jobs are never cleaned up


def test_concurrency_cap(tuned: RunningServer) -> None:
    tag = unique()
    ids = run(tuned, "mutation", "jobs:schedule_actions", {"n": 5, "tag": tag, "ms": 250})
    for job_id in ids:
        wait_state(tuned, job_id, ("success",), timeout=5)
    spans = []
    for i in range(5):
        (start,) = run(tuned, "query", "jobs:note_times", {"text": f"{tag}{i}:start"})
        (end,) = run(tuned, "query", "jobs:note_times", {"text": f"{tag}{i}:end"})
        spans.append((start, end))
    running_at = [sum(1 for s, e in spans if s <= t < e) for t, _ in spans]
    assert max(running_at) == 2, spans  # two at a time, never more


# -- the documentation -------------------------------------------------------------


def _doc_blocks() -> dict[str, str]:
    blocks = re.findall(r"```python\n# (docs/examples/scheduling/[^\n]+)\n(.*?)```", DOC.read_text(), re.S)
    return dict(blocks)


def test_doc_blocks_are_the_example_files() -> None:
    blocks = _doc_blocks()
    files = sorted(p.relative_to(REPO).as_posix() for p in EXAMPLES.rglob("*.py"))
    assert sorted(blocks) == files
    for path, text in blocks.items():
        assert (REPO / path).read_text() == text, path


def test_docs_examples(tmp_path: Path) -> None:
    server = start_server(make_project(tmp_path, EXAMPLES))
    try:
        # crons.py: the interval cron ran right after the deploy.
        stats = wait_for(lambda: run(server, "query", "stats:latest"), 3, "the stats cron")
        assert stats["messages"] == 0
        # messages.py: the message is deleted by the scheduled mutation.
        run(server, "mutation", "messages:send_expiring", {"text": "poof", "seconds": 0.2})
        assert run(server, "query", "messages:list") == ["poof"]
        wait_for(lambda: run(server, "query", "messages:list") == [], 3, "the message to expire")
        # orders.py: an action right after the commit; a canceled one never runs.
        paid = run(server, "mutation", "orders:place", {"item": "book", "charge_after_ms": 0})
        wait_for(
            lambda: run(server, "query", "orders:status", {"order": paid}) == {"order": "charged", "job": "success"},
            3,
            "the order to be charged",
        )
        kept = run(server, "mutation", "orders:place", {"item": "pen", "charge_after_ms": 300})
        run(server, "mutation", "orders:cancel", {"order": kept})
        time.sleep(0.5)
        assert run(server, "query", "orders:status", {"order": kept}) == {"order": "canceled", "job": "canceled"}
        # reminders.py: run_at with a datetime, and the pending list.
        run(server, "mutation", "reminders:remind", {"text": "later", "minutes": 30})
        run(server, "mutation", "reminders:remind", {"text": "now", "minutes": 0})
        wait_for(lambda: run(server, "query", "reminders:fired") == ["now"], 3, "the reminder")
        pending = run(server, "query", "reminders:pending")
        assert [p["text"] for p in pending] == ["later"]
        assert pending[0]["at"] > time.time() * 1000 + 29 * 60_000
    finally:
        server.stop()
