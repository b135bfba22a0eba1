package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kdu-io/kdu/internal/store"
)

const clusterColumns = `id, kubeconfig_enc, context, namespace, flavour, server, version, project, tiller_namespace,
	tiller_address, installed_sw, created_at, updated_at`

// CreateCluster implements store.Store.
func (s *Store) CreateCluster(ctx context.Context, c store.Cluster) (store.Cluster, error) {
	return s.writeCluster(ctx, "create", c, store.ErrExists, `INSERT INTO clusters (`+clusterColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, {now}, {now}) ON CONFLICT (id) DO NOTHING
		RETURNING created_at, updated_at`)
}

// UpdateCluster implements store.Store.
func (s *Store) UpdateCluster(ctx context.Context, c store.Cluster) (store.Cluster, error) {
	return s.writeCluster(ctx, "update", c, store.ErrNotFound, `UPDATE clusters SET kubeconfig_enc = $2,
		context = $3, namespace = $4, flavour = $5, server = $6, version = $7, project = $8, tiller_namespace = $9,
		tiller_address = $10, installed_sw = $11, updated_at = {now} WHERE id = $1 RETURNING created_at, updated_at`)
}

// writeCluster checks c, seals its kubeconfig and runs query with the values of clusterColumns up to
// installed_sw ($1 to $11); a query that returns no row fails with none. verb names the action in errors.
func (s *Store) writeCluster(ctx context.Context, verb string, c store.Cluster, none error,
	query string) (store.Cluster, error) {
	c, err := c.Normalize()
	if err != nil {
		return store.Cluster{}, fmt.Errorf("%s cluster: %w", verb, err)
	}
	enc, err := s.box.Seal(c.Kubeconfig, store.KubeconfigAAD(c.ID))
	if err != nil {
		return store.Cluster{}, fmt.Errorf("%s cluster %q: seal kubeconfig: %w", verb, c.ID, err)
	}
	var created, updated int64
	err = s.write(ctx, func(w *writer) error {
		return w.row(query, c.ID, enc, c.Context, c.Namespace, c.Flavour, c.Server, c.Version, c.Project,
			c.TillerNamespace, c.TillerAddress, c.InstalledSW).Scan(&created, &updated)
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = none
	}
	if err != nil {
		return store.Cluster{}, fmt.Errorf("%s cluster %q: %w", verb, c.ID, err)
	}
	c = c.Clone()
	c.CreatedAt, c.UpdatedAt = FromMicro(created), FromMicro(updated)
	return c, nil
}

// GetCluster implements store.Store.
func (s *Store) GetCluster(ctx context.Context, id string) (store.Cluster, error) {
	if err := store.CheckKey("cluster id", id); err != nil {
		return store.Cluster{}, fmt.Errorf("get cluster: %w", err)
	}
	c, err := s.scanCluster(s.conn().QueryRowContext(ctx, `SELECT `+clusterColumns+` FROM clusters WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Cluster{}, fmt.Errorf("get cluster %q: %w", id, err)
	}
	return c, nil
}

// ListClusters implements store.Store.
func (s *Store) ListClusters(ctx context.Context) ([]store.Cluster, error) {
	rows, err := s.conn().QueryContext(ctx, `SELECT `+clusterColumns+` FROM clusters ORDER BY id`)
	out, err := collect(rows, err, s.scanCluster)
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	return out, nil
}

// DeleteCluster implements store.Store. The foreign key cascades to the cluster's repositories; its operations
// and project repositories stay.
func (s *Store) DeleteCluster(ctx context.Context, id string) error {
	if err := store.CheckKey("cluster id", id); err != nil {
		return fmt.Errorf("delete cluster: %w", err)
	}
	err := s.write(ctx, func(w *writer) error {
		res, err := w.exec(`DELETE FROM clusters WHERE id = $1`, id)
		return affected(res, err, store.ErrNotFound)
	})
	if err != nil {
		return fmt.Errorf("delete cluster %q: %w", id, err)
	}
	return nil
}

// scanCluster reads one clusterColumns row and opens its kubeconfig.
func (s *Store) scanCluster(sc scanner) (store.Cluster, error) {
	var (
		c                store.Cluster
		enc              []byte
		created, updated int64
	)
	if err := sc.Scan(&c.ID, &enc, &c.Context, &c.Namespace, &c.Flavour, &c.Server, &c.Version, &c.Project,
		&c.TillerNamespace, &c.TillerAddress, &c.InstalledSW, &created, &updated); err != nil {
		return store.Cluster{}, err
	}
	kc, err := s.box.Open(enc, store.KubeconfigAAD(c.ID))
	if err != nil {
		return store.Cluster{}, fmt.Errorf("cluster %q: cannot decrypt kubeconfig (%s): %w", c.ID, decryptHint, err)
	}
	c.Kubeconfig = kc
	c.CreatedAt, c.UpdatedAt = FromMicro(created), FromMicro(updated)
	return c, nil
}
