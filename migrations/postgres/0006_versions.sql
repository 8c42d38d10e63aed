-- Refining a page and its versions (docs/ARCHITECTURE.md, "Refining a page").
--
-- A page's document is no longer fixed: its owner may refine it with a follow-up prompt, or
-- restore an earlier version, and every version is kept, never changed. `pages.html_content`
-- and `pages.title` stay the current version's, so `/p/{id}` reads one row as before;
-- `pages.version` says which version that is. It is only ever raised by one
-- (`UPDATE … SET version = version + 1 … RETURNING version` in the transaction that inserts the
-- version's row): the update locks the page's row, so a concurrent writer waits, then reads the
-- committed number and writes the next. Version numbers are gap-free and distinct however many
-- writers race, under READ COMMITTED.
ALTER TABLE pages ADD COLUMN version bigint NOT NULL DEFAULT 1 CHECK (version >= 1);

CREATE TABLE page_versions (
    page_id       uuid        NOT NULL REFERENCES pages (id) ON DELETE CASCADE,
    version       bigint      NOT NULL CHECK (version >= 1),
    -- How the version came to be: the page's first document, a refine, or a restore of an
    -- earlier version (whose number is `restored_from`).
    kind          text        NOT NULL CHECK (kind IN ('created', 'refined', 'restored')),
    title         text        NOT NULL,
    -- Sanitized, like `pages.html_content`.
    html_content  text        NOT NULL,
    -- What was asked: the page's prompt for version 1, the follow-up prompt of a refine,
    -- empty for a restore.
    prompt        text        NOT NULL,
    -- The model that wrote it and what that cost (NULL for a restore, which cost nothing).
    model         text,
    usage         jsonb,
    generation_id uuid,
    restored_from bigint      CHECK (restored_from >= 1),
    created_at    timestamptz NOT NULL,
    -- One row per number: a second writer with the same number fails instead of forking.
    PRIMARY KEY (page_id, version),
    CHECK ((kind = 'restored') = (restored_from IS NOT NULL))
);

-- Every existing page is its own version 1.
INSERT INTO page_versions
    (page_id, version, kind, title, html_content, prompt, model, usage, generation_id, created_at)
SELECT id, 1, 'created', title, html_content, prompt,
       meta_data ->> 'model',
       CASE WHEN jsonb_typeof(meta_data -> 'usage') = 'object' THEN meta_data -> 'usage' END,
       CASE WHEN meta_data ->> 'generation_id' ~ '^[0-9a-f-]{36}$'
            THEN (meta_data ->> 'generation_id')::uuid END,
       created_at
FROM pages;

-- A refine is a generation of a page that exists: `refines` is that page from the start (a
-- new page's generation only gets `page_id` once saved), and `version` the version it saved.
-- A client that resumes a finished refine reads `version` here for its `completed` event.
ALTER TABLE generations ADD COLUMN refines uuid;
ALTER TABLE generations ADD COLUMN version bigint CHECK (version >= 1);
CREATE INDEX generations_refines ON generations (refines) WHERE refines IS NOT NULL;
