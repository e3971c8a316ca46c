"""The session log: schema and migrations, consent, storing real steps, early stops, a killed
writer, corrupt files, feedback, threads and the ``anamnesis sessions`` command."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from agent import sessionlog
from agent.consultation import AgentConfig, Notice, Retrieval
from agent.extract import PhraseTable
from agent.knowledge import default_pack
from agent.planner import PlannerConfig
from agent.resources import Resources
from agent.sessionlog import SessionLog, SessionLogError, UnknownSession, step_row
from retrieval.documents import Passage
from ui.cli import sessions as sessions_cli

REPO = Path(__file__).resolve().parents[1]
SCRIPT = ["I have a sore throat and a runny nose since Monday", "no", "no", "no"]


@pytest.fixture(scope="module")
def resources() -> Resources:
    pack = default_pack()
    return Resources(pack, PhraseTable.from_pack(pack))


def consult(log: SessionLog, resources: Resources, lines: list[str] = SCRIPT) -> str:
    consultation = resources.consultation(AgentConfig(planner=PlannerConfig(max_questions=3)))
    sid = log.start(policy="planner", config=consultation.config.model_dump(), consent=True)
    for line in lines:
        for _ in log.record(sid, line, consultation.respond(line)):
            pass
        if consultation.finished:
            break
    return sid


def tables(db: Path) -> dict[str, list[str]]:
    con = sqlite3.connect(db)
    names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    out = {n: [c[1] for c in con.execute(f"PRAGMA table_info({n})")] for n in names}
    con.close()
    return out


def count_rows(db: Path) -> int:
    con = sqlite3.connect(db)
    total = sum(
        con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
        for t in ("sessions", "turns", "steps", "feedback")
    )
    con.close()
    return total


def test_an_empty_database_migrates_to_the_current_schema(tmp_path):
    db = tmp_path / "s.db"
    db.touch()  # an empty file is an empty database
    log = SessionLog(db)
    assert log.version == len(sessionlog.MIGRATIONS)
    assert tables(db) == {
        "sessions": ["id", "started", "policy", "config", "consent"],
        "turns": ["id", "session", "n", "patient_text", "at", "status"],
        "steps": ["turn", "i", "type", "reason", "text", "payload"],
        "feedback": ["id", "session", "turn", "rating", "comment", "at"],
    }
    assert log._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    log.close()


def test_migrations_run_in_order_once_and_a_newer_schema_is_refused(tmp_path, monkeypatch):
    db = tmp_path / "s.db"
    SessionLog(db).close()
    extra = "CREATE TABLE tags (session TEXT, tag TEXT);"
    monkeypatch.setattr(sessionlog, "MIGRATIONS", [*sessionlog.MIGRATIONS, extra])
    log = SessionLog(db)  # only the new script runs: the first would fail on existing tables
    assert log.version == 2 and "tags" in tables(db)
    log.close()
    SessionLog(db).close()  # nothing left to run
    monkeypatch.setattr(sessionlog, "MIGRATIONS", sessionlog.MIGRATIONS[:1])
    with pytest.raises(SessionLogError, match="newer"):
        SessionLog(db)


def test_default_is_in_the_data_folder(data_home):
    from agent.config import load_config

    log = SessionLog.default(load_config())
    assert log.path == data_home / "sessions.db" and log.path.exists()
    log.close()


def test_without_consent_nothing_is_stored(tmp_path, resources):
    db = tmp_path / "s.db"
    log = SessionLog(db)
    consultation = resources.consultation()
    assert log.start(policy="planner", config={}, consent=False) is None
    direct = list(resources.consultation().respond(SCRIPT[0]))
    logged = list(log.record(None, SCRIPT[0], consultation.respond(SCRIPT[0])))
    assert logged == direct and logged
    log.feedback(None, 1, rating=-1)
    assert count_rows(db) == 0 and log.sessions() == []


def test_a_consultation_is_stored_turn_by_turn(tmp_path, resources):
    log = SessionLog(tmp_path / "s.db")
    sid = consult(log, resources)
    record = log.session(sid)
    assert [t.n for t in record.turns] == [1, 2, 3, 4] and log.turn_count(sid) == 4
    assert record.turns[0].patient_text == SCRIPT[0]
    assert all(t.status == "complete" for t in record.turns)
    first = record.turns[0].steps[0]
    assert first.type == "question" and first.reason and first.text.endswith("?")
    assert first.payload["target"] and first.payload["differential"][0][1] > 0
    last = record.turns[-1].steps[-1]
    assert last.type == "assessment" and last.payload["urgency"]
    assert record.config["planner"]["max_questions"] == 3 and record.consent
    [summary] = log.sessions()
    assert (summary.id, summary.turns, summary.last_step) == (sid, 4, "assessment")


def test_steps_are_serialised_with_their_sources():
    passage = Passage("p1", "d1", "Influenza", "Test", "https://example.org/1", "", "Fever.")
    kind, reason, text, payload = step_row(Retrieval("flu fever", (passage,), "why"))
    assert (kind, reason, text) == ("retrieval", "why", "flu fever")
    assert payload["sources"][0]["url"] == "https://example.org/1"
    assert json.loads(json.dumps(payload)) == payload


def scripted_steps(n: int, fail_after: int | None = None):
    for i in range(n):
        if fail_after is not None and i == fail_after:
            raise RuntimeError("model crashed")
        yield Notice(f"step {i}", f"reason {i}")


def test_an_early_stop_or_an_error_still_commits_what_was_yielded(tmp_path):
    log = SessionLog(tmp_path / "s.db")
    sid = log.start(policy="planner", config={}, consent=True)
    for _ in log.record(sid, "first", scripted_steps(3)):
        break  # the consumer stops after one step
    with pytest.raises(RuntimeError, match="model crashed"):
        for _ in log.record(sid, "second", scripted_steps(3, fail_after=2)):
            pass
    first, second = log.session(sid).turns
    assert first.status == "stopped" and [s.text for s in first.steps] == ["step 0"]
    assert second.status.startswith("error: RuntimeError") and len(second.steps) == 2


def test_recording_into_an_unknown_session_is_refused(tmp_path):
    log = SessionLog(tmp_path / "s.db")
    with pytest.raises(UnknownSession):
        list(log.record("nope", "hi", scripted_steps(1)))


KILLED_WRITER = """
import os, sys
from agent.consultation import Notice
from agent.sessionlog import SessionLog

