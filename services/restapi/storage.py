"""SQLite storage for users, orders and idempotency keys.

One connection, WAL journal, and a lock around every statement: handlers run on the
event loop and never await inside a read-check-write sequence, so writes are serialized
and a burst of concurrent POSTs can neither interleave nor lose a row. The lock also
covers the rare caller on a worker thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    item TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price_cents INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_user ON orders(user_id, id);
CREATE TABLE IF NOT EXISTS idempotency (
    client TEXT NOT NULL,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    location TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (client, key)
);
"""

SEED_TIME = "2024-01-01T00:00:00Z"  # fixed, so a reset gives the same ETags every time
SEED_USERS = [
    ("Ada Lovelace", "ada@example.org"),
    ("Alan Turing", "alan@example.org"),
    ("Grace Hopper", "grace@example.org"),
    ("Edsger Dijkstra", "edsger@example.org"),
    ("Barbara Liskov", "barbara@example.org"),
    ("Vint Cerf", "vint@example.org"),
    ("Radia Perlman", "radia@example.org"),
]
SEED_ORDERS = [  # (user_id, item, quantity, price_cents, status)
    (1, "analytical engine manual", 1, 4200, "paid"),
    (1, "punched cards (box of 500)", 3, 1500, "shipped"),
    (2, "enigma rotor", 2, 9900, "pending"),
    (3, "compiler manual", 1, 2500, "paid"),
    (3, "moth (framed)", 1, 100, "shipped"),
    (4, "semaphore", 4, 300, "cancelled"),
    (5, "type checker", 1, 7500, "pending"),
    (6, "TCP/IP poster", 2, 1200, "paid"),
    (7, "spanning tree", 1, 3100, "pending"),
]

USER_FIELDS = ("name", "email", "active")
ORDER_FIELDS = ("user_id", "item", "quantity", "price_cents", "status")


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


@dataclass(frozen=True)
class IdempotencyKey:
    client: str
    key: str
    method: str
    path: str
    fingerprint: str  # hash of the request body, so a reused key with a new body is caught


