package storetest

import (
	"github.com/kdu-io/kdu/api"

	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store"
)

// FixtureBox returns a secret.Box with the key that the store fixtures in internal/store/testdata were sealed
// with: the bytes 0, 1, ..., 31.
func FixtureBox(t *testing.T) *secret.Box {
	key := make([]byte, secret.KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// fixture is the read-back that an older store wrote next to its database (testdata/v4-*.json).
type fixture struct {
	Clusters     []store.Cluster         `json:"clusters"`
	Repos        map[string][]store.Repo `json:"repos"`
	ProjectRepos map[string][]store.Repo `json:"projectRepos"`
	Operations   []store.Operation       `json:"operations"`
}

// CheckV4Fixture checks a store opened (and so migrated) on a database that the schema-version-4 store wrote:
// everything reads back as that store read it, recorded in the JSON file jsonPath (see
// internal/store/testdata/README.md), with the fields added since at their zero values (BaseRevision nil,
// WrittenRevision 0); then the migrated store takes writes: RecordRevisions on the running operations, a
// takeover that keeps them, new clusters, repositories and operations, and idempotency keys written before.
func CheckV4Fixture(t *testing.T, s store.Store, jsonPath string) {
	t.Helper()
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var want fixture
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("%s: %v", jsonPath, err)
	}
	if len(want.Clusters) == 0 || len(want.Operations) == 0 || len(want.ProjectRepos) == 0 {
		t.Fatalf("%s holds %d clusters, %d operations and %d projects; is it the fixture?", jsonPath,
			len(want.Clusters), len(want.Operations), len(want.ProjectRepos))
	}
	checkFixtureReads(t, s, want)
	checkFixtureWrites(t, s, want)
}

func checkFixtureReads(t *testing.T, s store.Store, want fixture) {
	t.Helper()
	clusters, err := s.ListClusters(ctx(t))
	if err != nil || len(clusters) != len(want.Clusters) {
		t.Fatalf("ListClusters = %d clusters, %v; want %d", len(clusters), err, len(want.Clusters))
	}
	for i, w := range want.Clusters {
		sameCluster(t, "ListClusters["+w.ID+"]", clusters[i], w)
		got, err := s.GetCluster(ctx(t), w.ID)
		if err != nil {
			t.Fatalf("GetCluster(%q): %v", w.ID, err)
		}
		sameCluster(t, "GetCluster("+w.ID+")", got, w)
	}
	checkRepos := func(what string, got []store.Repo, err error, want []store.Repo) {
		t.Helper()
		if err != nil || len(got) != len(want) {
			t.Fatalf("%s = %d repos, %v; want %d", what, len(got), err, len(want))
		}
		for i := range want {
			sameRepo(t, what+"["+want[i].Name+"]", got[i], want[i])
		}
	}
	for _, kind := range []struct {
		name    string
		byOwner map[string][]store.Repo
		list    func(owner string) ([]store.Repo, error)
		get     func(owner, name string) (store.Repo, error)
	}{
		{"Repos", want.Repos, func(o string) ([]store.Repo, error) { return s.ListRepos(ctx(t), o) },
			func(o, n string) (store.Repo, error) { return s.GetRepo(ctx(t), o, n) }},
		{"ProjectRepos", want.ProjectRepos, func(o string) ([]store.Repo, error) { return s.ListProjectRepos(ctx(t), o) },
			func(o, n string) (store.Repo, error) { return s.GetProjectRepo(ctx(t), o, n) }},
	} {
		for owner, repos := range kind.byOwner {
			got, err := kind.list(owner)
			checkRepos("List"+kind.name+"("+owner+")", got, err, repos)
			for _, w := range repos {
				r, err := kind.get(owner, w.Name)
				checkRepos("Get"+kind.name+"("+owner+", "+w.Name+")", []store.Repo{r}, err, []store.Repo{w})
			}
		}
	}
	ops, err := s.ListOperations(ctx(t), store.OperationFilter{Limit: 1000})
	if err != nil || len(ops) != len(want.Operations) {
		t.Fatalf("ListOperations = %d operations, %v; want %d", len(ops), err, len(want.Operations))
	}
	for i, w := range want.Operations {
		if w.BaseRevision != nil || w.WrittenRevision != 0 {
			t.Fatalf("fixture operation %q has revisions: %s", w.ID, fmtOp(w))
		}
		sameOp(t, "ListOperations["+w.ID+"]", ops[i], w)
		sameOp(t, "GetOperation("+w.ID+")", mustGetOp(t, s, w.ID), w)
	}
}

func checkFixtureWrites(t *testing.T, s store.Store, want fixture) {
	t.Helper()
	var running []store.Operation
	for _, op := range want.Operations {
		if op.State == api.Running {
			running = append(running, op)
		}
	}
	if len(running) == 0 {
		t.Fatal("the fixture has no running operation")
	}
	for i, op := range running {
		_, err := s.RecordRevisions(ctx(t), op.ID, op.Owner+"-not", intPtr(i), i+1)
		wantErr(t, "RecordRevisions of "+op.ID+" by another owner", err, store.ErrLeaseLost)
		// The fixture's leases have long expired, but nobody took the operations over: the owner holds them.
		got, err := s.RecordRevisions(ctx(t), op.ID, op.Owner, intPtr(i), i+1)
		if err != nil {
			t.Fatalf("RecordRevisions(%q, %q): %v", op.ID, op.Owner, err)
		}
		w := op
		w.BaseRevision, w.WrittenRevision, w.Version, w.UpdatedAt = intPtr(i), i+1, op.Version+1, got.UpdatedAt
		sameOp(t, "RecordRevisions of fixture operation "+op.ID, got, w)
		running[i] = got
	}
	list, err := s.ListOperations(ctx(t), store.OperationFilter{State: api.Running, Limit: 1000})
	if err != nil || len(list) != len(running) {
		t.Fatalf("ListOperations of running operations = %d, %v; want %d", len(list), err, len(running))
	}
	byID := map[string]store.Operation{}
	for _, op := range running {
		byID[op.ID] = op
	}
	for _, op := range list {
		sameOp(t, "ListOperations after RecordRevisions", op, byID[op.ID])
	}
	// The expired operations are taken over first, revisions and all.
	taken := mustClaim(t, s, "fixture-replica", longLease)
	prev, ok := byID[taken.ID]
	if !ok || taken.Attempts != prev.Attempts+1 || taken.BaseRevision == nil ||
		*taken.BaseRevision != *prev.BaseRevision || taken.WrittenRevision != prev.WrittenRevision {
		t.Errorf("first claim on the migrated store: %s; want a takeover of one of %v", fmtOp(taken), opIDs(running))
	}

	// New rows sit beside the old ones.
	c := sampleCluster("after-v4")
	created := mustCreateCluster(t, s, c)
	if got, err := s.GetCluster(ctx(t), c.ID); err != nil {
		t.Errorf("GetCluster of the new cluster: %v", err)
	} else {
		sameCluster(t, "new cluster", got, created)
	}
	mustCreateRepo(t, s, sampleRepo(c.ID, "after-v4"))
	mustCreateRepo(t, s, sampleProjectRepo(want.Clusters[0].Project, "after-v4"))
	if _, err := s.CreateCluster(ctx(t), store.Cluster{ID: want.Clusters[0].ID}); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateCluster of a fixture cluster's ID: %v, want ErrExists", err)
	}
	upd := want.Clusters[0]
	upd.Namespace = "after-v4"
	got, err := s.UpdateCluster(ctx(t), upd)
	if err != nil || got.Namespace != "after-v4" || !got.CreatedAt.Equal(upd.CreatedAt) {
		t.Errorf("UpdateCluster of a fixture cluster = %s, %v", fmtCluster(got), err)
	}
	op := mustCreateOp(t, s, sampleOp("after-v4", c.ID, "r"))
	if op.BaseRevision != nil || op.WrittenRevision != 0 {
		t.Errorf("new operation: %s", fmtOp(op))
	}
	for _, w := range want.Operations {
		if w.IdempotencyKey == "" {
			continue
		}
		again := sampleOp("reuse-"+w.ID, w.Cluster, w.Release)
		again.Project, again.IdempotencyKey = w.Project, w.IdempotencyKey
		got, created, err := s.CreateOperation(ctx(t), again)
		if err != nil || created || got.ID != w.ID {
			t.Errorf("CreateOperation with the idempotency key of %q = %q, created %v, %v; want the fixture's",
				w.ID, got.ID, created, err)
		}
	}
}
