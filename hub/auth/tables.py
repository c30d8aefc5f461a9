"""The SQL of the tables auth owns: users and their grants, sessions, API keys.

Kept apart from the code that uses them so that anything needing the tables (the
user commands, which open the database without starting the hub) imports no
request handling, and no module of auth has to import another for its table.
"""

from __future__ import annotations

from hub.records import audit

USERS = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    password_hash TEXT NOT NULL,
    created REAL NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS grants (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('printer', 'group', 'all')),
    name TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, kind, name)
);
"""

# A user's sessions and keys go with the user (ON DELETE CASCADE; the hub's
# connections turn foreign keys on), so removing a user needs no session code.
SESSIONS = """
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
"""

API_KEYS = """
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created REAL NOT NULL,
    last_used REAL,
    -- An application key (hub/auth/app_keys.py) works on this printer only; NULL: everywhere.
    printer TEXT,
    -- The app that asked for it ("Home Assistant"), for the list.
    app TEXT,
    UNIQUE (user_id, name)
);
"""
# printer and app came after the first release: hub/migrations.py adds them to older files.

# Apps' pending requests for a key (OctoPrint's application keys workflow): a request
# names a printer, the app and perhaps the user it asks to act as; it lives until
# ``expires`` and is decided once. The app polls with its token (kept as a hash).
APP_KEY_REQUESTS = """
CREATE TABLE IF NOT EXISTS app_key_requests (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    printer TEXT NOT NULL,
    app TEXT NOT NULL,
    asked_user TEXT,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'denied')),
    key_user TEXT,
    decided_by TEXT
);
CREATE INDEX IF NOT EXISTS app_key_requests_printer ON app_key_requests(printer, created);
"""


def schemas() -> list[str]:
    """Every table a change of accounts touches (users, sessions, API keys, audit)."""
    return [USERS, SESSIONS, API_KEYS, APP_KEY_REQUESTS, audit.SCHEMA]