@dataclass(frozen=True)
class StoredResponse:
    method: str
    path: str
    fingerprint: str
    status: int
    body: str
    location: str | None


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _user(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["active"] = bool(d["active"])
    return d


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a write transaction
        # takes the write lock up front instead of failing half-way.
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "PRAGMA synchronous=NORMAL"
        )  # WAL + NORMAL: durable across a crash of the process
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        # Seed only a database that never held a user: one emptied by a student stays empty.
        if not self._scalar("SELECT COUNT(*) FROM sqlite_sequence WHERE name = 'users'"):
            self.reset()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _scalar(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- lab --------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the seed data, ids restarting at 1, no idempotency keys."""
        with self._write() as db:
            db.execute("DELETE FROM orders")
            db.execute("DELETE FROM users")
            db.execute("DELETE FROM idempotency")
            db.execute("DELETE FROM sqlite_sequence WHERE name IN ('users', 'orders')")
            db.executemany(
                "INSERT INTO users (name, email, active, created_at, updated_at) VALUES (?, ?, 1, ?, ?)",
                [(n, e, SEED_TIME, SEED_TIME) for n, e in SEED_USERS],
            )
            db.executemany(
                "INSERT INTO orders (user_id, item, quantity, price_cents, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(*o, SEED_TIME, SEED_TIME) for o in SEED_ORDERS],
            )

    def counts(self) -> tuple[int, int]:
        return self._scalar("SELECT COUNT(*) FROM users"), self._scalar(
            "SELECT COUNT(*) FROM orders"
        )

    # -- users ------------------------------------------------------------------------
    def list_users(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        rows = self._all("SELECT * FROM users ORDER BY id LIMIT ? OFFSET ?", (limit, offset))
        return [_user(r) for r in rows], self._scalar("SELECT COUNT(*) FROM users")

    def get_user(self, user_id: int) -> dict[str, Any]:
        rows = self._all("SELECT * FROM users WHERE id = ?", (user_id,))
        if not rows:
            raise NotFound(f"user {user_id} does not exist")
        return _user(rows[0])

    def create_user(
        self, data: dict[str, Any], idem: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        ts = now_iso()
        with self._write() as db:
            self._check_email_free(db, data["email"], None)
            cur = db.execute(
                "INSERT INTO users (name, email, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (data["name"], data["email"], int(data.get("active", True)), ts, ts),
            )
            user = _user(
                db.execute("SELECT * FROM users WHERE id = ?", (cur.lastrowid,)).fetchone()
            )
            if idem:
                self._remember(db, idem, 201, user, f"/api/users/{user['id']}")
        return user

    def update_user(self, user_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Set the given fields (PUT passes all of them, PATCH only those present)."""
        changes = {k: v for k, v in changes.items() if k in USER_FIELDS}
        with self._write() as db:
            if db.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
                raise NotFound(f"user {user_id} does not exist")
            if "email" in changes:
                self._check_email_free(db, changes["email"], user_id)
            if "active" in changes:
                changes["active"] = int(changes["active"])
            sets = ", ".join(f"{k} = ?" for k in changes)
            db.execute(
                f"UPDATE users SET {sets + ', ' if sets else ''}updated_at = ? WHERE id = ?",
                (*changes.values(), now_iso(), user_id),
            )
            return _user(db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone())

    def delete_user(self, user_id: int) -> None:
        with self._write() as db:
            if db.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
                raise NotFound(f"user {user_id} does not exist")
            n = db.execute("SELECT COUNT(*) FROM orders WHERE user_id = ?", (user_id,)).fetchone()[
                0
            ]
            if n:
                raise Conflict(f"user {user_id} still has {n} order(s); delete them first")
            db.execute("DELETE FROM users WHERE id = ?", (user_id,))

    @staticmethod
    def _check_email_free(db: sqlite3.Connection, email: str, user_id: int | None) -> None:
        row = db.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
        if row is not None and row[0] != user_id:
            raise Conflict(f"email {email!r} is already used by user {row[0]}")

    # -- orders -----------------------------------------------------------------------
    def list_orders(
        self, offset: int, limit: int, user_id: int | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        if user_id is None:
            rows = self._all("SELECT * FROM orders ORDER BY id LIMIT ? OFFSET ?", (limit, offset))
            return [dict(r) for r in rows], self._scalar("SELECT COUNT(*) FROM orders")
        self.get_user(user_id)
        rows = self._all(
            "SELECT * FROM orders WHERE user_id = ? ORDER BY id LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
        return [dict(r) for r in rows], self._scalar(
            "SELECT COUNT(*) FROM orders WHERE user_id = ?", (user_id,)
        )

    def get_order(self, order_id: int) -> dict[str, Any]:
        rows = self._all("SELECT * FROM orders WHERE id = ?", (order_id,))
        if not rows:
            raise NotFound(f"order {order_id} does not exist")
        return dict(rows[0])

    def create_order(
        self, data: dict[str, Any], idem: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        ts = now_iso()
        with self._write() as db:
            self._check_user_exists(db, data["user_id"])
            cur = db.execute(
                "INSERT INTO orders (user_id, item, quantity, price_cents, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    data["user_id"],
                    data["item"],
                    data["quantity"],
                    data["price_cents"],
                    data["status"],
                    ts,
                    ts,
                ),
            )
            order = dict(
                db.execute("SELECT * FROM orders WHERE id = ?", (cur.lastrowid,)).fetchone()
            )
            if idem:
                self._remember(db, idem, 201, order, f"/api/orders/{order['id']}")
        return order

    def update_order(self, order_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        changes = {k: v for k, v in changes.items() if k in ORDER_FIELDS}
        with self._write() as db:
            if db.execute("SELECT 1 FROM orders WHERE id = ?", (order_id,)).fetchone() is None:
                raise NotFound(f"order {order_id} does not exist")
            if "user_id" in changes:
                self._check_user_exists(db, changes["user_id"])
            sets = ", ".join(f"{k} = ?" for k in changes)
            db.execute(
                f"UPDATE orders SET {sets + ', ' if sets else ''}updated_at = ? WHERE id = ?",
                (*changes.values(), now_iso(), order_id),
            )
            return dict(db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone())

    def delete_order(self, order_id: int) -> None:
        with self._write() as db:
            if db.execute("DELETE FROM orders WHERE id = ?", (order_id,)).rowcount == 0:
                raise NotFound(f"order {order_id} does not exist")

    @staticmethod
    def _check_user_exists(db: sqlite3.Connection, user_id: int) -> None:
        if db.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
            # The order itself is fine; it points at something missing: a conflict with state.
            raise Conflict(f"user {user_id} does not exist, so an order cannot belong to it")

    # -- idempotency ------------------------------------------------------------------
    def idempotent_response(self, client: str, key: str) -> StoredResponse | None:
        rows = self._all(
            "SELECT method, path, fingerprint, status, body, location FROM idempotency WHERE client = ? AND key = ?",
            (client, key),
        )
        return StoredResponse(**dict(rows[0])) if rows else None

    @staticmethod
    def _remember(
        db: sqlite3.Connection,
        idem: IdempotencyKey,
        status: int,
        body: dict[str, Any],
        location: str,
    ) -> None:
        db.execute(
            "INSERT INTO idempotency (client, key, method, path, fingerprint, status, body, location, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                idem.client,
                idem.key,
                idem.method,
                idem.path,
                idem.fingerprint,
                status,
                json.dumps(body),
                location,
                time.time(),
            ),
        )
