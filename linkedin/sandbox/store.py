"""The sandbox's mutable state: an in-memory mirror written through to one SQLite file under state_dir.

Reads never touch SQLite (the read path must stay cheap under load); every change is written through at
once, so a restart on the same state_dir loses nothing, sessions included. All access happens on the
server's event-loop thread (every route is `async def`), so the mirror needs no locking; the SQLite
connection is opened with `check_same_thread=False` only because uvicorn may run in another thread than
the one that built the app.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from linkedin.sandbox.records import (
    SENT_INVITATION_ID_BASE,
    Challenge,
    Fault,
    OutboxEntry,
    ReceivedChange,
    Restriction,
    SentInvitation,
    Session,
    TokenRecord,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    li_at TEXT PRIMARY KEY, account_id INTEGER NOT NULL, jsessionid TEXT NOT NULL,
    created_at INTEGER NOT NULL, expired INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, account_id INTEGER NOT NULL, kind TEXT NOT NULL,
    to_member_id INTEGER NOT NULL, to_urn TEXT NOT NULL, at INTEGER NOT NULL, text TEXT, subject TEXT,
    note TEXT, thread_id TEXT, message_id TEXT, token TEXT);
CREATE TABLE IF NOT EXISTS sent_invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, account_id INTEGER NOT NULL, to_member_id INTEGER NOT NULL,
    note TEXT, token TEXT, secret TEXT NOT NULL, sent_at INTEGER NOT NULL, state TEXT NOT NULL,
    updated_at INTEGER);
CREATE TABLE IF NOT EXISTS received_changes (
    invitation_id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, state TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS added_connections (
    account_id INTEGER NOT NULL, member_id INTEGER NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY (account_id, member_id));
CREATE TABLE IF NOT EXISTS tokens (
    account_id INTEGER NOT NULL, token TEXT NOT NULL, kind TEXT NOT NULL, result TEXT NOT NULL,
    PRIMARY KEY (account_id, token));
CREATE TABLE IF NOT EXISTS read_marks (
    account_id INTEGER NOT NULL, thread_id TEXT NOT NULL, PRIMARY KEY (account_id, thread_id));
CREATE TABLE IF NOT EXISTS restrictions (
    account_id INTEGER PRIMARY KEY, reason TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS faults (
    account_id INTEGER PRIMARY KEY, latency_ms INTEGER NOT NULL, error_rate REAL NOT NULL,
    scope TEXT NOT NULL, after_write INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS challenges (
    id TEXT PRIMARY KEY, account_id INTEGER NOT NULL, type TEXT NOT NULL, code TEXT,
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, attempts_left INTEGER NOT NULL,
    state TEXT NOT NULL);
"""
# Tables that hold one account's doings (a per-account reset clears these, not its sessions).
_ACCOUNT_TABLES = (
    "outbox",
    "sent_invitations",
    "received_changes",
    "added_connections",
    "tokens",
    "read_marks",
    "restrictions",
    "faults",
    "challenges",
)
_GLOBAL_FAULT = 0  # the faults row that applies to every account


