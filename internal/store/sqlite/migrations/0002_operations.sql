-- 0002: durable operations (install, upgrade, ...), claimed and run by one replica at a time.
-- request_enc and targets_enc hold only secret.Box ciphertext (AAD: the operation's ID), NULL when empty.
-- Timestamps are Unix microseconds, UTC; lease_until, started_at and finished_at are NULL until set.
-- Operations are history: no foreign key to clusters, so deleting a cluster keeps them.

CREATE TABLE operations (
	id               TEXT    NOT NULL PRIMARY KEY,
	kind             TEXT    NOT NULL,
	project          TEXT    NOT NULL DEFAULT '',
	cluster_id       TEXT    NOT NULL,
	namespace        TEXT    NOT NULL DEFAULT '',
	release_name     TEXT    NOT NULL,
	state            TEXT    NOT NULL
		CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	request_enc      BLOB,
	targets_enc      BLOB,
	progress         BLOB,
	result           BLOB,
	revision         INTEGER NOT NULL DEFAULT 0,
	error_code       TEXT    NOT NULL DEFAULT '',
	error_message    TEXT    NOT NULL DEFAULT '',
	error_field      TEXT    NOT NULL DEFAULT '',
	idempotency_key  TEXT    NOT NULL DEFAULT '',
	request_hash     TEXT    NOT NULL DEFAULT '',
	owner            TEXT    NOT NULL DEFAULT '',
	lease_until      INTEGER,
	cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
	attempts         INTEGER NOT NULL DEFAULT 0,
	version          INTEGER NOT NULL,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	started_at       INTEGER,
	finished_at      INTEGER
) STRICT;

-- The hard guarantee: one release never has two running operations, whatever the claim logic does.
CREATE UNIQUE INDEX operations_one_running ON operations (cluster_id, release_name) WHERE state = 'running';
-- An idempotency key is unique per project.
CREATE UNIQUE INDEX operations_idempotency ON operations (project, idempotency_key) WHERE idempotency_key <> '';
-- Claims: the oldest queued operations, and the live operations of one release.
CREATE INDEX operations_live ON operations (state, created_at, id) WHERE state IN ('queued', 'running');
CREATE INDEX operations_release ON operations (cluster_id, release_name, created_at);
-- Lists (newest first), followers (by update) and pruning (by finish).
CREATE INDEX operations_created ON operations (created_at, id);
CREATE INDEX operations_updated ON operations (updated_at, id);
CREATE INDEX operations_finished ON operations (finished_at) WHERE finished_at IS NOT NULL;
