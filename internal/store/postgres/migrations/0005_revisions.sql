-- 0005: the Helm revisions an operation saw and wrote (PostgreSQL dialect of store/sqlite's 0005).
-- base_revision is the release revision that was current before the operation acted (0: no release yet); NULL
-- means not recorded yet: the operation has not touched Helm. written_revision is the highest revision the
-- operation has written (0: none). Operations stored before this step read as NULL and 0.

ALTER TABLE operations
	ADD COLUMN base_revision    BIGINT CHECK (base_revision >= 0),
	ADD COLUMN written_revision BIGINT NOT NULL DEFAULT 0 CHECK (written_revision >= 0);
