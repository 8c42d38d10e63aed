-- Owners and moderation (docs/ARCHITECTURE.md, "Owners and moderation"). No accounts: a client proves that a page is its own with an
-- owner key it made; only the key's SHA-256 is kept (32 bytes), on the generation as it starts and
-- copied to the page it makes. NULL for pages made without a key (and those from before), which
-- only the admin can change.
ALTER TABLE generations ADD COLUMN owner_key_hash BLOB
    CHECK (owner_key_hash IS NULL OR length(owner_key_hash) = 32);
ALTER TABLE pages ADD COLUMN owner_key_hash BLOB
    CHECK (owner_key_hash IS NULL OR length(owner_key_hash) = 32);
-- An owner's history: their pages, newest first, paginated by `id < cursor` like an email's.
CREATE INDEX pages_owner_id ON pages (owner_key_hash, id DESC) WHERE owner_key_hash IS NOT NULL;

-- A page taken down by the admin: `/p/{id}` answers 410 Gone, and the owner cannot publish it
-- again. The HTML is kept, as the evidence of what was removed.
ALTER TABLE pages ADD COLUMN removed_at TEXT CHECK (removed_at GLOB
    '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z');
ALTER TABLE pages ADD COLUMN removal_reason TEXT;
-- A page deleted by its owner (or the admin): its HTML, title and prompt are blanked, but the row
-- stays, so that `/p/{id}` can tell a page that is gone (410) from one that never was (404).
ALTER TABLE pages ADD COLUMN deleted_at TEXT CHECK (deleted_at GLOB
    '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z');

-- What visitors reported, for the admin to resolve: dismissed, or the page taken down. A page's
-- reports stay with it (they are the record of why it was removed).
CREATE TABLE reports (
    id          TEXT NOT NULL PRIMARY KEY,
    page_id     TEXT NOT NULL REFERENCES pages (id) ON DELETE CASCADE,
    reason      TEXT NOT NULL
        CHECK (reason IN ('phishing', 'malware', 'hate', 'sexual', 'spam', 'other')),
    details     TEXT,
    contact     TEXT,
    created_at  TEXT NOT NULL CHECK (created_at GLOB
        '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    resolved_at TEXT CHECK (resolved_at GLOB
        '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    resolution  TEXT CHECK (resolution IN ('dismiss', 'takedown')),
    -- A report is resolved exactly when it says how.
    CHECK ((resolved_at IS NULL) = (resolution IS NULL))
) STRICT;

-- The admin's queue: open (or resolved) reports, newest first, by UUIDv7 id.
CREATE INDEX reports_resolved_id ON reports (resolved_at IS NULL, id DESC);
-- How many reports a page has; its open reports when it is taken down.
CREATE INDEX reports_page_id ON reports (page_id);
