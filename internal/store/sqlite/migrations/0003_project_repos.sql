-- 0003: richer chart repositories (TLS material, a provenance keyring, connection flags, the caller's ID), and
-- repositories owned by a project instead of a cluster.
-- key_enc and password_enc hold only secret.Box ciphertext (AAD: store.RepoSecretAAD of the row and the field);
-- ca_cert, cert and keyring are public material and stored as they are. NULL means none.
-- The flags are 0 or 1. Every new column has a default, so repositories stored before this step stay valid.
-- Project repositories have no foreign key: a project is only a name, and deleting a cluster keeps them.

ALTER TABLE repos ADD COLUMN ext_id TEXT NOT NULL DEFAULT '';
ALTER TABLE repos ADD COLUMN ca_cert BLOB;
ALTER TABLE repos ADD COLUMN cert BLOB;
ALTER TABLE repos ADD COLUMN key_enc BLOB;
ALTER TABLE repos ADD COLUMN keyring BLOB;
ALTER TABLE repos ADD COLUMN insecure_skip_verify INTEGER NOT NULL DEFAULT 0 CHECK (insecure_skip_verify IN (0, 1));
ALTER TABLE repos ADD COLUMN pass_credentials INTEGER NOT NULL DEFAULT 0 CHECK (pass_credentials IN (0, 1));
ALTER TABLE repos ADD COLUMN plain_http INTEGER NOT NULL DEFAULT 0 CHECK (plain_http IN (0, 1));

CREATE TABLE project_repos (
	project              TEXT    NOT NULL,
	name                 TEXT    NOT NULL,
	url                  TEXT    NOT NULL DEFAULT '',
	type                 TEXT    NOT NULL DEFAULT 'http',
	username             TEXT    NOT NULL DEFAULT '',
	password_enc         BLOB,
	created_at           INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL,
	ext_id               TEXT    NOT NULL DEFAULT '',
	ca_cert              BLOB,
	cert                 BLOB,
	key_enc              BLOB,
	keyring              BLOB,
	insecure_skip_verify INTEGER NOT NULL DEFAULT 0 CHECK (insecure_skip_verify IN (0, 1)),
	pass_credentials     INTEGER NOT NULL DEFAULT 0 CHECK (pass_credentials IN (0, 1)),
	plain_http           INTEGER NOT NULL DEFAULT 0 CHECK (plain_http IN (0, 1)),
	PRIMARY KEY (project, name)
) STRICT;
