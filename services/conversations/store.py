"""The SQLite store: conversations, branching messages, attachments, compare/reasoning runs and votes."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from services.errors import BadRequest, PlaygroundError
from services.conversations.runs import OUTCOMES, RunsAndVotes  # noqa: F401 - OUTCOMES is part of this module's API
from services.conversations.rows import (Conversation, NewMessage, StoredMessage, TurnSettings, attachment_from_row,
                                         conversation_from_row, message_from_row, metrics_to_json, params_to_json)
from services.conversations.schema import FTS_SQL, MIGRATIONS, SCHEMA_VERSION
from services.types import Metrics

# a still-streaming answer is stored as incomplete until it finishes, so a killed app leaves it marked
INCOMPLETE = "incomplete"
# a conversation's kind names the page that shows it
KINDS = ("chat", "vision")
_LEAF = object()


# what a person can do when the database's place cannot be used
WHERE_HINT = "Set PHI_PLAYGROUND_DB to a file in a folder you can write."


class StoreError(PlaygroundError):
    """The database cannot be used as it is (made by a newer version, unreadable, read-only)."""


def default_path() -> Path:
    """$PHI_PLAYGROUND_DB, else $PHI_PLAYGROUND_DATA/playground.db, else the user data dir."""
    if os.environ.get("PHI_PLAYGROUND_DB"):
        return Path(os.environ["PHI_PLAYGROUND_DB"]).expanduser()
    if os.environ.get("PHI_PLAYGROUND_DATA"):
        return Path(os.environ["PHI_PLAYGROUND_DATA"]).expanduser() / "playground.db"
    import platformdirs

    return Path(platformdirs.user_data_dir("phi-playground")) / "playground.db"


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    # only a damaged file counts; a locked or read-only database is not "corrupt"
    name = getattr(exc, "sqlite_errorname", "")
    return name in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or "malformed" in str(exc) or "not a database" in str(exc)


def _probe(path: Path) -> None:
    """Read an existing file's schema version without writing to it; raise on newer or corrupt."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The conversation database {path} was made by a newer version of Phi Playground "
                f"(schema {version}; this version reads up to {SCHEMA_VERSION}). It was left untouched.",
                hint="Upgrade Phi Playground, or set PHI_PLAYGROUND_DB to another file.",
            )
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
    finally:
        conn.close()


