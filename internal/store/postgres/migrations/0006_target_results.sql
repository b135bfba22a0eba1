-- 0006: what became of an operation's final status write to each of its status targets (PostgreSQL dialect
-- of store/sqlite's 0006).

ALTER TABLE operations ADD COLUMN target_results BYTEA;
