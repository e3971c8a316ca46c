"""The session log: every turn of a consented consultation, stored in SQLite by the library.

``log = SessionLog.default(config)`` opens ``$ANAMNESIS_HOME/sessions.db`` (WAL mode, numbered
append-only migrations); ``sid = log.start(policy=..., config=..., consent=True)``, then
``for step in log.record(sid, text, consultation.respond(text))`` stores each turn as it streams.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.config import AppConfig
from agent.consultation import Assessment, Escalation, Notice, Question, Retrieval, Step

log = logging.getLogger(__name__)

# Append-only: never edit a script once released; add a new one at the end.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        started TEXT NOT NULL,
        policy TEXT NOT NULL,
        config TEXT NOT NULL,
        consent INTEGER NOT NULL CHECK (consent IN (0, 1))
    );
    CREATE TABLE turns (
        id INTEGER PRIMARY KEY,
        session TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        patient_text TEXT NOT NULL,
        at TEXT NOT NULL,
        status TEXT NOT NULL,
        UNIQUE (session, n)
    );
    CREATE TABLE steps (
        turn INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
        i INTEGER NOT NULL,
        type TEXT NOT NULL,
        reason TEXT NOT NULL,
        text TEXT NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (turn, i)
    );
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        turn INTEGER NOT NULL,
        rating INTEGER CHECK (rating IN (-1, 1)),
        comment TEXT,
        at TEXT NOT NULL,
        FOREIGN KEY (session, turn) REFERENCES turns(session, n) ON DELETE CASCADE
    );
    CREATE INDEX sessions_started ON sessions(started);
    CREATE INDEX feedback_turn ON feedback(session, turn);
    """,
]

SQLITE_HEADER = b"SQLite format 3\x00"


class SessionLogError(ValueError):
    """The session database cannot be used: unreadable, foreign or from a newer version."""


class UnknownSession(SessionLogError):
    """No session, or no such turn of a session, in the log."""


@dataclass(frozen=True)
class SessionSummary:
    id: str
    started: str
    policy: str
    consent: bool
    turns: int
    last_step: str | None  # the type of the last step stored: question, assessment, ...
    thumbs_up: int
    thumbs_down: int


@dataclass(frozen=True)
class StepRecord:
    i: int
    type: str
    reason: str
    text: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class FeedbackRecord:
    turn: int
    rating: int | None
    comment: str | None
    at: str


@dataclass(frozen=True)
class TurnRecord:
    n: int
    patient_text: str
    at: str
    status: str  # complete | stopped (the consumer stopped early) | error: ...
    steps: tuple[StepRecord, ...]
    feedback: tuple[FeedbackRecord, ...]

    @property
    def rating(self) -> int | None:
        """The latest rating given to this turn, if any."""
        rated = [f.rating for f in self.feedback if f.rating is not None]
        return rated[-1] if rated else None