def _set_aside(path: Path) -> Path:
    """Rename a damaged database (and its WAL files) out of the way; nothing is deleted."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    kept = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while kept.exists():
        kept = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(kept.with_name(kept.name + suffix))
    path.rename(kept)
    return kept


class Store(RunsAndVotes):
    """One SQLite file behind a lock; every method is safe to call from any thread."""

    def __init__(self, path: str | Path, *, fts: bool | None = None):
        self.path = Path(path) if str(path) != ":memory:" else None
        # shown once by the page / CLI when the old file had to be set aside
        self.notice = ""
        self._lock = threading.RLock()
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # e.g. a file where the folder should be, or no permission
                raise StoreError(f"The conversation database cannot go in {self.path.parent}: "
                                 f"{exc.strerror or exc}. {WHERE_HINT}") from None
            if self.path.exists() and self.path.stat().st_size > 0:
                try:
                    _probe(self.path)
                except sqlite3.DatabaseError as exc:
                    if not _is_corrupt(exc):
                        raise StoreError(f"The conversation database {self.path} cannot be opened: {exc}. "
                                         f"{WHERE_HINT}") from None
                    kept = _set_aside(self.path)
                    self.notice = (f"The conversation database could not be read ({exc}). It was kept as "
                                   f"{kept.name} and a fresh database was started beside it.")
        target = str(self.path) if self.path is not None else ":memory:"
        # autocommit mode: transactions are explicit (BEGIN IMMEDIATE) so writers queue instead of deadlocking
        try:
            self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=30)
        except sqlite3.OperationalError as exc:  # a folder at the file's path, or no permission
            raise StoreError(f"The conversation database {self.path} cannot be opened: {exc}. {WHERE_HINT}") from None
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("PRAGMA busy_timeout = 30000")
        if self.path is not None:
            self._conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL survives an application crash; only an OS crash can lose the last commits
            self._conn.execute("PRAGMA synchronous = NORMAL")
        self._migrate()
        self.fts = self._setup_fts(fts)

    # ----- plumbing -------------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._tx() as c:
            version = c.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"The conversation database was made by a newer version (schema {version}).")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target]:
                    c.execute(statement)
                c.execute(f"PRAGMA user_version = {target}")

    def _setup_fts(self, wanted: bool | None) -> bool:
        """Full-text search when this sqlite build has FTS5 (and it is wanted), else LIKE."""
        if wanted is False:
            return False
        with self._tx() as c:
            exists = c.execute("SELECT 1 FROM sqlite_master WHERE name = 'messages_fts'").fetchone()
            if exists:
                return True
            try:
                for statement in FTS_SQL:
                    c.execute(statement)
            except sqlite3.OperationalError:
                if wanted:
                    raise
                return False
        return True

    @contextmanager
    def _tx(self):
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def _read(self, sql: str, args=()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def integrity_check(self) -> str:
        """'ok' when SQLite finds nothing wrong."""
        return self._read("PRAGMA integrity_check")[0][0]

    def schema_version(self) -> int:
        """The PRAGMA user_version of this file."""
        return self._read("PRAGMA user_version")[0][0]

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        with self._lock:
            self._conn.close()
        _forget(self)

    # ----- conversations ----------------------------------------------------------------------------

    def create_conversation(self, title: str = "", *, settings: TurnSettings | None = None, kind: str = "chat",
                            created: float | None = None) -> str:
        """A new empty conversation of a kind (one of KINDS: the page that opens it); returns its id."""
        if kind not in KINDS:
            raise BadRequest(f"A conversation is one of {', '.join(KINDS)}, not {kind!r}.")
        conv_id = uuid.uuid4().hex[:12]
        now = created or time.time()
        target, params, system = (settings.target, settings.params, settings.system) if settings else (None, None, "")
        with self._tx() as c:
            c.execute("INSERT INTO conversations(id, title, created, updated, target, params, system, kind) "
                      "VALUES (?,?,?,?,?,?,?,?)",
                      (conv_id, title.strip(), now, now, target, params_to_json(params) or "{}", system, kind))
        return conv_id

    def get_conversation(self, conv_id: str) -> Conversation | None:
        """One conversation's header (no messages), or None."""
        rows = self._read("SELECT * FROM conversations WHERE id = ?", (conv_id,))
        return conversation_from_row(rows[0]) if rows else None

    def require_conversation(self, conv_id: str) -> Conversation:
        """The conversation, or a BadRequest naming the missing id."""
        conv = self.get_conversation(conv_id)
        if conv is None:
            raise BadRequest(f"No conversation {conv_id!r}; `python -m services conversations` lists them.")
        return conv

    def list_conversations(self, limit: int = 200) -> list[Conversation]:
        """Conversations, most recently updated first, with a message count."""
        rows = self._read(
            "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n_messages "
            "FROM conversations c ORDER BY c.updated DESC, c.rowid DESC LIMIT ?", (int(limit),))
        return [conversation_from_row(r) for r in rows]

    def _update_conversation(self, conv_id: str, **columns) -> None:
        sets = ", ".join(f"{k} = ?" for k in columns)
        with self._tx() as c:
            cur = c.execute(f"UPDATE conversations SET {sets}, updated = ? WHERE id = ?",
                            (*columns.values(), time.time(), conv_id))
            if cur.rowcount == 0:
                raise BadRequest(f"No conversation {conv_id!r}.")

    def save_settings(self, conv_id: str, settings: TurnSettings) -> None:
        """Keep the settings an answer used, so the conversation resumes with them."""
        self._update_conversation(conv_id, target=settings.target, params=params_to_json(settings.params),
                                  system=settings.system)

    def set_active_leaf(self, conv_id: str, message_id: int | None) -> None:
        """Show the branch ending at message_id."""
        self._update_conversation(conv_id, active_leaf=message_id)

    def rename_conversation(self, conv_id: str, title: str) -> None:
        """Give a conversation a new title."""
        if not title or not title.strip():
            raise BadRequest("A title cannot be empty.")
        self._update_conversation(conv_id, title=title.strip()[:200])

    def delete_conversation(self, conv_id: str) -> bool:
        """Delete a conversation, its messages, and attachments nothing else uses."""
        with self._tx() as c:
            # the active leaf points into messages; clear it before they cascade away
            c.execute("UPDATE conversations SET active_leaf = NULL WHERE id = ?", (conv_id,))
            gone = c.execute("DELETE FROM conversations WHERE id = ?", (conv_id,)).rowcount
            c.execute("DELETE FROM attachments WHERE sha256 NOT IN (SELECT sha256 FROM message_attachments)")
        return bool(gone)

    # ----- messages -----------------------------------------------------------------------------

    def add_message(self, conv_id: str, message: NewMessage, *, parent_id=_LEAF, make_active: bool = True) -> int:
        """Append a message under parent_id (default: the conversation's active leaf); return its id."""
        m = message
        now = m.created or time.time()
        with self._tx() as c:
            conv = c.execute("SELECT active_leaf, title FROM conversations WHERE id = ?", (conv_id,)).fetchone()
            if conv is None:
                raise BadRequest(f"No conversation {conv_id!r}.")
            parent = conv["active_leaf"] if parent_id is _LEAF else parent_id
            if parent is not None:
                owner = c.execute("SELECT conversation_id FROM messages WHERE id = ?", (parent,)).fetchone()
                if owner is None or owner[0] != conv_id:
                    raise BadRequest(f"Message {parent} is not part of conversation {conv_id}.")
            cur = c.execute(
                "INSERT INTO messages(conversation_id, parent_id, role, content, target, params, metrics, "
                "finish_reason, notice, error, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (conv_id, parent, m.role, m.content, m.target, params_to_json(m.params), metrics_to_json(m.metrics),
                 m.finish_reason, m.notice, m.error, now, now))
            msg_id = int(cur.lastrowid)
            for position, image in enumerate(m.images):
                sha = self._put_attachment(c, image.data, image.mime)
                c.execute("INSERT INTO message_attachments(message_id, position, sha256, mime, label, timestamp_s) "
                          "VALUES (?,?,?,?,?,?)", (msg_id, position, sha, image.mime, image.label, image.timestamp_s))
            title = conv["title"]
            if not title and m.role == "user" and m.content.strip():
                # the first prompt names the conversation until someone renames it
                title = " ".join(m.content.split())[:60]
            leaf = msg_id if make_active else conv["active_leaf"]
            c.execute("UPDATE conversations SET active_leaf = ?, title = ?, updated = ? WHERE id = ?",
                      (leaf, title, time.time(), conv_id))
        return msg_id

    @staticmethod
    def _put_attachment(c, data: bytes, mime: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        # content-addressed: the same bytes are stored once however often they are attached
        c.execute("INSERT OR IGNORE INTO attachments(sha256, mime, size, data) VALUES (?,?,?,?)",
                  (sha, mime, len(data), sqlite3.Binary(data)))
        return sha

    def update_message(self, msg_id: int, *, content: str | None = None, finish_reason: str | None = None,
                       metrics: Metrics | None = None, notice: str | None = None, error: str | None = None) -> None:
        """Change a stored message in place (a streaming answer grows this way)."""
        fields = {"content": content, "finish_reason": finish_reason, "notice": notice, "error": error,
                  "metrics": metrics_to_json(metrics)}
        fields = {k: v for k, v in fields.items() if v is not None}
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        now = time.time()
        with self._tx() as c:
            cur = c.execute(f"UPDATE messages SET {sets}, updated = ? WHERE id = ?", (*fields.values(), now, msg_id))
            if cur.rowcount == 0:
                raise BadRequest(f"No message {msg_id}.")
            c.execute("UPDATE conversations SET updated = ? WHERE id = "
                      "(SELECT conversation_id FROM messages WHERE id = ?)", (now, msg_id))

    def _messages(self, where: str, args: tuple) -> list[StoredMessage]:
        rows = self._read(f"SELECT * FROM messages WHERE {where} ORDER BY id", args)
        links = self._read(
            "SELECT ma.message_id, ma.sha256, ma.mime, ma.label, ma.timestamp_s, a.size FROM message_attachments ma "
            "JOIN attachments a USING (sha256) JOIN messages m ON m.id = ma.message_id "
            f"WHERE m.{where} ORDER BY ma.message_id, ma.position", args)
        attachments: dict[int, list] = {}
        for link in links:
            attachments.setdefault(link["message_id"], []).append(attachment_from_row(link))
        return [message_from_row(r, tuple(attachments.get(r["id"], ()))) for r in rows]

    def messages(self, conv_id: str) -> list[StoredMessage]:
        """Every message of a conversation (all branches), oldest first; attachments without bytes."""
        return self._messages("conversation_id = ?", (conv_id,))

    def get_message(self, msg_id: int) -> StoredMessage | None:
        """One message with its attachment list, or None."""
        found = self._messages("id = ?", (msg_id,))
        return found[0] if found else None

    def attachment(self, sha256: str) -> bytes | None:
        """The stored bytes of one attachment."""
        rows = self._read("SELECT data FROM attachments WHERE sha256 = ?", (sha256,))
        return bytes(rows[0][0]) if rows else None

    def count_attachments(self) -> int:
        """Distinct attachment blobs stored."""
        return self._read("SELECT count(*) FROM attachments")[0][0]

    def insert_tree(self, conv: dict, messages: list[dict], blobs: dict[str, tuple[str, bytes]],
                    active: int | None) -> str:
        """Write a whole validated conversation in one transaction (import); ids are new, nothing overwritten.

        messages carry "id" and "parent" in the file's numbering, parents first; blobs map sha256 to
        (mime, bytes). Either everything is written or nothing is.
        """
        conv_id = uuid.uuid4().hex[:12]
        now = time.time()
        new_ids: dict[int, int] = {}
        with self._tx() as c:
            c.execute("INSERT INTO conversations(id, title, created, updated, target, params, system, kind) "
                      "VALUES (?,?,?,?,?,?,?,?)",
                      (conv_id, conv["title"], conv.get("created") or now, conv.get("updated") or now,
                       conv.get("target"), json.dumps(conv.get("params") or {}), conv.get("system") or "",
                       conv.get("kind") if conv.get("kind") in KINDS else "chat"))
            for mime, data in blobs.values():
                self._put_attachment(c, data, mime)
            for m in messages:
                cur = c.execute(
                    "INSERT INTO messages(conversation_id, parent_id, role, content, target, params, metrics, "
                    "finish_reason, notice, error, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (conv_id, new_ids.get(m["parent"]), m["role"], m["content"], m.get("target"),
                     json.dumps(m["params"]) if m.get("params") is not None else None,
                     json.dumps(m["metrics"]) if m.get("metrics") is not None else None,
                     m.get("finish_reason"), m.get("notice") or "", m.get("error") or "",
                     m.get("created") or now, m.get("updated") or m.get("created") or now))
                new_ids[m["id"]] = int(cur.lastrowid)
                for position, a in enumerate(m.get("attachments") or []):
                    c.execute("INSERT INTO message_attachments(message_id, position, sha256, mime, label, timestamp_s)"
                              " VALUES (?,?,?,?,?,?)", (new_ids[m["id"]], position, a["sha256"], a["mime"],
                                                        a.get("label") or "", a.get("timestamp_s")))
            c.execute("UPDATE conversations SET active_leaf = ? WHERE id = ?", (new_ids.get(active), conv_id))
        return conv_id

    # ----- search -------------------------------------------------------------------------------

    def search(self, query: str, limit: int = 50) -> list[Conversation]:
        """Conversations whose title or any message matches the words of query, newest first."""
        words = query.split()
        if not words:
            return self.list_conversations(limit)
        title_like = " AND ".join("c.title LIKE ? ESCAPE '\\'" for _ in words)
        like_args = [f"%{_escape_like(w)}%" for w in words]
        if self.fts:
            # each word quoted, so FTS syntax in the query is taken literally; prefix match on each
            match = " ".join('"' + w.replace('"', '""') + '"*' for w in words)
            hits = "SELECT conversation_id FROM messages_fts WHERE messages_fts MATCH ?"
            args = [match]
        else:
            hits = ("SELECT conversation_id FROM messages WHERE "
                    + " AND ".join("content LIKE ? ESCAPE '\\'" for _ in words))
            args = list(like_args)
        rows = self._read(
            "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n_messages "
            f"FROM conversations c WHERE c.id IN ({hits}) OR ({title_like}) "
            "ORDER BY c.updated DESC LIMIT ?", (*args, *like_args, int(limit)))
        return [conversation_from_row(r) for r in rows]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_OPEN: dict[str, Store] = {}
_OPEN_LOCK = threading.Lock()


def _forget(store: Store) -> None:
    with _OPEN_LOCK:
        for key, value in list(_OPEN.items()):
            if value is store:
                del _OPEN[key]


def open_store(path: str | Path | None = None, *, fts: bool | None = None) -> Store:
    """The store at path (default: see default_path); one shared Store per file in this process."""
    if str(path) == ":memory:":
        return Store(":memory:", fts=fts)
    resolved = Path(path).expanduser() if path else default_path()
    key = str(resolved.absolute())
    with _OPEN_LOCK:
        store = _OPEN.get(key)
        if store is None or (fts is not None and store.fts != fts):
            store = Store(resolved, fts=fts)
            _OPEN[key] = store
        return store