class Store:
    def __init__(self, state_dir: Path):
        state_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            state_dir / "sandbox.sqlite3", isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._in_transaction = False
        self._load()

    def close(self) -> None:
        self._db.close()

    # --- plumbing -------------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group the writes of one request, so a crash never keeps an outbox entry without its token."""
        if self._in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._in_transaction = False

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, params)

    def _rows(self, sql: str) -> list[sqlite3.Row]:
        cursor = self._db.execute(sql)
        cursor.row_factory = sqlite3.Row
        return list(cursor.fetchall())

    def _load(self) -> None:
        """(Re)build the in-memory mirror from SQLite: at start-up and after a reset."""
        settings = {r["key"]: r["value"] for r in self._rows("SELECT key, value FROM settings")}
        self.tolerances_enabled: bool = settings.get("tolerances_enabled", "1") == "1"
        self.clock_offset_ms: int = int(settings.get("clock_offset_ms", "0"))
        self.sessions: dict[str, Session] = {
            r["li_at"]: Session(
                r["li_at"], r["account_id"], r["jsessionid"], r["created_at"], bool(r["expired"])
            )
            for r in self._rows("SELECT * FROM sessions")
        }
        self.outbox: dict[int, list[OutboxEntry]] = {}
        self.thread_messages: dict[tuple[int, str], list[OutboxEntry]] = {}
        self.account_threads: dict[int, dict[str, None]] = {}  # threads each account wrote in (ordered set)
        for r in self._rows("SELECT * FROM outbox ORDER BY id"):
            self._index_outbox(OutboxEntry(**dict(r)))
        self.sent_invitations: dict[int, SentInvitation] = {}
        self.sent_by_target: dict[tuple[int, int], SentInvitation] = {}
        for r in self._rows("SELECT * FROM sent_invitations ORDER BY id"):
            invitation = SentInvitation(**{**dict(r), "id": SENT_INVITATION_ID_BASE + r["id"]})
            self.sent_invitations[invitation.id] = invitation
            self.sent_by_target[(invitation.account_id, invitation.to_member_id)] = invitation
        self.received_changes: dict[int, ReceivedChange] = {
            r["invitation_id"]: ReceivedChange(**dict(r))
            for r in self._rows("SELECT * FROM received_changes")
        }
        self.added_connections: dict[int, dict[int, int]] = {}
        for r in self._rows("SELECT * FROM added_connections ORDER BY at, member_id"):
            self.added_connections.setdefault(r["account_id"], {})[r["member_id"]] = r["at"]
        self.tokens: dict[tuple[int, str], TokenRecord] = {
            (r["account_id"], r["token"]): TokenRecord(
                r["account_id"], r["token"], r["kind"], json.loads(r["result"])
            )
            for r in self._rows("SELECT * FROM tokens")
        }
        self.read_marks: set[tuple[int, str]] = {
            (r["account_id"], r["thread_id"]) for r in self._rows("SELECT * FROM read_marks")
        }
        self.restrictions: dict[int, Restriction] = {
            r["account_id"]: Restriction(**dict(r)) for r in self._rows("SELECT * FROM restrictions")
        }
        self.faults: dict[int | None, Fault] = {}
        for r in self._rows("SELECT * FROM faults"):
            key = None if r["account_id"] == _GLOBAL_FAULT else r["account_id"]
            self.faults[key] = Fault(
                key, r["latency_ms"], r["error_rate"], r["scope"], bool(r["after_write"])
            )
        self.challenges: dict[str, Challenge] = {
            r["id"]: Challenge(**dict(r)) for r in self._rows("SELECT * FROM challenges")
        }

    def _index_outbox(self, entry: OutboxEntry) -> None:
        self.outbox.setdefault(entry.account_id, []).append(entry)
        if entry.thread_id is not None:
            self.thread_messages.setdefault((entry.account_id, entry.thread_id), []).append(entry)
            self.account_threads.setdefault(entry.account_id, {})[entry.thread_id] = None

    def reset(self, account_id: int | None = None) -> None:
        """Everything back to the generated world; or one account's doings (its sessions stay)."""
        with self.transaction():
            if account_id is None:
                for table in (*_ACCOUNT_TABLES, "sessions", "settings"):
                    self._exec(f"DELETE FROM {table}")
            else:
                for table in _ACCOUNT_TABLES:
                    self._exec(f"DELETE FROM {table} WHERE account_id = ?", (account_id,))
        self._load()

    # --- settings -------------------------------------------------------------------------------------

    def _set_setting(self, key: str, value: str) -> None:
        self._exec("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))

    def set_tolerances(self, enabled: bool) -> None:
        self.tolerances_enabled = enabled
        self._set_setting("tolerances_enabled", "1" if enabled else "0")

    def set_clock_offset(self, offset_ms: int) -> None:
        self.clock_offset_ms = offset_ms
        self._set_setting("clock_offset_ms", str(offset_ms))

    # --- sessions -------------------------------------------------------------------------------------

    def add_session(self, session: Session) -> None:
        self.sessions[session.li_at] = session
        self._exec(
            "INSERT INTO sessions (li_at, account_id, jsessionid, created_at, expired)"
            " VALUES (?, ?, ?, ?, 0)",
            (session.li_at, session.account_id, session.jsessionid, session.created_at),
        )

    def rotate_session(self, session: Session, jsessionid: str) -> None:
        session.jsessionid = jsessionid
        self._exec("UPDATE sessions SET jsessionid = ? WHERE li_at = ?", (jsessionid, session.li_at))

    def expire_sessions(self, account_id: int) -> int:
        expired = 0
        for session in self.sessions.values():
            if session.account_id == account_id and not session.expired:
                session.expired = True
                expired += 1
        self._exec("UPDATE sessions SET expired = 1 WHERE account_id = ?", (account_id,))
        return expired

    # --- writes the accounts make ---------------------------------------------------------------------

    def add_outbox(self, entry: OutboxEntry) -> OutboxEntry:
        """Insert `entry` (its `id` is assigned here) and return it."""
        values = asdict(entry)
        values.pop("id")
        cursor = self._exec(
            f"INSERT INTO outbox ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
            tuple(values.values()),
        )
        entry.id = int(cursor.lastrowid or 0)
        self._index_outbox(entry)
        return entry

    def add_sent_invitation(self, invitation: SentInvitation) -> SentInvitation:
        cursor = self._exec(
            "INSERT INTO sent_invitations (account_id, to_member_id, note, token, secret, sent_at, state)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                invitation.account_id,
                invitation.to_member_id,
                invitation.note,
                invitation.token,
                invitation.secret,
                invitation.sent_at,
                invitation.state,
            ),
        )
        invitation.id = SENT_INVITATION_ID_BASE + int(cursor.lastrowid or 0)
        self.sent_invitations[invitation.id] = invitation
        self.sent_by_target[(invitation.account_id, invitation.to_member_id)] = invitation
        return invitation

    def update_sent_invitation(self, invitation: SentInvitation, state: str, at: int) -> None:
        invitation.state = state  # type: ignore[assignment]
        invitation.updated_at = at
        self._exec(
            "UPDATE sent_invitations SET state = ?, updated_at = ? WHERE id = ?",
            (state, at, invitation.id - SENT_INVITATION_ID_BASE),
        )

    def accept_received(self, invitation_id: int, account_id: int, at: int) -> ReceivedChange:
        change = ReceivedChange(invitation_id, account_id, "accepted", at)
        self.received_changes[invitation_id] = change
        self._exec(
            "INSERT OR REPLACE INTO received_changes (invitation_id, account_id, state, at)"
            " VALUES (?, ?, ?, ?)",
            (invitation_id, account_id, change.state, at),
        )
        return change

    def add_connection(self, account_id: int, member_id: int, at: int) -> None:
        self.added_connections.setdefault(account_id, {})[member_id] = at
        self._exec(
            "INSERT OR REPLACE INTO added_connections (account_id, member_id, at) VALUES (?, ?, ?)",
            (account_id, member_id, at),
        )

    def put_token(self, record: TokenRecord) -> None:
        self.tokens[(record.account_id, record.token)] = record
        self._exec(
            "INSERT OR REPLACE INTO tokens (account_id, token, kind, result) VALUES (?, ?, ?, ?)",
            (record.account_id, record.token, record.kind, json.dumps(record.result)),
        )

    def mark_read(self, account_id: int, thread_id: str) -> None:
        if (account_id, thread_id) not in self.read_marks:
            self.read_marks.add((account_id, thread_id))
            self._exec(
                "INSERT OR IGNORE INTO read_marks (account_id, thread_id) VALUES (?, ?)",
                (account_id, thread_id),
            )

    # --- restrictions and faults ----------------------------------------------------------------------

    def restrict(self, account_id: int, reason: str, at: int) -> Restriction:
        restriction = self.restrictions.get(account_id)
        if restriction is None:
            restriction = Restriction(account_id, reason, at)
            self.restrictions[account_id] = restriction
            self._exec(
                "INSERT INTO restrictions (account_id, reason, at) VALUES (?, ?, ?)", (account_id, reason, at)
            )
        return restriction

    def unrestrict(self, account_id: int) -> None:
        self.restrictions.pop(account_id, None)
        self._exec("DELETE FROM restrictions WHERE account_id = ?", (account_id,))

    def set_fault(self, fault: Fault) -> None:
        key = _GLOBAL_FAULT if fault.account_id is None else fault.account_id
        if fault.latency_ms <= 0 and fault.error_rate <= 0:
            self.faults.pop(fault.account_id, None)
            self._exec("DELETE FROM faults WHERE account_id = ?", (key,))
            return
        self.faults[fault.account_id] = fault
        self._exec(
            "INSERT OR REPLACE INTO faults (account_id, latency_ms, error_rate, scope, after_write)"
            " VALUES (?, ?, ?, ?, ?)",
            (key, fault.latency_ms, fault.error_rate, fault.scope, int(fault.after_write)),
        )

    def clear_faults(self) -> None:
        self.faults.clear()
        self._exec("DELETE FROM faults")

    # --- login checkpoints ----------------------------------------------------------------------------

    def put_challenge(self, challenge: Challenge) -> None:
        self.challenges[challenge.id] = challenge
        values = asdict(challenge)
        columns, marks = ", ".join(values), ", ".join("?" for _ in values)
        self._exec(f"INSERT OR REPLACE INTO challenges ({columns}) VALUES ({marks})", tuple(values.values()))
