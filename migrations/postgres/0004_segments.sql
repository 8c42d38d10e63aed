-- How many model responses a generation's output took: 1, plus one per continuation asked for
-- after the model stopped at its length limit (0 for the fallback page). Written with the
-- outcome, so that a `completed` event summed up from the database says it too. NULL while
-- running and for rows written before.
ALTER TABLE generations ADD COLUMN segments bigint CHECK (segments >= 0);
