-- 0001: clusters and their chart repositories.
-- Secret columns (*_enc) hold only secret.Box ciphertext; the AAD binds each value to its row.
-- Timestamps are Unix microseconds, UTC. STRICT tables make SQLite enforce the column types.
-- The PostgreSQL back end keeps the same version numbers with BYTEA for BLOB and BIGINT for INTEGER.

CREATE TABLE clusters (
	id             TEXT    NOT NULL PRIMARY KEY,
	kubeconfig_enc BLOB    NOT NULL,
	context        TEXT    NOT NULL DEFAULT '',
	namespace      TEXT    NOT NULL DEFAULT '',
	flavour        TEXT    NOT NULL DEFAULT 'helm3',
	server         TEXT    NOT NULL DEFAULT '',
	version        TEXT    NOT NULL DEFAULT '',
	project        TEXT    NOT NULL DEFAULT '',
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE repos (
	cluster_id   TEXT    NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	name         TEXT    NOT NULL,
	url          TEXT    NOT NULL DEFAULT '',
	type         TEXT    NOT NULL DEFAULT 'http',
	username     TEXT    NOT NULL DEFAULT '',
	password_enc BLOB,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	PRIMARY KEY (cluster_id, name)
) STRICT;
