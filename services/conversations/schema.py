"""The store's schema: forward migrations keyed by PRAGMA user_version, and the optional FTS5 index."""

from __future__ import annotations

# MIGRATIONS[n] takes a database from version n-1 to n; never edit a released step, add a new one
MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            updated REAL NOT NULL,
            target TEXT,
            params TEXT NOT NULL DEFAULT '{}',
            system TEXT NOT NULL DEFAULT '',
            active_leaf INTEGER REFERENCES messages(id) ON DELETE SET NULL
        )""",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL,
            target TEXT,
            params TEXT,
            metrics TEXT,
            finish_reason TEXT,
            notice TEXT NOT NULL DEFAULT '',
            error TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            updated REAL NOT NULL
        )""",
        "CREATE INDEX messages_by_conversation ON messages(conversation_id, id)",
        "CREATE INDEX messages_by_parent ON messages(parent_id)",
        """CREATE TABLE attachments (
            sha256 TEXT PRIMARY KEY,
            mime TEXT NOT NULL,
            size INTEGER NOT NULL,
            data BLOB NOT NULL
        )""",
        """CREATE TABLE message_attachments (
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            sha256 TEXT NOT NULL REFERENCES attachments(sha256),
            mime TEXT NOT NULL,
            label TEXT NOT NULL DEFAULT '',
            timestamp_s REAL,
            PRIMARY KEY (message_id, position)
        )""",
        "CREATE INDEX attachment_users ON message_attachments(sha256)",
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            created REAL NOT NULL,
            payload TEXT NOT NULL
        )""",
        "CREATE INDEX runs_by_kind ON runs(kind, created)",
        """CREATE TABLE votes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT,
            target_a TEXT NOT NULL,
            target_b TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('a', 'b', 'tie', 'both_bad')),
            created REAL NOT NULL
        )""",
    ],
    2: [
        # which page a conversation belongs to; everything stored before this step was a chat
        "ALTER TABLE conversations ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat'",
    ],
}
SCHEMA_VERSION = max(MIGRATIONS)

# created only when this sqlite build has FTS5; triggers keep it in step with messages
FTS_SQL = [
    "CREATE VIRTUAL TABLE messages_fts USING fts5(content, conversation_id UNINDEXED)",
    "INSERT INTO messages_fts(rowid, content, conversation_id) SELECT id, content, conversation_id FROM messages",
    """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content, conversation_id) VALUES (new.id, new.content, new.conversation_id);
    END""",
    """CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        UPDATE messages_fts SET content = new.content WHERE rowid = new.id;
    END""",
    """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        DELETE FROM messages_fts WHERE rowid = old.id;
    END""",
]
