package kdu

import (
	"context"
	"errors"
	"fmt"

	"github.com/kdu-io/kdu/internal/store"
)

// SyncRepos makes a cluster's own repositories exactly the desired list (docs/n2vc.md#synchronize_repos): it adds
// the missing ones, updates those whose settings differ (URL, type, credentials, TLS, keyring, id) and removes
// the others — "stable" included, since the default stable repository is configured on the server, not stored.
// Project repositories are not touched.
//
// Unlike N2VC it reports ids and names separately and never mixes them, it validates every entry and checks
// every added or changed repository (index download or registry ping) before it changes anything — one bad entry
// fails the whole call with an error naming repos[i].<field>, and nothing changes — and it does not swallow
// errors.
func (m *Manager) SyncRepos(ctx context.Context, clusterRef string, desired []RepoSpec) (*RepoSync, error) {
	s, _, err := m.clusterScope(ctx, clusterRef)
	if err != nil {
		return nil, err
	}
	want := make([]store.Repo, len(desired))
	names := map[string]int{}
	ids := map[string]int{}
	for i, spec := range desired {
		prefix := fmt.Sprintf("repos[%d].", i)
		rec, err := spec.record(prefix)
		if err != nil {
			return nil, err
		}
		if j, dup := names[spec.Name]; dup {
			return nil, invalidf(prefix+"name", "repository %q is also repos[%d]", spec.Name, j)
		}
		if j, dup := ids[spec.ID]; dup && spec.ID != "" {
			return nil, invalidf(prefix+"id", "id %q is also the id of repos[%d]", spec.ID, j)
		}
		names[spec.Name], ids[spec.ID] = i, i
		rec.ClusterID = s.cluster
		want[i] = rec
	}
	current, err := m.store.ListRepos(ctx, s.cluster)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("cluster", "cluster %q", s.cluster)
	}
	if err != nil {
		return nil, err
	}
	have := make(map[string]store.Repo, len(current))
	for _, r := range current {
		have[r.Name] = r
	}

	// Plan, then check every repository that will be added or changed before touching the store.
	var adds, updates []store.Repo
	res := &RepoSync{Added: []RepoChange{}, Updated: []RepoChange{}, Removed: []RepoChange{}}
	for i, rec := range want {
		old, exists := have[rec.Name]
		switch {
		case !exists:
			adds = append(adds, rec)
		case !sameRepo(old, rec):
			updates = append(updates, rec)
		default:
			res.Unchanged++
			continue
		}
		if err := m.probeRepo(ctx, rec, fmt.Sprintf("repos[%d].", i)); err != nil {
			return nil, err
		}
	}

	for _, rec := range adds {
		if _, err := m.store.CreateRepo(ctx, rec); err != nil {
			return res, fmt.Errorf("adding repository %q: %w", rec.Name, err)
		}
		res.Added = append(res.Added, RepoChange{ID: rec.ExtID, Name: rec.Name})
	}
	for _, rec := range updates {
		old := have[rec.Name]
		if _, err := m.store.UpdateRepo(ctx, rec); err != nil {
			return res, fmt.Errorf("updating repository %q: %w", rec.Name, err)
		}
		if old.URL != rec.URL || old.Username != rec.Username {
			m.loader.ForgetIndex(helmRepo(old))
		}
		res.Updated = append(res.Updated, RepoChange{ID: rec.ExtID, Name: rec.Name})
	}
	for _, old := range current {
		if _, keep := names[old.Name]; keep {
			continue
		}
		if err := m.store.DeleteRepo(ctx, s.cluster, old.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return res, fmt.Errorf("removing repository %q: %w", old.Name, err)
		}
		m.loader.ForgetIndex(helmRepo(old))
		res.Removed = append(res.Removed, RepoChange{ID: old.ExtID, Name: old.Name})
	}
	if res.Changed() {
		m.log.Info("repositories synchronised", "cluster", s.cluster, "added", len(res.Added),
			"updated", len(res.Updated), "removed", len(res.Removed), "unchanged", res.Unchanged)
	}
	return res, nil
}
