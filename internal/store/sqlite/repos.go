package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/kdu-io/kdu/internal/store"
)

// repoKind says where one kind of repository lives: cluster repositories in repos, keyed by cluster_id and
// deleted with their cluster; project repositories in project_repos, keyed by project, with no foreign key.
type repoKind struct {
	table string // the table
	owner string // the owner column, the first half of the primary key
	noun  string // what the owner is called in messages
}

var (
	clusterRepos = repoKind{table: "repos", owner: "cluster_id", noun: "cluster"}
	projectRepos = repoKind{table: "project_repos", owner: "project", noun: "project"}
)

// kindOf returns r's kind and the value of its owner column.
func kindOf(r store.Repo) (repoKind, string) {
	if r.IsProject() {
		return projectRepos, r.Project
	}
	return clusterRepos, r.ClusterID
}

// describe names an action on one repository for messages, such as `create repo "r" of cluster "c"`.
func (k repoKind) describe(verb, owner, name string) string {
	return fmt.Sprintf("%s repo %q of %s %q", verb, name, k.noun, owner)
}

// repoColumns are the columns that follow the owner column, in the order of repoArgs and scanRepo.
const repoColumns = `name, ext_id, url, type, username, password_enc, ca_cert, cert, key_enc, keyring,
	insecure_skip_verify, pass_credentials, plain_http, created_at, updated_at`

