-- 0001: clusters and their chart repositories (PostgreSQL dialect of store/sqlite's 0001).
-- Secret columns (*_enc) hold only secret.Box ciphertext; the AAD binds each value to its row.
-- Timestamps are Unix microseconds, UTC, from the database's clock. Keys use the "C" collation so that they sort
-- byte-wise whatever the database's locale.

CREATE TABLE clusters (
	id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	kubeconfig_enc BYTEA  NOT NULL,
	context        TEXT   NOT NULL DEFAULT '',
	namespace      TEXT   NOT NULL DEFAULT '',
	flavour        TEXT   NOT NULL DEFAULT 'helm3',
	server         TEXT   NOT NULL DEFAULT '',
	version        TEXT   NOT NULL DEFAULT '',
	project        TEXT   NOT NULL DEFAULT '',
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL
);

CREATE TABLE repos (
	cluster_id   TEXT COLLATE "C" NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	name         TEXT COLLATE "C" NOT NULL,
	url          TEXT   NOT NULL DEFAULT '',
	type         TEXT   NOT NULL DEFAULT 'http',
	username     TEXT   NOT NULL DEFAULT '',
	password_enc BYTEA,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	PRIMARY KEY (cluster_id, name)
);
