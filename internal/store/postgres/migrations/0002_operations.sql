-- 0002: durable operations (PostgreSQL dialect of store/sqlite's 0002).
-- request_enc and targets_enc hold only secret.Box ciphertext (AAD: the operation's ID), NULL when empty.
-- Timestamps are Unix microseconds, UTC, from the database's clock; lease_until, started_at and finished_at are
-- NULL until set. Operations are history: no foreign key to clusters, so deleting a cluster keeps them.

CREATE TABLE operations (
	id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	kind             TEXT    NOT NULL,
	project          TEXT COLLATE "C" NOT NULL DEFAULT '',
	cluster_id       TEXT COLLATE "C" NOT NULL,
	namespace        TEXT    NOT NULL DEFAULT '',
	release_name     TEXT COLLATE "C" NOT NULL,
	state            TEXT    NOT NULL
		CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	request_enc      BYTEA,
	targets_enc      BYTEA,
	progress         BYTEA,
	result           BYTEA,
	revision         BIGINT  NOT NULL DEFAULT 0,
	error_code       TEXT    NOT NULL DEFAULT '',
	error_message    TEXT    NOT NULL DEFAULT '',
	error_field      TEXT    NOT NULL DEFAULT '',
	idempotency_key  TEXT COLLATE "C" NOT NULL DEFAULT '',
	request_hash     TEXT    NOT NULL DEFAULT '',
	owner            TEXT    NOT NULL DEFAULT '',
	lease_until      BIGINT,
	cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
	attempts         BIGINT  NOT NULL DEFAULT 0,
	version          BIGINT  NOT NULL,
	created_at       BIGINT  NOT NULL,
	updated_at       BIGINT  NOT NULL,
	started_at       BIGINT,
	finished_at      BIGINT
);

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