// qualify prefixes every column of a comma-separated list with alias and a dot.
func qualify(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// blob returns b, or nil (stored as NULL) if it is empty.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// flag is the 0/1 INTEGER that stores a bool.
func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// sealRepo returns the ciphertexts of r's password and TLS client key; an empty secret gives nil (NULL).
func (s *Store) sealRepo(r store.Repo) (pw, key []byte, err error) {
	if len(r.Password) > 0 {
		if pw, err = s.box.Seal(r.Password, store.RepoSecretAAD(r, "password")); err != nil {
			return nil, nil, fmt.Errorf("seal password: %w", err)
		}
	}
	if len(r.KeyPEM) > 0 {
		if key, err = s.box.Seal(r.KeyPEM, store.RepoSecretAAD(r, "key")); err != nil {
			return nil, nil, fmt.Errorf("seal TLS client key: %w", err)
		}
	}
	return pw, key, nil
}

// repoArgs returns the values of the owner column and repoColumns up to plain_http ($1 to $14).
func repoArgs(r store.Repo, owner string, pw, key []byte) []any {
	return []any{owner, r.Name, r.ExtID, r.URL, r.Type, r.Username, blob(pw), blob(r.CACert), blob(r.CertPEM),
		blob(key), blob(r.Keyring), flag(r.InsecureSkipVerify), flag(r.PassCredentials), flag(r.PlainHTTP)}
}

// openRepo decrypts a repository's sealed columns into r; NULL means none.
func (s *Store) openRepo(r *store.Repo, pw, key []byte) error {
	k, owner := kindOf(*r)
	for _, f := range []struct {
		enc   []byte
		field string
		what  string
		dst   *[]byte
	}{
		{pw, "password", "password", &r.Password},
		{key, "key", "TLS client key", &r.KeyPEM},
	} {
		if f.enc == nil {
			continue
		}
		v, err := s.box.Open(f.enc, store.RepoSecretAAD(*r, f.field))
		if err != nil {
			return fmt.Errorf("repo %q of %s %q: cannot decrypt %s (%s): %w", r.Name, k.noun, owner, f.what,
				decryptHint, err)
		}
		*f.dst = v
	}
	return nil
}

// scanRepo reads the owner column and repoColumns of a row of kind k, and opens its secrets. A row whose name is
// NULL (the outer side of a join that found no repository) gives ok false.
func (s *Store) scanRepo(sc scanner, k repoKind) (r store.Repo, ok bool, err error) {
	var (
		owner, name, extID, url, typ, user sql.NullString
		pw, ca, cert, key, keyring         []byte
		insecure, passCreds, plainHTTP     sql.NullBool
		created, updated                   sql.NullInt64
	)
	if err := sc.Scan(&owner, &name, &extID, &url, &typ, &user, &pw, &ca, &cert, &key, &keyring,
		&insecure, &passCreds, &plainHTTP, &created, &updated); err != nil {
		return store.Repo{}, false, err
	}
	if !name.Valid {
		return store.Repo{}, false, nil
	}
	r = store.Repo{Name: name.String, ExtID: extID.String, URL: url.String, Type: typ.String,
		Username: user.String, CACert: nonEmpty(ca), CertPEM: nonEmpty(cert), Keyring: nonEmpty(keyring),
		InsecureSkipVerify: insecure.Bool, PassCredentials: passCreds.Bool, PlainHTTP: plainHTTP.Bool,
		CreatedAt: fromMicro(created.Int64), UpdatedAt: fromMicro(updated.Int64)}
	if k == projectRepos {
		r.Project = owner.String
	} else {
		r.ClusterID = owner.String
	}
	if err := s.openRepo(&r, nonEmpty(pw), nonEmpty(key)); err != nil {
		return store.Repo{}, false, err
	}
	return r, true, nil
}

// nonEmpty returns b, or nil if it is empty.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// CreateRepo implements store.Store.
func (s *Store) CreateRepo(ctx context.Context, r store.Repo) (store.Repo, error) {
	r, err := r.Normalize()
	if err != nil {
		return store.Repo{}, fmt.Errorf("create repo: %w", err)
	}
	k, owner := kindOf(r)
	what := k.describe("create", owner, r.Name)
	pw, key, err := s.sealRepo(r)
	if err != nil {
		return store.Repo{}, fmt.Errorf("%s: %w", what, err)
	}
	t := now()
	if err := s.acquire(ctx); err != nil {
		return store.Repo{}, fmt.Errorf("%s: %w", what, err)
	}
	defer s.release()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Repo{}, fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback()
	if k == clusterRepos {
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM clusters WHERE id = $1`, r.ClusterID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.Repo{}, fmt.Errorf("%s: cluster %q: %w", what, r.ClusterID, store.ErrNotFound)
		}
		if err != nil {
			return store.Repo{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	args := append(repoArgs(r, owner, pw, key), t.UnixMicro(), t.UnixMicro())
	res, err := tx.ExecContext(ctx, `INSERT INTO `+k.table+` (`+k.owner+`, `+repoColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		ON CONFLICT (`+k.owner+`, name) DO NOTHING`, args...)
	if err != nil {
		return store.Repo{}, fmt.Errorf("%s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return store.Repo{}, fmt.Errorf("%s: %w", what, err)
	} else if n == 0 {
		return store.Repo{}, fmt.Errorf("%s: %w", what, store.ErrExists)
	}
	if err := tx.Commit(); err != nil {
		return store.Repo{}, fmt.Errorf("%s: %w", what, err)
	}
	r = r.Clone()
	r.CreatedAt, r.UpdatedAt = t, t
	return r, nil
}

// UpdateRepo implements store.Store.
func (s *Store) UpdateRepo(ctx context.Context, r store.Repo) (store.Repo, error) {
	r, err := r.Normalize()
	if err != nil {
		return store.Repo{}, fmt.Errorf("update repo: %w", err)
	}
	k, owner := kindOf(r)
	what := k.describe("update", owner, r.Name)
	pw, key, err := s.sealRepo(r)
	if err != nil {
		return store.Repo{}, fmt.Errorf("%s: %w", what, err)
	}
	t := now()
	if err := s.acquire(ctx); err != nil {
		return store.Repo{}, fmt.Errorf("%s: %w", what, err)
	}
	defer s.release()
	var created int64
	args := append(repoArgs(r, owner, pw, key), t.UnixMicro())
	err = s.db.QueryRowContext(ctx, `UPDATE `+k.table+` SET ext_id = $3, url = $4, type = $5, username = $6,
		password_enc = $7, ca_cert = $8, cert = $9, key_enc = $10, keyring = $11, insecure_skip_verify = $12,
		pass_credentials = $13, plain_http = $14, updated_at = $15
		WHERE `+k.owner+` = $1 AND name = $2 RETURNING created_at`, args...).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Repo{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.Repo{}, fmt.Errorf("%s: %w", what, err)
	}
	r = r.Clone()
	r.CreatedAt, r.UpdatedAt = fromMicro(created), t
	return r, nil
}

// getRepo reads one repository of kind k.
func (s *Store) getRepo(ctx context.Context, k repoKind, owner, name string) (store.Repo, error) {
	what := k.describe("get", owner, name)
	row := s.db.QueryRowContext(ctx, `SELECT `+k.owner+`, `+repoColumns+` FROM `+k.table+`
		WHERE `+k.owner+` = $1 AND name = $2`, owner, name)
	r, _, err := s.scanRepo(row, k)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Repo{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.Repo{}, fmt.Errorf("%s: %w", what, err)
	}
	return r, nil
}

// deleteRepo deletes one repository of kind k.
func (s *Store) deleteRepo(ctx context.Context, k repoKind, owner, name string) error {
	what := k.describe("delete", owner, name)
	res, err := s.exec(ctx, `DELETE FROM `+k.table+` WHERE `+k.owner+` = $1 AND name = $2`, owner, name)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	} else if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// collectRepos reads every row of rows with scanRepo, skipping those without a repository. It reports whether
// there was any row at all.
func (s *Store) collectRepos(rows *sql.Rows, k repoKind) (out []store.Repo, found bool, err error) {
	defer rows.Close()
	out = []store.Repo{}
	for rows.Next() {
		found = true
		r, ok, err := s.scanRepo(rows, k)
		if err != nil {
			return nil, found, err
		}
		if ok {
			out = append(out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, found, err
	}
	return out, found, nil
}

// GetRepo implements store.Store.
func (s *Store) GetRepo(ctx context.Context, clusterID, name string) (store.Repo, error) {
	if err := checkRepoKey(clusterID, name); err != nil {
		return store.Repo{}, fmt.Errorf("get repo: %w", err)
	}
	return s.getRepo(ctx, clusterRepos, clusterID, name)
}

// ListRepos implements store.Store. One statement reads the cluster and its repositories, so the answer is
// consistent: ErrNotFound only when the cluster itself is missing.
func (s *Store) ListRepos(ctx context.Context, clusterID string) ([]store.Repo, error) {
	if err := store.CheckKey("cluster id", clusterID); err != nil {
		return nil, fmt.Errorf("list repos: %w", err)
	}
	what := fmt.Sprintf("list repos of cluster %q", clusterID)
	rows, err := s.db.QueryContext(ctx, `SELECT c.id, `+qualify("r", repoColumns)+`
		FROM clusters c LEFT JOIN repos r ON r.cluster_id = c.id WHERE c.id = $1 ORDER BY r.name`, clusterID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, found, err := s.collectRepos(rows, clusterRepos)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !found {
		return nil, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return out, nil
}

// DeleteRepo implements store.Store.
func (s *Store) DeleteRepo(ctx context.Context, clusterID, name string) error {
	if err := checkRepoKey(clusterID, name); err != nil {
		return fmt.Errorf("delete repo: %w", err)
	}
	return s.deleteRepo(ctx, clusterRepos, clusterID, name)
}

// GetProjectRepo implements store.Store.
func (s *Store) GetProjectRepo(ctx context.Context, project, name string) (store.Repo, error) {
	if err := checkProjectRepoKey(project, name); err != nil {
		return store.Repo{}, fmt.Errorf("get project repo: %w", err)
	}
	return s.getRepo(ctx, projectRepos, project, name)
}

// ListProjectRepos implements store.Store.
func (s *Store) ListProjectRepos(ctx context.Context, project string) ([]store.Repo, error) {
	if err := store.CheckText("repo project", project); err != nil {
		return nil, fmt.Errorf("list project repos: %w", err)
	}
	what := fmt.Sprintf("list repos of project %q", project)
	rows, err := s.db.QueryContext(ctx, `SELECT project, `+repoColumns+` FROM project_repos
		WHERE project = $1 ORDER BY name`, project)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, _, err := s.collectRepos(rows, projectRepos)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// DeleteProjectRepo implements store.Store.
func (s *Store) DeleteProjectRepo(ctx context.Context, project, name string) error {
	if err := checkProjectRepoKey(project, name); err != nil {
		return fmt.Errorf("delete project repo: %w", err)
	}
	return s.deleteRepo(ctx, projectRepos, project, name)
}

func checkRepoKey(clusterID, name string) error {
	if err := store.CheckKey("repo cluster id", clusterID); err != nil {
		return err
	}
	return store.CheckKey("repo name", name)
}

func checkProjectRepoKey(project, name string) error {
	if err := store.CheckText("repo project", project); err != nil {
		return err
	}
	return store.CheckKey("repo name", name)
}
