-- 0003: richer chart repositories and project repositories (PostgreSQL dialect of store/sqlite's 0003).
-- key_enc and password_enc hold only secret.Box ciphertext (AAD: store.RepoSecretAAD of the row and the field);
-- ca_cert, cert and keyring are public material and stored as they are. NULL means none.
-- Every new column has a default, so repositories stored before this step stay valid.
-- Project repositories have no foreign key: a project is only a name, and deleting a cluster keeps them.

ALTER TABLE repos
	ADD COLUMN ext_id               TEXT    NOT NULL DEFAULT '',
	ADD COLUMN ca_cert              BYTEA,
	ADD COLUMN cert                 BYTEA,
	ADD COLUMN key_enc              BYTEA,
	ADD COLUMN keyring              BYTEA,
	ADD COLUMN insecure_skip_verify BOOLEAN NOT NULL DEFAULT FALSE,
	ADD COLUMN pass_credentials     BOOLEAN NOT NULL DEFAULT FALSE,
	ADD COLUMN plain_http           BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE project_repos (
	project              TEXT COLLATE "C" NOT NULL,
	name                 TEXT COLLATE "C" NOT NULL,
	url                  TEXT    NOT NULL DEFAULT '',
	type                 TEXT    NOT NULL DEFAULT 'http',
	username             TEXT    NOT NULL DEFAULT '',
	password_enc         BYTEA,
	created_at           BIGINT  NOT NULL,
	updated_at           BIGINT  NOT NULL,
	ext_id               TEXT    NOT NULL DEFAULT '',
	ca_cert              BYTEA,
	cert                 BYTEA,
	key_enc              BYTEA,
	keyring              BYTEA,
	insecure_skip_verify BOOLEAN NOT NULL DEFAULT FALSE,
	pass_credentials     BOOLEAN NOT NULL DEFAULT FALSE,
	plain_http           BOOLEAN NOT NULL DEFAULT FALSE,
	PRIMARY KEY (project, name)
);
