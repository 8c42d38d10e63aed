-- LivePage schema, SQLite flavour (the embedded default; PostgreSQL has its own folder).
--
-- Representation choices, shared by both tables:
-- * Tables are STRICT, so a value of the wrong type is an error instead of being silently
--   stored with whatever affinity SQLite picks.
-- * UUIDs are hyphenated, lower-case TEXT: readable in the sqlite3 shell, and because every id
--   has the same fixed layout, text order equals byte order. Page and generation ids are UUIDv7
--   (time-ordered), so `ORDER BY id DESC` is newest first and `id < ?` is a stable cursor.
-- * Timestamps are TEXT in RFC 3339, always UTC, always with exactly six fractional digits
--   (`2025-01-31T09:05:00.123456Z`, see `sqlite.rs`). Fixed width makes text order equal time
--   order, so range filters (`created_at >= ?`, binding a cutoff formatted the same way) and
--   indexes work on plain strings; SQLite's date functions accept the format for arithmetic
--   (`unixepoch(finished_at, 'subsec') - unixepoch(created_at, 'subsec')`); microseconds match
--   PostgreSQL's `timestamptz`, so both backends round-trip the same values. The CHECKs below
--   enforce the layout, because a single row in another format would break the ordering.
-- * JSON is TEXT checked with `json_valid`, so `json_extract` in stats queries never meets junk.

-- A published page. Only the store writes here, and only sanitized HTML (`SanitizedHtml`).
CREATE TABLE pages (
    id           TEXT    NOT NULL PRIMARY KEY,
    -- Owner, lower-cased by `Email::parse`, so history lookups are plain equality.
    email        TEXT    NOT NULL,
    prompt       TEXT    NOT NULL,
    page_type    TEXT    NOT NULL,
    theme        TEXT    NOT NULL,
    title        TEXT    NOT NULL,
    html_content TEXT    NOT NULL,
    -- Pages are public by default; unpublishing flips this rather than deleting the row.
    is_public    INTEGER NOT NULL DEFAULT 1 CHECK (is_public IN (0, 1)),
    -- Incremented atomically (`view_count = view_count + ?`), never read-modify-written.
    view_count   INTEGER NOT NULL DEFAULT 0 CHECK (view_count >= 0),
    created_at   TEXT    NOT NULL CHECK (created_at GLOB
        '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- Free-form facts about the page (model, fallback, generation id, …).
    meta_data    TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(meta_data))
) STRICT;

-- History: one email's pages, newest first, paginated by `id < cursor`.
CREATE INDEX pages_email_id ON pages (email, id DESC);
-- Stats: pages created in a time window, and the most viewed pages.
CREATE INDEX pages_created_at ON pages (created_at);
CREATE INDEX pages_view_count ON pages (view_count DESC);

-- Every generation, successful or not: the audit trail behind the pages, and the source of the
-- stats (failure rates, latency). A row is inserted as `running` when the generation starts and
-- updated once when it ends.
CREATE TABLE generations (
    id             TEXT    NOT NULL PRIMARY KEY,
    -- Set when the page is saved, in the same transaction. A deleted page leaves its
    -- generation behind for the stats, hence SET NULL rather than CASCADE.
    page_id        TEXT    REFERENCES pages (id) ON DELETE SET NULL,
    email          TEXT    NOT NULL,
    prompt         TEXT    NOT NULL,
    page_type      TEXT    NOT NULL,
    theme          TEXT    NOT NULL,
    model          TEXT    NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    -- Stable error code (`upstream_error`, `cancelled`, …) and a human-readable message.
    error_code     TEXT,
    error_message  TEXT,
    -- `Usage` as JSON ({prompt_tokens, completion_tokens, cost}); NULL when never reported.
    usage          TEXT    CHECK (usage IS NULL OR json_valid(usage)),
    first_token_ms INTEGER CHECK (first_token_ms >= 0),
    duration_ms    INTEGER CHECK (duration_ms >= 0),
    -- The raw model output of a generation that failed mid-stream, kept for diagnosis.
    partial_output TEXT,
    created_at     TEXT    NOT NULL CHECK (created_at GLOB
        '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    finished_at    TEXT    CHECK (finished_at GLOB
        '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- A generation has ended exactly when it has a finish time, and "completed" means its page
    -- was committed (DESIGN §1): these catch a half-written outcome.
    CHECK ((status = 'running') = (finished_at IS NULL)),
    CHECK (status <> 'completed' OR page_id IS NOT NULL)
) STRICT;

-- Stats: generations started in a time window, and per-status counts/rates in a window.
CREATE INDEX generations_created_at ON generations (created_at);
CREATE INDEX generations_status_created_at ON generations (status, created_at);
-- The generation behind a page, and the foreign-key check when a page is deleted.
CREATE INDEX generations_page_id ON generations (page_id) WHERE page_id IS NOT NULL;
