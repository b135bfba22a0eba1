package sqlstore

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

// repoColumns are the columns that follow the owner column, in the order of writeRepo and scanRepo.
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
		CreatedAt: FromMicro(created.Int64), UpdatedAt: FromMicro(updated.Int64)}
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

// CreateRepo implements store.Store. For a cluster repository, the foreign key tells a missing cluster.
func (s *Store) CreateRepo(ctx context.Context, r store.Repo) (store.Repo, error) {
	return s.writeRepo(ctx, "create", r, store.ErrExists, func(k repoKind) string {
		return `INSERT INTO ` + k.table + ` (` + k.owner + `, ` + repoColumns + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, {now}, {now})
			ON CONFLICT (` + k.owner + `, name) DO NOTHING RETURNING created_at, updated_at`
	})
}

// UpdateRepo implements store.Store.
func (s *Store) UpdateRepo(ctx context.Context, r store.Repo) (store.Repo, error) {
	return s.writeRepo(ctx, "update", r, store.ErrNotFound, func(k repoKind) string {
		return `UPDATE ` + k.table + ` SET ext_id = $3, url = $4, type = $5, username = $6, password_enc = $7,
			ca_cert = $8, cert = $9, key_enc = $10, keyring = $11, insecure_skip_verify = $12,
			pass_credentials = $13, plain_http = $14, updated_at = {now}
			WHERE ` + k.owner + ` = $1 AND name = $2 RETURNING created_at, updated_at`
	})
}

// writeRepo checks r, seals its secrets (an empty one gives NULL) and runs the query of r's kind with the values
// of the owner column and repoColumns up to plain_http ($1 to $14); a query that returns no row fails with
// none. verb names the action in errors.
func (s *Store) writeRepo(ctx context.Context, verb string, r store.Repo, none error,
	query func(repoKind) string) (store.Repo, error) {
	r, err := r.Normalize()
	if err != nil {
		return store.Repo{}, fmt.Errorf("%s repo: %w", verb, err)
	}
	k, owner := kindOf(r)
	what := k.describe(verb, owner, r.Name)
	var pw, key []byte
	if len(r.Password) > 0 {
		if pw, err = s.box.Seal(r.Password, store.RepoSecretAAD(r, "password")); err != nil {
			return store.Repo{}, fmt.Errorf("%s: seal password: %w", what, err)
		}
	}
	if len(r.KeyPEM) > 0 {
		if key, err = s.box.Seal(r.KeyPEM, store.RepoSecretAAD(r, "key")); err != nil {
			return store.Repo{}, fmt.Errorf("%s: seal TLS client key: %w", what, err)
		}
	}
	var created, updated int64
	err = s.write(ctx, func(w *writer) error {
		return w.row(query(k), owner, r.Name, r.ExtID, r.URL, r.Type, r.Username, nullBytes(pw),
			nullBytes(r.CACert), nullBytes(r.CertPEM), nullBytes(key), nullBytes(r.Keyring), r.InsecureSkipVerify,
			r.PassCredentials, r.PlainHTTP).Scan(&created, &updated)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Repo{}, fmt.Errorf("%s: %w", what, none)
	case k == clusterRepos && err != nil && s.d.Violation(err) == ForeignKeyViolation:
		return store.Repo{}, fmt.Errorf("%s: cluster %q: %w", what, r.ClusterID, store.ErrNotFound)
	case err != nil:
		return store.Repo{}, fmt.Errorf("%s: %w", what, err)
	}
	r = r.Clone()
	r.CreatedAt, r.UpdatedAt = FromMicro(created), FromMicro(updated)
	return r, nil
}

// GetRepo implements store.Store.
func (s *Store) GetRepo(ctx context.Context, clusterID, name string) (store.Repo, error) {
	if err := checkRepoKey(clusterRepos, clusterID, name); err != nil {
		return store.Repo{}, fmt.Errorf("get repo: %w", err)
	}
	return s.getRepo(ctx, clusterRepos, clusterID, name)
}

// GetProjectRepo implements store.Store.
func (s *Store) GetProjectRepo(ctx context.Context, project, name string) (store.Repo, error) {
	if err := checkRepoKey(projectRepos, project, name); err != nil {
		return store.Repo{}, fmt.Errorf("get project repo: %w", err)
	}
	return s.getRepo(ctx, projectRepos, project, name)
}

// getRepo reads one repository of kind k.
func (s *Store) getRepo(ctx context.Context, k repoKind, owner, name string) (store.Repo, error) {
	row := s.conn().QueryRowContext(ctx, `SELECT `+k.owner+`, `+repoColumns+` FROM `+k.table+`
		WHERE `+k.owner+` = $1 AND name = $2`, owner, name)
	r, _, err := s.scanRepo(row, k)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Repo{}, fmt.Errorf("%s: %w", k.describe("get", owner, name), err)
	}
	return r, nil
}

// ListRepos implements store.Store. One statement reads the cluster and its repositories, so the answer is
// consistent: ErrNotFound only when the cluster itself is missing.
func (s *Store) ListRepos(ctx context.Context, clusterID string) ([]store.Repo, error) {
	if err := store.CheckKey("cluster id", clusterID); err != nil {
		return nil, fmt.Errorf("list repos: %w", err)
	}
	rows, err := s.conn().QueryContext(ctx, `SELECT c.id, `+qualify("r", repoColumns)+`
		FROM clusters c LEFT JOIN repos r ON r.cluster_id = c.id WHERE c.id = $1 ORDER BY r.name`, clusterID)
	return s.listRepos(rows, err, clusterRepos, clusterID)
}

// ListProjectRepos implements store.Store.
func (s *Store) ListProjectRepos(ctx context.Context, project string) ([]store.Repo, error) {
	if err := store.CheckText("repo project", project); err != nil {
		return nil, fmt.Errorf("list project repos: %w", err)
	}
	rows, err := s.conn().QueryContext(ctx, `SELECT project, `+repoColumns+` FROM project_repos
		WHERE project = $1 ORDER BY name`, project)
	return s.listRepos(rows, err, projectRepos, project)
}

// listRepos reads the repositories of kind k that a query found, skipping rows without one. For cluster
// repositories, no row at all means no cluster.
func (s *Store) listRepos(rows *sql.Rows, err error, k repoKind, owner string) ([]store.Repo, error) {
	type found struct {
		r  store.Repo
		ok bool
	}
	all, err := collect(rows, err, func(sc scanner) (found, error) {
		r, ok, err := s.scanRepo(sc, k)
		return found{r, ok}, err
	})
	what := fmt.Sprintf("list repos of %s %q", k.noun, owner)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if k == clusterRepos && len(all) == 0 {
		return nil, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	out := []store.Repo{}
	for _, f := range all {
		if f.ok {
			out = append(out, f.r)
		}
	}
	return out, nil
}

// DeleteRepo implements store.Store.
func (s *Store) DeleteRepo(ctx context.Context, clusterID, name string) error {
	if err := checkRepoKey(clusterRepos, clusterID, name); err != nil {
		return fmt.Errorf("delete repo: %w", err)
	}
	return s.deleteRepo(ctx, clusterRepos, clusterID, name)
}

// DeleteProjectRepo implements store.Store.
func (s *Store) DeleteProjectRepo(ctx context.Context, project, name string) error {
	if err := checkRepoKey(projectRepos, project, name); err != nil {
		return fmt.Errorf("delete project repo: %w", err)
	}
	return s.deleteRepo(ctx, projectRepos, project, name)
}

// deleteRepo deletes one repository of kind k.
func (s *Store) deleteRepo(ctx context.Context, k repoKind, owner, name string) error {
	err := s.write(ctx, func(w *writer) error {
		res, err := w.exec(`DELETE FROM `+k.table+` WHERE `+k.owner+` = $1 AND name = $2`, owner, name)
		return affected(res, err, store.ErrNotFound)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", k.describe("delete", owner, name), err)
	}
	return nil
}

// checkRepoKey checks the key of a repository of kind k: a cluster ID must be a key, a project only text.
func checkRepoKey(k repoKind, owner, name string) error {
	if k == clusterRepos {
		if err := store.CheckKey("repo cluster id", owner); err != nil {
			return err
		}
	} else if err := store.CheckText("repo project", owner); err != nil {
		return err
	}
	return store.CheckKey("repo name", name)
}
