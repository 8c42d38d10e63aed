-- LivePage schema, PostgreSQL flavour (production; SQLite has its own folder).
--
-- Representation choices, shared by both tables:
-- * Native types throughout: `uuid` (16 bytes, compared bytewise), `timestamptz` (an instant,
--   microsecond precision, so `now() - interval '24 hours'` filters and `finished_at -
--   created_at` durations are plain SQL), `jsonb` (validated on write, queryable in stats),
--   `bigint` for counts and milliseconds, `boolean` for flags.
-- * Page and generation ids are UUIDv7 (time-ordered, made by the application), so
--   `ORDER BY id DESC` is newest first and `id < $cursor` is a stable pagination cursor.
-- * Statuses are `text` with a CHECK rather than an enum type: adding a value later is a
--   one-line constraint change instead of an `ALTER TYPE` that cannot run in a transaction.

-- A published page. Only the store writes here, and only sanitized HTML (`SanitizedHtml`).
CREATE TABLE pages (
    id           uuid        PRIMARY KEY,
    -- Owner, lower-cased by `Email::parse`, so history lookups are plain equality.
    email        text        NOT NULL,
    prompt       text        NOT NULL,
    page_type    text        NOT NULL,
    theme        text        NOT NULL,
    title        text        NOT NULL,
    html_content text        NOT NULL,
    -- Pages are public by default; unpublishing flips this rather than deleting the row.
    is_public    boolean     NOT NULL DEFAULT true,
    -- Incremented atomically (`view_count = view_count + $1`), never read-modify-written.
    view_count   bigint      NOT NULL DEFAULT 0 CHECK (view_count >= 0),
    created_at   timestamptz NOT NULL,
    -- Free-form facts about the page (model, fallback, generation id, …).
    meta_data    jsonb       NOT NULL DEFAULT '{}'
);

-- History: one email's pages, newest first, paginated by `id < cursor`.
CREATE INDEX pages_email_id ON pages (email, id DESC);
-- Stats: pages created in a time window, and the most viewed pages.
CREATE INDEX pages_created_at ON pages (created_at);
CREATE INDEX pages_view_count ON pages (view_count DESC);

-- Every generation, successful or not: the audit trail behind the pages, and the source of the
-- stats (failure rates, latency). A row is inserted as `running` when the generation starts and
-- updated once when it ends.
CREATE TABLE generations (
    id             uuid        PRIMARY KEY,
    -- Set when the page is saved, in the same transaction. A deleted page leaves its
    -- generation behind for the stats, hence SET NULL rather than CASCADE.
    page_id        uuid        REFERENCES pages (id) ON DELETE SET NULL,
    email          text        NOT NULL,
    prompt         text        NOT NULL,
    page_type      text        NOT NULL,
    theme          text        NOT NULL,
    model          text        NOT NULL,
    status         text        NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    -- Stable error code (`upstream_error`, `cancelled`, …) and a human-readable message.
    error_code     text,
    error_message  text,
    -- `Usage` ({prompt_tokens, completion_tokens, cost}); NULL when never reported.
    usage          jsonb,
    first_token_ms bigint      CHECK (first_token_ms >= 0),
    duration_ms    bigint      CHECK (duration_ms >= 0),
    -- The raw model output of a generation that failed mid-stream, kept for diagnosis.
    partial_output text,
    created_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    -- A generation has ended exactly when it has a finish time, and "completed" means its page
    -- was committed (DESIGN §1): these catch a half-written outcome.
    CHECK ((status = 'running') = (finished_at IS NULL)),
    CHECK (status <> 'completed' OR page_id IS NOT NULL)
);

-- Stats: generations started in a time window, and per-status counts/rates in a window.
CREATE INDEX generations_created_at ON generations (created_at);
CREATE INDEX generations_status_created_at ON generations (status, created_at);
-- The generation behind a page, and the foreign-key check when a page is deleted
-- (PostgreSQL does not index referencing columns by itself).
CREATE INDEX generations_page_id ON generations (page_id) WHERE page_id IS NOT NULL;