@dataclass(frozen=True)
class SessionRecord:
    id: str
    started: str
    policy: str
    config: dict[str, Any]
    consent: bool
    turns: tuple[TurnRecord, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _passage(p: object) -> dict[str, Any]:
    to_dict = getattr(p, "to_dict", None)
    return to_dict() if callable(to_dict) else {"text": str(p)}


def step_row(step: Step) -> tuple[str, str, str, dict[str, Any]]:
    """(type, reason, text, payload) of a step, as stored: JSON-able, no objects."""
    kind = type(step).__name__.lower()
    if isinstance(step, Question):
        payload = {
            "target": step.target,
            "kind": step.kind,
            "differential": [list(d) for d in step.differential],
        }
        return kind, step.reason, step.text, payload
    if isinstance(step, Retrieval):
        return kind, step.reason, step.query, {"sources": [_passage(p) for p in step.passages]}
    if isinstance(step, Assessment):
        payload = {
            "differential": [list(d) for d in step.differential],
            "urgency": step.urgency,
            "sources": [{"n": n, **_passage(p)} for n, p in step.cited],
        }
        return kind, step.reason, step.text, payload
    if isinstance(step, Escalation):
        payload = {"rules": list(step.rules), "findings": list(step.findings)}
        return kind, step.reason, step.advice, payload
    if isinstance(step, Notice):
        return kind, step.reason, step.text, {}
    data = json.loads(json.dumps(dataclasses.asdict(step), default=str))  # a future step type
    return kind, str(data.pop("reason", "")), str(data.pop("text", "")), data


class SessionLog:
    """A thread-safe handle on the session database: one connection guarded by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        _check_header(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=10.0
            )
        except sqlite3.Error as exc:
            raise SessionLogError(f"{self.path}: cannot open the session database: {exc}") from exc
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout = 10000")
            self._db.execute("PRAGMA foreign_keys = ON")
            problem = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise sqlite3.DatabaseError(problem)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise SessionLogError(
                f"{self.path}: not a usable session database ({exc}); it was left untouched. "
                "Move it aside to start a new log."
            ) from exc

    @classmethod
    def default(cls, config: AppConfig) -> SessionLog:
        return cls(config.database)

    @property
    def version(self) -> int:
        with self._lock:
            return self._db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SessionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise SessionLogError(
                    f"{self.path}: written by a newer Anamnesis (schema {version}, this one "
                    f"knows {len(MIGRATIONS)}); upgrade to read it."
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                try:
                    self._db.executescript(
                        f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
                    )
                except sqlite3.Error:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                log.info("session log %s migrated to schema %d", self.path, number)

    # ------------------------------------------------------------------ writing

    def start(self, *, policy: str, config: dict, consent: bool) -> str | None:
        """A new session id (uuid4 hex) when consent is True; None (and nothing stored)
        otherwise."""
        if not consent:
            return None
        session_id = uuid.uuid4().hex
        with self._lock:
            self._db.execute(
                "INSERT INTO sessions (id, started, policy, config, consent) "
                "VALUES (?, ?, ?, ?, 1)",
                (session_id, _now(), policy, json.dumps(config, default=str)),
            )
        return session_id

    def record(
        self, session_id: str | None, patient_text: str, steps: Iterable[Step]
    ) -> Iterator[Step]:
        """Yields the steps unchanged while storing them; the turn is committed when the steps
        end, and also (with what was yielded so far) when the consumer stops early or an
        exception passes through. With session_id None it stores nothing."""
        if session_id is None:
            yield from steps
            return
        self._require_session(session_id)
        seen: list[Step] = []
        status = "complete"
        try:
            for step in steps:
                seen.append(step)
                yield step
        except GeneratorExit:
            status = "stopped"
            raise
        except BaseException as exc:
            status = f"error: {type(exc).__name__}: {exc}"[:500]
            raise
        finally:
            try:
                self._store_turn(session_id, patient_text, seen, status)
            except sqlite3.Error as exc:
                if status == "complete":
                    raise SessionLogError(f"{self.path}: could not store the turn: {exc}") from exc
                log.error("could not store an interrupted turn of %s: %s", session_id, exc)

    def _store_turn(
        self, session_id: str, patient_text: str, steps: list[Step], status: str
    ) -> int:
        rows = [step_row(s) for s in steps]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                n = self._db.execute(
                    "SELECT COALESCE(MAX(n), 0) + 1 FROM turns WHERE session = ?", (session_id,)
                ).fetchone()[0]
                turn_id = self._db.execute(
                    "INSERT INTO turns (session, n, patient_text, at, status) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (session_id, n, patient_text, _now(), status),
                ).lastrowid
                self._db.executemany(
                    "INSERT INTO steps (turn, i, type, reason, text, payload) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (turn_id, i, kind, reason, text, json.dumps(payload, default=str))
                        for i, (kind, reason, text, payload) in enumerate(rows)
                    ],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return n

    def feedback(
        self,
        session_id: str | None,
        turn: int,
        *,
        rating: int | None = None,
        comment: str | None = None,
    ) -> None:
        """Feedback on one turn (numbered from 1): rating +1 or -1, and/or a comment or
        correction. Appended: the latest rating of a turn is the one that counts. With
        session_id None (no consent) nothing is stored."""
        if session_id is None:
            return
        if rating not in (None, 1, -1):
            raise ValueError(f"rating must be +1, -1 or None, not {rating!r}")
        comment = comment.strip() if comment else None
        if rating is None and not comment:
            raise ValueError("feedback needs a rating or a comment")
        with self._lock:
            exists = self._db.execute(
                "SELECT 1 FROM turns WHERE session = ? AND n = ?", (session_id, turn)
            ).fetchone()
            if not exists:
                raise UnknownSession(f"session {session_id} has no turn {turn}")
            self._db.execute(
                "INSERT INTO feedback (session, turn, rating, comment, at) VALUES (?, ?, ?, ?, ?)",
                (session_id, turn, rating, comment, _now()),
            )

    def forget(self, session_id: str) -> None:
        """Delete a session and everything stored about it (consent withdrawn)."""
        with self._lock:
            self._require_session(session_id)
            self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    # ------------------------------------------------------------------ reading

    def _require_session(self, session_id: str) -> None:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise UnknownSession(f"no session {session_id!r} in {self.path}")

    def turn_count(self, session_id: str | None) -> int:
        """Turns stored for a session so far: the number of the latest turn (0 for none)."""
        if session_id is None:
            return 0
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(MAX(n), 0) FROM turns WHERE session = ?", (session_id,)
            ).fetchone()
        return row[0]

    def sessions(self) -> list[SessionSummary]:
        """Every session, the most recent first."""
        with self._lock:
            rows = self._db.execute(
                """
                SELECT s.id, s.started, s.policy, s.consent,
                    (SELECT COUNT(*) FROM turns t WHERE t.session = s.id) AS turns,
                    (SELECT st.type FROM turns t JOIN steps st ON st.turn = t.id
                        WHERE t.session = s.id ORDER BY t.n DESC, st.i DESC LIMIT 1) AS last_step,
                    (SELECT COUNT(*) FROM feedback f WHERE f.session = s.id AND f.rating = 1)
                        AS up,
                    (SELECT COUNT(*) FROM feedback f WHERE f.session = s.id AND f.rating = -1)
                        AS down
                FROM sessions s ORDER BY s.started DESC, s.rowid DESC
                """
            ).fetchall()
        return [
            SessionSummary(
                r["id"],
                r["started"],
                r["policy"],
                bool(r["consent"]),
                r["turns"],
                r["last_step"],
                r["up"],
                r["down"],
            )
            for r in rows
        ]

    def session(self, session_id: str) -> SessionRecord:
        """One session with its turns, their steps and feedback; UnknownSession if absent.
        A unique prefix of the id is enough."""
        with self._lock:
            matches = self._db.execute(
                "SELECT * FROM sessions WHERE id = ? OR id LIKE ? ESCAPE '\\' LIMIT 2",
                (session_id, _like_prefix(session_id)),
            ).fetchall()
            exact = [m for m in matches if m["id"] == session_id]
            if exact:
                matches = exact
            if not matches:
                raise UnknownSession(f"no session {session_id!r} in {self.path}")
            if len(matches) > 1:
                raise UnknownSession(f"{session_id!r} names more than one session: give more")
            s = matches[0]
            turns = self._db.execute(
                "SELECT * FROM turns WHERE session = ? ORDER BY n", (s["id"],)
            ).fetchall()
            steps = self._db.execute(
                "SELECT st.* FROM steps st JOIN turns t ON st.turn = t.id WHERE t.session = ? "
                "ORDER BY t.n, st.i",
                (s["id"],),
            ).fetchall()
            feedback = self._db.execute(
                "SELECT * FROM feedback WHERE session = ? ORDER BY id", (s["id"],)
            ).fetchall()
        by_turn: dict[int, list[StepRecord]] = {}
        for st in steps:
            by_turn.setdefault(st["turn"], []).append(
                StepRecord(st["i"], st["type"], st["reason"], st["text"], json.loads(st["payload"]))
            )
        notes: dict[int, list[FeedbackRecord]] = {}
        for f in feedback:
            notes.setdefault(f["turn"], []).append(
                FeedbackRecord(f["turn"], f["rating"], f["comment"], f["at"])
            )
        return SessionRecord(
            s["id"],
            s["started"],
            s["policy"],
            json.loads(s["config"]),
            bool(s["consent"]),
            tuple(
                TurnRecord(
                    t["n"],
                    t["patient_text"],
                    t["at"],
                    t["status"],
                    tuple(by_turn.get(t["id"], ())),
                    tuple(notes.get(t["n"], ())),
                )
                for t in turns
            ),
        )

    def export(self) -> Iterator[dict]:
        """One JSON-able dict per session (oldest first), with its turns, steps and feedback."""
        with self._lock:
            ids = [
                r[0] for r in self._db.execute("SELECT id FROM sessions ORDER BY started, rowid")
            ]
        for session_id in ids:
            try:
                yield self.session(session_id).to_dict()
            except UnknownSession:  # deleted meanwhile
                continue


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _check_header(path: Path) -> None:
    """Refuse, before SQLite touches it, a file that is not an SQLite database."""
    if not path.exists():
        return
    if path.is_dir():
        raise SessionLogError(f"{path}: is a folder, not a session database")
    with path.open("rb") as fh:
        head = fh.read(len(SQLITE_HEADER))
    if head and head != SQLITE_HEADER:
        raise SessionLogError(
            f"{path}: not an SQLite database (corrupt or another kind of file); it was left "
            "untouched. Move it aside to start a new log."
        )
