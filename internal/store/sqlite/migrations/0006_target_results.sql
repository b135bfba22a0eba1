-- 0006: what became of an operation's final status write to each of its status targets (JSON: one entry per
-- target, in the request's order: delivered, and the error if not). NULL: the operation had no targets, or
-- finished before this step.

ALTER TABLE operations ADD COLUMN target_results BLOB;