log = SessionLog(sys.argv[1])
sid = log.start(policy="planner", config={}, consent=True)
print(sid, flush=True)

def steps(turn):
    yield Notice(f"turn {turn} step 1", "r")
    if turn == 3:
        os._exit(1)  # killed in the middle of the third turn
    yield Notice(f"turn {turn} step 2", "r")

for turn in (1, 2, 3):
    for _ in log.record(sid, f"message {turn}", steps(turn)):
        pass
"""


def test_a_killed_writer_loses_no_committed_turn(tmp_path):
    db = tmp_path / "s.db"
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(db)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    sid = run.stdout.split()[0]
    record = SessionLog(db).session(sid)
    assert [t.patient_text for t in record.turns] == ["message 1", "message 2"]
    assert all(len(t.steps) == 2 for t in record.turns)


@pytest.mark.parametrize(
    "content", [b"this is not a database at all\n" * 20, sessionlog.SQLITE_HEADER + b"\x07" * 500]
)
def test_a_corrupt_file_gives_a_clear_error_and_is_left_untouched(tmp_path, content):
    db = tmp_path / "sessions.db"
    db.write_bytes(content)
    with pytest.raises(SessionLogError) as err:
        SessionLog(db)
    assert str(db) in str(err.value) and "untouched" in str(err.value)
    assert db.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sessions.db"]


def test_feedback_is_checked_appended_and_the_latest_rating_counts(tmp_path):
    log = SessionLog(tmp_path / "s.db")
    sid = log.start(policy="planner", config={}, consent=True)
    list(log.record(sid, "hello", scripted_steps(1)))
    with pytest.raises(ValueError, match="rating"):
        log.feedback(sid, 1, rating=5)
    with pytest.raises(ValueError, match="needs"):
        log.feedback(sid, 1, comment="   ")
    with pytest.raises(UnknownSession):
        log.feedback(sid, 2, rating=1)
    log.feedback(sid, 1, rating=1)
    log.feedback(sid, 1, rating=-1, comment=" Ask about fever first. ")
    turn = log.session(sid).turns[0]
    assert turn.rating == -1 and turn.feedback[-1].comment == "Ask about fever first."
    summary = log.sessions()[0]
    assert (summary.thumbs_up, summary.thumbs_down) == (1, 1)


def test_sessions_in_threads_keep_their_own_turns(tmp_path):
    log = SessionLog(tmp_path / "s.db")
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            sid = log.start(policy="planner", config={"worker": k}, consent=True)
            for n in range(5):
                list(log.record(sid, f"w{k} t{n}", scripted_steps(2)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    summaries = log.sessions()
    assert len(summaries) == 8
    for s in summaries:
        record = log.session(s.id)
        k = record.config["worker"]
        assert [t.patient_text for t in record.turns] == [f"w{k} t{n}" for n in range(5)]


def test_forget_deletes_everything_about_a_session(tmp_path):
    db = tmp_path / "s.db"
    log = SessionLog(db)
    sid = log.start(policy="planner", config={}, consent=True)
    list(log.record(sid, "hello", scripted_steps(2)))
    log.feedback(sid, 1, rating=1)
    log.forget(sid)
    assert count_rows(db) == 0


def test_sessions_command_lists_shows_and_exports(data_home, resources, capsys, tmp_path):
    assert sessions_cli.main(["list"]) == 0
    assert "No sessions" in capsys.readouterr().out
    log = SessionLog(data_home / "sessions.db")
    sid = consult(log, resources, ["My name is Sarah Collins, I have a sore throat", *SCRIPT[1:]])
    log.feedback(sid, 2, rating=-1, comment="Too many questions")
    log.close()
    assert sessions_cli.main(["list"]) == 0
    assert sid[:12] in capsys.readouterr().out
    assert sessions_cli.main(["show", sid[:8]]) == 0
    shown = capsys.readouterr().out
    assert "Sarah Collins" in shown and "assessment" in shown and "Too many questions" in shown
    out = tmp_path / "export.jsonl"
    assert sessions_cli.main(["export", "--out", str(out)]) == 0
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["id"] == sid and len(row["turns"]) == 4
    assert "Sarah" not in out.read_text() and "[NAME]" in out.read_text()  # scrubbed by default
    assert sessions_cli.main(["export", "--raw"]) == 0
    assert "Sarah Collins" in capsys.readouterr().out
    assert sessions_cli.main(["show", "0000"]) == 2
    assert "no session" in capsys.readouterr().err


def test_sessions_command_on_a_corrupt_database_is_one_clear_line(data_home, capsys):
    data_home.mkdir(parents=True, exist_ok=True)
    (data_home / "sessions.db").write_text("garbage " * 100)
    assert sessions_cli.main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("anamnesis:") and "sessions.db" in err and "Traceback" not in err
