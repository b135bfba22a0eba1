package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/store"
)

// operationTests are registered in Run.
var operationTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"OperationRoundTrip", testOperationRoundTrip},
	{"OperationVersion", testOperationVersion},
	{"OperationIdempotency", testOperationIdempotency},
	{"OperationIdempotencyConcurrent", testOperationIdempotencyConcurrent},
	{"OperationList", testOperationList},
	{"OperationListDefaultLimit", testOperationListDefaultLimit},
	{"OperationChanged", testOperationChanged},
	{"OperationClaimFIFO", testOperationClaimFIFO},
	{"OperationClaimPerRelease", testOperationClaimPerRelease},
	{"OperationTakeover", testOperationTakeover},
	{"OperationTakeoverPreferred", testOperationTakeoverPreferred},
	{"OperationHeldByOwner", testOperationHeldByOwner},
	{"OperationRevisions", testOperationRevisions},
	{"OperationRevisionsTakeover", testOperationRevisionsTakeover},
	{"OperationFinish", testOperationFinish},
	{"OperationCancel", testOperationCancel},
	{"OperationPrune", testOperationPrune},
	{"OperationKeptOnClusterDelete", testOperationKeptOnClusterDelete},
	{"OperationInvalidArguments", testOperationInvalidArguments},
	{"OperationCopies", testOperationCopies},
	{"OperationCanceledContext", testOperationCanceledContext},
	{"OperationConcurrentClaims", testOperationConcurrentClaims},
	{"OperationClaimPerClusterCap", testOperationClaimPerClusterCap},
}

// testOperationClaimPerClusterCap: with a cap, a cluster never runs more than that many operations (over all
// owners), a cluster at its cap does not block the others, and among clusters below the cap the one running
// the fewest goes first; a cap ≤ 0 is no cap.
func testOperationClaimPerClusterCap(t *testing.T, s store.Store) {
	// Cluster a: four queued operations, oldest first; cluster b: two, created after all of a's.
	for i := range 4 {
		mustCreateOp(t, s, sampleOp(fmt.Sprintf("cap-a%d", i), "a", fmt.Sprintf("r%d", i)))
	}
	for i := range 2 {
		mustCreateOp(t, s, sampleOp(fmt.Sprintf("cap-b%d", i), "b", fmt.Sprintf("r%d", i)))
	}
	claim := func(owner string, limit int) string {
		t.Helper()
		op, ok, err := s.ClaimOperation(ctx(t), owner, longLease, limit)
		if err != nil {
			t.Fatalf("ClaimOperation(%q, cap %d): %v", owner, limit, err)
		}
		if !ok {
			return ""
		}
		return op.ID
	}
	// Fairness: a first (oldest), then b (it runs none, a runs one), then a, then b.
	var got []string
	for _, owner := range []string{"o1", "o2", "o1", "o2"} {
		got = append(got, claim(owner, 2))
	}
	if want := []string{"cap-a0", "cap-b0", "cap-a1", "cap-b1"}; !slices.Equal(got, want) {
		t.Fatalf("claims with cap 2 = %v, want %v (fewest running first, then oldest)", got, want)
	}
	// Both clusters are at their cap, whoever asks.
	if id := claim("o3", 2); id != "" {
		t.Fatalf("claim with both clusters at cap 2 gave %s", id)
	}
	// One of a's ends: a may run one more.
	mustFinish(t, s, "cap-a0", "o1")
	if id := claim("o2", 2); id != "cap-a2" {
		t.Fatalf("claim after one of a's ended = %q, want cap-a2", id)
	}
	// Without a cap, the rest runs.
	if id := claim("o2", 0); id != "cap-a3" {
		t.Fatalf("claim without a cap = %q, want cap-a3", id)
	}
}

// longLease is a lease that does not expire during a test.
const longLease = time.Hour

func sampleOp(id, cluster, release string) store.Operation {
	return store.Operation{
		ID:        id,
		Kind:      "install",
		Project:   "proj",
		Cluster:   cluster,
		Namespace: "ns-" + release,
		Release:   release,
		Request:   []byte(`{"chart":"nginx","values":{"password":"values-secret-` + id + `"}}`),
		Targets:   []byte(`[{"url":"https://hooks.example/x?token=target-secret-` + id + `"}]`),
	}
}

func mustCreateOp(t *testing.T, s store.Store, op store.Operation) store.Operation {
	t.Helper()
	got, created, err := s.CreateOperation(ctx(t), op)
	if err != nil {
		t.Fatalf("CreateOperation(%q): %v", op.ID, err)
	}
	if !created {
		t.Fatalf("CreateOperation(%q): created = false", op.ID)
	}
	return got
}

func mustGetOp(t *testing.T, s store.Store, id string) store.Operation {
	t.Helper()
	got, err := s.GetOperation(ctx(t), id)
	if err != nil {
		t.Fatalf("GetOperation(%q): %v", id, err)
	}
	return got
}

func mustClaim(t *testing.T, s store.Store, owner string, lease time.Duration) store.Operation {
	t.Helper()
	op, ok, err := s.ClaimOperation(ctx(t), owner, lease, 0)
	if err != nil || !ok {
		t.Fatalf("ClaimOperation(%q) = %v, %v; want an operation", owner, ok, err)
	}
	return op
}

func wantNoClaim(t *testing.T, s store.Store, owner string) {
	t.Helper()
	op, ok, err := s.ClaimOperation(ctx(t), owner, longLease, 0)
	if err != nil || ok {
		t.Fatalf("ClaimOperation(%q) = %q, %v, %v; want none", owner, op.ID, ok, err)
	}
}

func mustFinish(t *testing.T, s store.Store, id, owner string) store.Operation {
	t.Helper()
	op, err := s.FinishOperation(ctx(t), id, owner, store.Finish{State: api.Succeeded})
	if err != nil {
		t.Fatalf("FinishOperation(%q, %q): %v", id, owner, err)
	}
	return op
}

// sameOp compares every field; times by instant, byte slices by content.
func sameOp(t *testing.T, what string, got, want store.Operation) {
	t.Helper()
	if fmtOp(got) != fmtOp(want) {
		t.Errorf("%s:\n got %s\nwant %s", what, fmtOp(got), fmtOp(want))
	}
}

func fmtOp(o store.Operation) string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "0"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	base := "nil"
	if o.BaseRevision != nil {
		base = fmt.Sprint(*o.BaseRevision)
	}
	return fmt.Sprintf("{ID:%q Kind:%q Project:%q Cluster:%q Namespace:%q Release:%q State:%q Request:%q "+
		"Targets:%q Progress:%q Result:%q TargetResults:%q Revision:%d Base:%s Written:%d Error:%q/%q/%q Idem:%q Hash:%q "+
		"Owner:%q Lease:%s Cancel:%v Attempts:%d Version:%d Created:%s Updated:%s Started:%s Finished:%s}",
		o.ID, o.Kind, o.Project, o.Cluster, o.Namespace, o.Release, o.State, o.Request, o.Targets, o.Progress,
		o.Result, o.TargetResults, o.Revision, base, o.WrittenRevision, o.ErrorCode, o.ErrorMessage, o.ErrorField,
		o.IdempotencyKey, o.RequestHash, o.Owner, ts(o.LeaseUntil), o.CancelRequested, o.Attempts, o.Version,
		ts(o.CreatedAt), ts(o.UpdatedAt), ts(o.StartedAt), ts(o.FinishedAt))
}

func opIDs(ops []store.Operation) []string {
	ids := make([]string, len(ops))
	for i, o := range ops {
		ids[i] = o.ID
	}
	return ids
}

func wantIDs(t *testing.T, what string, ops []store.Operation, want ...string) {
	t.Helper()
	if got := opIDs(ops); !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// checkUTC asserts that every set timestamp of op is in UTC.
func checkUTC(t *testing.T, what string, op store.Operation) {
	t.Helper()
	for name, ts := range map[string]time.Time{"CreatedAt": op.CreatedAt, "UpdatedAt": op.UpdatedAt,
		"StartedAt": op.StartedAt, "FinishedAt": op.FinishedAt, "LeaseUntil": op.LeaseUntil} {
		if !ts.IsZero() && ts.Location() != time.UTC {
			t.Errorf("%s: %s is in %s, want UTC", what, name, ts.Location())
		}
	}
}

func testOperationRoundTrip(t *testing.T, s store.Store) {
	in := sampleOp("op1", "c1", "web")
	in.Kind = "upgrade"
	in.Request = append([]byte{0, 1, 2, 255}, bytes.Repeat([]byte("v"), 100_000)...)
	in.IdempotencyKey = "idem-1"
	in.RequestHash = "sha256:abc"
	// Fields the store manages are ignored on create.
	junk := in
	junk.State, junk.Owner, junk.Attempts, junk.Version, junk.Revision = api.Running, "someone", 7, 42, 3
	junk.Progress, junk.Result, junk.ErrorCode, junk.ErrorMessage = []byte("p"), []byte("r"), "E", "msg"
	junk.CancelRequested, junk.LeaseUntil = true, time.Now().Add(time.Hour)
	junk.BaseRevision, junk.WrittenRevision = intPtr(2), 3
	junk.CreatedAt, junk.StartedAt, junk.FinishedAt = time.Unix(5, 0), time.Unix(6, 0), time.Unix(7, 0)

	before := time.Now()
	created, ok, err := s.CreateOperation(ctx(t), junk)
	after := time.Now()
	if err != nil || !ok {
		t.Fatalf("CreateOperation = %v, %v", ok, err)
	}
	checkTimes(t, "CreatedAt", created.CreatedAt, before, after)
	checkUTC(t, "created", created)
	want := in
	want.State, want.Version = api.Queued, 1
	want.CreatedAt, want.UpdatedAt = created.CreatedAt, created.CreatedAt
	sameOp(t, "CreateOperation result", created, want)
	got := mustGetOp(t, s, "op1")
	sameOp(t, "GetOperation", got, want)
	checkUTC(t, "get", got)
	list, err := s.ListOperations(ctx(t), store.OperationFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("ListOperations = %d operations, %v; want 1", len(list), err)
	}
	sameOp(t, "ListOperations[0]", list[0], want)
	changed, err := s.ChangedOperations(ctx(t), time.Time{}, 0)
	if err != nil || len(changed) != 1 {
		t.Fatalf("ChangedOperations = %d operations, %v; want 1", len(changed), err)
	}
	sameOp(t, "ChangedOperations[0]", changed[0], want)

	// Empty secrets stay empty (nil), whether nil or empty slices went in.
	bare := mustCreateOp(t, s, store.Operation{ID: "bare", Kind: "scale", Cluster: "c1", Release: "r",
		Request: []byte{}})
	got = mustGetOp(t, s, "bare")
	if got.Request != nil || got.Targets != nil || got.Progress != nil || got.Result != nil {
		t.Errorf("operation without payloads reads back as %s", fmtOp(got))
	}
	sameOp(t, "bare operation", got, bare)

	_, err = s.GetOperation(ctx(t), "absent")
	wantErr(t, "GetOperation of a missing operation", err, store.ErrNotFound, `"absent"`)
	if err := s.Ping(ctx(t)); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testOperationVersion(t *testing.T, s store.Store) {
	steps := []struct {
		name string
		do   func() (store.Operation, error)
	}{
		{"create", func() (store.Operation, error) {
			op, _, err := s.CreateOperation(ctx(t), sampleOp("op", "c", "r"))
			return op, err
		}},
		{"claim", func() (store.Operation, error) {
			op, _, err := s.ClaimOperation(ctx(t), "owner", longLease, 0)
			return op, err
		}},
		{"renew", func() (store.Operation, error) {
			if _, err := s.RenewLease(ctx(t), "op", "owner", longLease); err != nil {
				return store.Operation{}, err
			}
			return s.GetOperation(ctx(t), "op")
		}},
		{"progress", func() (store.Operation, error) {
			return s.UpdateProgress(ctx(t), "op", "owner", []byte(`{"step":1}`))
		}},
		{"cancel", func() (store.Operation, error) { return s.CancelOperation(ctx(t), "op") }},
		{"finish", func() (store.Operation, error) {
			return s.FinishOperation(ctx(t), "op", "owner", store.Finish{State: api.Cancelled})
		}},
	}
	var prev store.Operation
	for i, st := range steps {
		op, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if op.Version != int64(i+1) {
			t.Errorf("after %s Version = %d, want %d", st.name, op.Version, i+1)
		}
		if i > 0 && op.UpdatedAt.Before(prev.UpdatedAt) {
			t.Errorf("after %s UpdatedAt went back from %s to %s", st.name, prev.UpdatedAt, op.UpdatedAt)
		}
		if !op.CreatedAt.Equal(mustGetOp(t, s, "op").CreatedAt) {
			t.Errorf("after %s CreatedAt changed", st.name)
		}
		sameOp(t, "GetOperation after "+st.name, mustGetOp(t, s, "op"), op)
		prev = op
	}
}

func testOperationIdempotency(t *testing.T, s store.Store) {
	a := sampleOp("a", "c", "r")
	a.Project, a.IdempotencyKey, a.RequestHash = "p1", "key", "h1"
	first := mustCreateOp(t, s, a)

	again := sampleOp("a2", "c", "other")
	again.Project, again.IdempotencyKey, again.RequestHash = "p1", "key", "h2"
	got, created, err := s.CreateOperation(ctx(t), again)
	if err != nil || created {
		t.Fatalf("second CreateOperation with the key = created %v, %v; want the existing one", created, err)
	}
	sameOp(t, "operation returned for a reused key", got, first)
	if _, err := s.GetOperation(ctx(t), "a2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a reused key stored a second operation: %v", err)
	}
	// The existing one is returned whatever its state.
	claimed := mustClaim(t, s, "o", longLease)
	fin := mustFinish(t, s, claimed.ID, "o")
	got, created, err = s.CreateOperation(ctx(t), again)
	if err != nil || created {
		t.Fatalf("CreateOperation with the key of a finished operation = created %v, %v", created, err)
	}
	sameOp(t, "finished operation returned for its key", got, fin)

	other := again
	other.Project = "p2"
	mustCreateOp(t, s, other) // same key, another project: a new operation
	noProject := again
	noProject.ID, noProject.Project = "a3", ""
	mustCreateOp(t, s, noProject)

	// Without a key every create is new; a taken ID is ErrExists.
	for _, id := range []string{"n1", "n2"} {
		op := sampleOp(id, "c", "r")
		op.Project = "p1"
		mustCreateOp(t, s, op)
	}
	dup := sampleOp("n1", "c", "zzz")
	_, created, err = s.CreateOperation(ctx(t), dup)
	wantErr(t, "CreateOperation with a taken ID", err, store.ErrExists, `"n1"`)
	if created {
		t.Error("CreateOperation with a taken ID reported created")
	}
	dup.IdempotencyKey = "fresh"
	_, _, err = s.CreateOperation(ctx(t), dup)
	wantErr(t, "CreateOperation with a taken ID and a new key", err, store.ErrExists)
	if got := mustGetOp(t, s, "n1"); got.Release != "r" || got.IdempotencyKey != "" {
		t.Errorf("a refused create changed the operation: %s", fmtOp(got))
	}
}

func testOperationIdempotencyConcurrent(t *testing.T, s store.Store) {
	const n = 8
	var wg sync.WaitGroup
	type result struct {
		op      store.Operation
		created bool
		err     error
	}
	results := make(chan result, n)
	for i := range n {
		wg.Go(func() {
			op := sampleOp(fmt.Sprintf("op-%d", i), "c", "r")
			op.IdempotencyKey = "same"
			got, created, err := s.CreateOperation(ctx(t), op)
			results <- result{got, created, err}
		})
	}
	wg.Wait()
	close(results)
	ids := map[string]bool{}
	createdN := 0
	for r := range results {
		if r.err != nil {
			t.Errorf("concurrent CreateOperation: %v", r.err)
			continue
		}
		ids[r.op.ID] = true
		if r.created {
			createdN++
		}
	}
	if createdN != 1 || len(ids) != 1 {
		t.Errorf("%d concurrent creates with one key: %d created, ids %v; want 1 created, 1 id", n, createdN, ids)
	}
	list, _ := s.ListOperations(ctx(t), store.OperationFilter{})
	if len(list) != 1 {
		t.Errorf("%d operations stored, want 1", len(list))
	}
}

func testOperationList(t *testing.T, s store.Store) {
	type spec struct{ id, project, cluster, release, kind string }
	specs := []spec{
		{"op-00", "p1", "c1", "web", "install"},
		{"op-01", "p1", "c1", "db", "install"},
		{"op-02", "p2", "c2", "web", "upgrade"},
		{"op-03", "", "c1", "web", "scale"},
		{"op-04", "p2", "c1", "db", "upgrade"},
		{"op-05", "p1", "c2", "cache", "install"},
		{"op-06", "p3", "c2", "db", "uninstall"},
		{"op-07", "p1", "c1", "web", "upgrade"},
	}
	for _, sp := range specs {
		op := sampleOp(sp.id, sp.cluster, sp.release)
		op.Project, op.Kind = sp.project, sp.kind
		mustCreateOp(t, s, op)
	}
	// op-00 runs, op-01 is cancelled, op-02 succeeds; the rest stay queued (op-03 and op-07 wait behind op-00).
	c0 := mustClaim(t, s, "o", longLease)
	c1 := mustClaim(t, s, "o", longLease)
	c2 := mustClaim(t, s, "o", longLease)
	if c0.ID != "op-00" || c1.ID != "op-01" || c2.ID != "op-02" {
		t.Fatalf("claims = %s %s %s, want op-00 op-01 op-02", c0.ID, c1.ID, c2.ID)
	}
	if _, err := s.FinishOperation(ctx(t), "op-01", "o", store.Finish{State: api.Cancelled}); err != nil {
		t.Fatal(err)
	}
	mustFinish(t, s, "op-02", "o")
	state := map[string]api.OperationState{"op-00": api.Running, "op-01": api.Cancelled, "op-02": api.Succeeded}

	match := func(f store.OperationFilter) []string {
		var out []string
		for i := len(specs) - 1; i >= 0; i-- {
			sp := specs[i]
			st := state[sp.id]
			if st == "" {
				st = api.Queued
			}
			if (f.Projects != nil && !slices.Contains(f.Projects, sp.project)) ||
				(f.Cluster != "" && f.Cluster != sp.cluster) || (f.Release != "" && f.Release != sp.release) ||
				(f.State != "" && f.State != st) || (f.Kind != "" && f.Kind != sp.kind) {
				continue
			}
			out = append(out, sp.id)
		}
		return out
	}
	filters := []struct {
		name string
		f    store.OperationFilter
	}{
		{"all", store.OperationFilter{}},
		{"projects nil", store.OperationFilter{Projects: nil}},
		{"projects empty", store.OperationFilter{Projects: []string{}}},
		{"project p1", store.OperationFilter{Projects: []string{"p1"}}},
		{"projects p2 and none", store.OperationFilter{Projects: []string{"p2", ""}}},
		{"project unknown", store.OperationFilter{Projects: []string{"nope"}}},
		{"cluster", store.OperationFilter{Cluster: "c2"}},
		{"release", store.OperationFilter{Release: "web"}},
		{"cluster and release", store.OperationFilter{Cluster: "c1", Release: "web"}},
		{"state queued", store.OperationFilter{State: api.Queued}},
		{"state running", store.OperationFilter{State: api.Running}},
		{"state succeeded", store.OperationFilter{State: api.Succeeded}},
		{"kind", store.OperationFilter{Kind: "upgrade"}},
		{"everything", store.OperationFilter{Projects: []string{"p1", "p2"}, Cluster: "c1", Release: "db",
			State: api.Queued, Kind: "upgrade"}},
	}
	for _, tc := range filters {
		got, err := s.ListOperations(ctx(t), tc.f)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got == nil {
			t.Errorf("%s: nil slice, want a non-nil one", tc.name)
		}
		wantIDs(t, "ListOperations "+tc.name, got, match(tc.f)...)
		for _, op := range got {
			if op.State != api.Queued && op.State != state[op.ID] {
				t.Errorf("%s: %s has state %s", tc.name, op.ID, op.State)
			}
		}
	}

	got, err := s.ListOperations(ctx(t), store.OperationFilter{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "ListOperations limit 3", got, "op-07", "op-06", "op-05")

	// Pages of 3 and of 1, with and without a filter, add up to the whole list.
	for _, tc := range []struct {
		limit int
		f     store.OperationFilter
	}{{3, store.OperationFilter{}}, {1, store.OperationFilter{}}, {2, store.OperationFilter{Cluster: "c1"}}} {
		var all []string
		f := tc.f
		f.Limit = tc.limit
		for page := 0; ; page++ {
			if page > len(specs) {
				t.Fatalf("pagination does not end")
			}
			got, err := s.ListOperations(ctx(t), f)
			if err != nil {
				t.Fatalf("page %d: %v", page, err)
			}
			if len(got) > tc.limit {
				t.Fatalf("page %d has %d operations, limit %d", page, len(got), tc.limit)
			}
			if len(got) == 0 {
				break
			}
			all = append(all, opIDs(got)...)
			f.Before = got[len(got)-1].ID
		}
		if want := match(tc.f); !slices.Equal(all, want) {
			t.Errorf("pages of %d with %+v = %q, want %q", tc.limit, tc.f, all, want)
		}
	}
	got, err = s.ListOperations(ctx(t), store.OperationFilter{Before: "op-03", Release: "web"})
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "ListOperations before op-03 of release web", got, "op-02", "op-00")
	_, err = s.ListOperations(ctx(t), store.OperationFilter{Before: "absent"})
	wantErr(t, "ListOperations before a missing operation", err, store.ErrNotFound, `"absent"`)
	_, err = s.ListOperations(ctx(t), store.OperationFilter{Limit: -1})
	wantErr(t, "ListOperations with a negative limit", err, store.ErrInvalid)
}

func testOperationListDefaultLimit(t *testing.T, s store.Store) {
	n := store.DefaultOperationLimit + 1
	for i := range n {
		mustCreateOp(t, s, store.Operation{ID: fmt.Sprintf("op-%04d", i), Kind: "install", Cluster: "c",
			Release: "r"})
	}
	got, err := s.ListOperations(ctx(t), store.OperationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != store.DefaultOperationLimit || got[0].ID != fmt.Sprintf("op-%04d", n-1) {
		t.Errorf("ListOperations without a limit = %d operations from %q, want %d from the newest",
			len(got), got[0].ID, store.DefaultOperationLimit)
	}
	got, _ = s.ListOperations(ctx(t), store.OperationFilter{Limit: n + 10})
	if len(got) != n {
		t.Errorf("ListOperations with limit %d = %d operations, want %d", n+10, len(got), n)
	}
	changed, _ := s.ChangedOperations(ctx(t), time.Time{}, 0)
	if len(changed) != store.DefaultOperationLimit || changed[0].ID != "op-0000" {
		t.Errorf("ChangedOperations without a limit = %d operations, want %d from the oldest",
			len(changed), store.DefaultOperationLimit)
	}
}

func testOperationChanged(t *testing.T, s store.Store) {
	empty, err := s.ChangedOperations(ctx(t), time.Time{}, 10)
	if err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("ChangedOperations of an empty store = %v, %v; want an empty slice", empty, err)
	}
	a := mustCreateOp(t, s, sampleOp("a", "c", "r1"))
	b := mustCreateOp(t, s, sampleOp("b", "c", "r2"))
	c := mustCreateOp(t, s, sampleOp("c", "c", "r3"))
	a2 := mustClaim(t, s, "o", longLease) // a changes after c
	if a2.ID != "a" {
		t.Fatalf("claimed %q, want a", a2.ID)
	}
	got, err := s.ChangedOperations(ctx(t), time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "ChangedOperations since the beginning", got, "b", "c", "a")
	if len(got) == 3 && got[2].Version != 2 {
		t.Errorf("a changed but has Version %d", got[2].Version)
	}
	got, _ = s.ChangedOperations(ctx(t), a.UpdatedAt, 0)
	wantIDs(t, "ChangedOperations since a's creation", got, "b", "c", "a")
	got, _ = s.ChangedOperations(ctx(t), b.UpdatedAt, 0)
	wantIDs(t, "ChangedOperations since b's creation", got, "c", "a")
	got, _ = s.ChangedOperations(ctx(t), b.UpdatedAt, 1)
	wantIDs(t, "ChangedOperations since b's creation, limit 1", got, "c")
	got, _ = s.ChangedOperations(ctx(t), c.UpdatedAt, 10)
	wantIDs(t, "ChangedOperations since c's creation", got, "a")
	got, _ = s.ChangedOperations(ctx(t), a2.UpdatedAt, 10)
	wantIDs(t, "ChangedOperations since the last change", got)
	if got == nil {
		t.Error("ChangedOperations with nothing new returned nil, want an empty slice")
	}
	p, err := s.UpdateProgress(ctx(t), "a", "o", []byte(`{"p":1}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ = s.ChangedOperations(ctx(t), a2.UpdatedAt, 10)
	wantIDs(t, "ChangedOperations after a progress report", got, "a")
	if len(got) == 1 {
		sameOp(t, "changed operation", got[0], p)
	}
	_, err = s.ChangedOperations(ctx(t), time.Time{}, -1)
	wantErr(t, "ChangedOperations with a negative limit", err, store.ErrInvalid)
}

func testOperationClaimFIFO(t *testing.T, s store.Store) {
	wantNoClaim(t, s, "o")
	var created []store.Operation
	for i := range 5 {
		created = append(created, mustCreateOp(t, s, sampleOp(fmt.Sprintf("op-%d", i), "c", fmt.Sprintf("r%d", i))))
	}
	for i := range 5 {
		before := time.Now()
		op := mustClaim(t, s, "owner-1", time.Minute)
		after := time.Now()
		if op.ID != created[i].ID {
			t.Fatalf("claim %d gave %q, want %q (oldest first)", i, op.ID, created[i].ID)
		}
		want := created[i]
		want.State, want.Owner, want.Attempts, want.Version = api.Running, "owner-1", 1, 2
		want.UpdatedAt, want.StartedAt, want.LeaseUntil = op.UpdatedAt, op.UpdatedAt, op.UpdatedAt.Add(time.Minute)
		sameOp(t, "claimed operation", op, want)
		checkTimes(t, "StartedAt", op.StartedAt, before, after)
		checkUTC(t, "claimed", op)
		sameOp(t, "GetOperation after claim", mustGetOp(t, s, op.ID), op)
	}
	wantNoClaim(t, s, "owner-2")
}

func testOperationClaimPerRelease(t *testing.T, s store.Store) {
	mustCreateOp(t, s, sampleOp("a1", "c1", "r1"))
	mustCreateOp(t, s, sampleOp("a2", "c1", "r1"))
	mustCreateOp(t, s, sampleOp("b1", "c1", "r2"))
	mustCreateOp(t, s, sampleOp("x1", "c2", "r1")) // same release name on another cluster: independent
	mustCreateOp(t, s, sampleOp("a3", "c1", "r1"))
	for _, want := range []string{"a1", "b1", "x1"} {
		if op := mustClaim(t, s, "o", longLease); op.ID != want {
			t.Fatalf("claimed %q, want %q", op.ID, want)
		}
	}
	wantNoClaim(t, s, "o") // a2 and a3 wait for a1; valid leases are not taken over
	mustFinish(t, s, "a1", "o")
	if op := mustClaim(t, s, "o", longLease); op.ID != "a2" {
		t.Fatalf("after a1 finished claimed %q, want a2", op.ID)
	}
	wantNoClaim(t, s, "o")
	if _, err := s.FinishOperation(ctx(t), "a2", "o", store.Finish{State: api.Failed}); err != nil {
		t.Fatal(err)
	}
	if op := mustClaim(t, s, "o", longLease); op.ID != "a3" {
		t.Fatalf("after a2 failed claimed %q, want a3", op.ID)
	}

	// A cancelled queued operation neither runs nor holds up the next one of its release.
	mustCreateOp(t, s, sampleOp("d1", "c1", "r4"))
	mustCreateOp(t, s, sampleOp("d2", "c1", "r4"))
	if _, err := s.CancelOperation(ctx(t), "d1"); err != nil {
		t.Fatal(err)
	}
	if op := mustClaim(t, s, "o", longLease); op.ID != "d2" {
		t.Fatalf("claimed %q, want d2 (d1 was cancelled)", op.ID)
	}
	wantNoClaim(t, s, "o")
}

// waitFor polls cond until it returns true or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done after %s", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitClaim claims for owner, with a long lease, as soon as there is something to claim (an expiring lease).
func waitClaim(t *testing.T, s store.Store, owner string) store.Operation {
	t.Helper()
	var claimed store.Operation
	waitFor(t, "takeover of an expired lease", 10*time.Second, func() bool {
		op, ok, err := s.ClaimOperation(ctx(t), owner, longLease, 0)
		if err != nil {
			t.Fatalf("ClaimOperation: %v", err)
		}
		claimed = op
		return ok
	})
	return claimed
}

func testOperationTakeover(t *testing.T, s store.Store) {
	mustCreateOp(t, s, sampleOp("op", "c", "r"))
	mustCreateOp(t, s, sampleOp("next", "c", "r"))
	first := mustClaim(t, s, "old", 100*time.Millisecond)
	if _, err := s.CancelOperation(ctx(t), "op"); err != nil {
		t.Fatal(err)
	}
	taken := waitClaim(t, s, "new")
	if taken.ID != "op" {
		t.Fatalf("claimed %q, want the expired op (next must wait for it)", taken.ID)
	}
	want := first
	want.Owner, want.Attempts, want.CancelRequested, want.Version = "new", 2, true, first.Version+2
	want.UpdatedAt, want.LeaseUntil = taken.UpdatedAt, taken.UpdatedAt.Add(longLease)
	sameOp(t, "taken over operation", taken, want)

	// The old owner has lost it, the new one holds it.
	_, err := s.RenewLease(ctx(t), "op", "old", longLease)
	wantErr(t, "RenewLease by the old owner", err, store.ErrLeaseLost, `"op"`)
	_, err = s.UpdateProgress(ctx(t), "op", "old", []byte("x"))
	wantErr(t, "UpdateProgress by the old owner", err, store.ErrLeaseLost)
	_, err = s.FinishOperation(ctx(t), "op", "old", store.Finish{State: api.Succeeded})
	wantErr(t, "FinishOperation by the old owner", err, store.ErrLeaseLost)
	sameOp(t, "operation after the old owner's attempts", mustGetOp(t, s, "op"), taken)
	if cancel, err := s.RenewLease(ctx(t), "op", "new", longLease); err != nil || !cancel {
		t.Errorf("RenewLease by the new owner = %v, %v; want the cancel request", cancel, err)
	}
	wantNoClaim(t, s, "third")
	fin, err := s.FinishOperation(ctx(t), "op", "new", store.Finish{State: api.Cancelled})
	if err != nil {
		t.Fatal(err)
	}
	if fin.Owner != "new" || fin.Attempts != 2 {
		t.Errorf("finished operation: %s", fmtOp(fin))
	}
	_, err = s.FinishOperation(ctx(t), "op", "old", store.Finish{State: api.Succeeded})
	wantErr(t, "FinishOperation by the old owner after the new one finished", err, store.ErrLeaseLost)
	if op := mustClaim(t, s, "third", longLease); op.ID != "next" || op.Attempts != 1 {
		t.Errorf("after the takeover finished claimed %s, want next with 1 attempt", fmtOp(op))
	}
}

func testOperationTakeoverPreferred(t *testing.T, s store.Store) {
	mustCreateOp(t, s, sampleOp("expired", "c", "r1"))
	op := mustClaim(t, s, "old", 100*time.Millisecond)
	// Wait (on the store's clock, as seen on this machine) until the lease has surely expired, then queue work.
	waitFor(t, "lease expiry", 10*time.Second, func() bool {
		return time.Now().After(op.LeaseUntil.Add(100 * time.Millisecond))
	})
	mustCreateOp(t, s, sampleOp("queued", "c", "r2"))
	if got := mustClaim(t, s, "new", longLease); got.ID != "expired" {
		t.Fatalf("claimed %q, want the expired operation before the queued one", got.ID)
	}
	if got := mustClaim(t, s, "new", longLease); got.ID != "queued" {
		t.Fatalf("claimed %q, want queued", got.ID)
	}
}

func testOperationHeldByOwner(t *testing.T, s store.Store) {
	mustCreateOp(t, s, sampleOp("op", "c", "r"))
	mustCreateOp(t, s, sampleOp("waiting", "c", "r"))
	_, err := s.RenewLease(ctx(t), "waiting", "a", time.Minute)
	wantErr(t, "RenewLease of a queued operation", err, store.ErrLeaseLost)
	op := mustClaim(t, s, "a", time.Minute)
	checks := map[string]func(owner, id string) error{
		"RenewLease": func(owner, id string) error {
			_, err := s.RenewLease(ctx(t), id, owner, time.Minute)
			return err
		},
		"UpdateProgress": func(owner, id string) error {
			_, err := s.UpdateProgress(ctx(t), id, owner, []byte("p"))
			return err
		},
		"AdoptOperation": func(owner, id string) error {
			_, err := s.AdoptOperation(ctx(t), id, owner, time.Minute)
			return err
		},
		"RecordRevisions": func(owner, id string) error {
			_, err := s.RecordRevisions(ctx(t), id, owner, intPtr(1), 2)
			return err
		},
		"FinishOperation": func(owner, id string) error {
			_, err := s.FinishOperation(ctx(t), id, owner, store.Finish{State: api.Succeeded})
			return err
		},
	}
	for name, call := range checks {
		wantErr(t, name+" by another owner", call("b", "op"), store.ErrLeaseLost, `"op"`)
		wantErr(t, name+" of a missing operation", call("a", "absent"), store.ErrNotFound, `"absent"`)
	}
	sameOp(t, "operation after refused writes", mustGetOp(t, s, "op"), op)

	// Renewing moves the lease forward from now; the old lease does not matter.
	cancel, err := s.RenewLease(ctx(t), "op", "a", 2*time.Hour)
	if err != nil || cancel {
		t.Fatalf("RenewLease = %v, %v", cancel, err)
	}
	renewed := mustGetOp(t, s, "op")
	if !renewed.LeaseUntil.Equal(renewed.UpdatedAt.Add(2*time.Hour)) || !renewed.LeaseUntil.After(op.LeaseUntil) {
		t.Errorf("after RenewLease LeaseUntil = %s (updated %s), was %s", renewed.LeaseUntil, renewed.UpdatedAt, op.LeaseUntil)
	}
	p, err := s.UpdateProgress(ctx(t), "op", "a", []byte(`{"phase":"wait","ready":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Progress) != `{"phase":"wait","ready":1}` || p.State != api.Running {
		t.Errorf("UpdateProgress result: %s", fmtOp(p))
	}
	sameOp(t, "GetOperation after UpdateProgress", mustGetOp(t, s, "op"), p)
	// A restarted owner adopts its operation: a new attempt, the lease extended, the rest kept.
	adopted, err := s.AdoptOperation(ctx(t), "op", "a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if adopted.Attempts != p.Attempts+1 || adopted.Version != p.Version+1 || adopted.State != api.Running ||
		!adopted.LeaseUntil.Equal(adopted.UpdatedAt.Add(time.Hour)) || !adopted.StartedAt.Equal(p.StartedAt) ||
		string(adopted.Progress) != string(p.Progress) {
		t.Errorf("AdoptOperation: %s, was %s", fmtOp(adopted), fmtOp(p))
	}
	sameOp(t, "GetOperation after AdoptOperation", mustGetOp(t, s, "op"), adopted)
	mustFinish(t, s, "op", "a")
	// The owner that finished it no longer holds a running operation.
	for name, call := range checks {
		wantErr(t, name+" after finishing", call("a", "op"), store.ErrConflict)
	}
}

func intPtr(v int) *int { return &v }

// testOperationRevisions: RecordRevisions is for the owner of a running operation only; a base revision given
// replaces the stored one, the written revision only grows, and both survive progress, adoption and the finish.
func testOperationRevisions(t *testing.T, s store.Store) {
	created := mustCreateOp(t, s, sampleOp("op", "c", "r"))
	mustCreateOp(t, s, sampleOp("waiting", "c", "r"))
	if created.BaseRevision != nil || created.WrittenRevision != 0 {
		t.Errorf("a new operation has revisions: %s", fmtOp(created))
	}
	_, err := s.RecordRevisions(ctx(t), "op", "a", intPtr(1), 1)
	wantErr(t, "RecordRevisions of a queued operation", err, store.ErrLeaseLost, `"op"`)
	claimed := mustClaim(t, s, "a", longLease)
	if claimed.ID != "op" || claimed.BaseRevision != nil || claimed.WrittenRevision != 0 {
		t.Fatalf("claimed %s", fmtOp(claimed))
	}
	_, err = s.RecordRevisions(ctx(t), "op", "b", intPtr(1), 1)
	wantErr(t, "RecordRevisions by another owner", err, store.ErrLeaseLost, `"op"`)
	_, err = s.RecordRevisions(ctx(t), "absent", "a", intPtr(1), 1)
	wantErr(t, "RecordRevisions of a missing operation", err, store.ErrNotFound, `"absent"`)
	sameOp(t, "operation after refused RecordRevisions", mustGetOp(t, s, "op"), claimed)

	prev := claimed
	for _, st := range []struct {
		name        string
		base        *int
		written     int
		wantBase    *int
		wantWritten int
	}{
		{"base only", intPtr(3), 0, intPtr(3), 0},
		{"written without a base", nil, 4, intPtr(3), 4},
		{"a lower written revision", nil, 2, intPtr(3), 4},
		{"the same written revision", nil, 4, intPtr(3), 4},
		{"base overwritten with 0", intPtr(0), 5, intPtr(0), 5},
		{"base overwritten again", intPtr(7), 1, intPtr(7), 5},
	} {
		got, err := s.RecordRevisions(ctx(t), "op", "a", st.base, st.written)
		if err != nil {
			t.Fatalf("RecordRevisions %s: %v", st.name, err)
		}
		want := prev
		want.BaseRevision, want.WrittenRevision, want.Version, want.UpdatedAt =
			st.wantBase, st.wantWritten, prev.Version+1, got.UpdatedAt
		sameOp(t, "RecordRevisions "+st.name, got, want)
		sameOp(t, "GetOperation after RecordRevisions "+st.name, mustGetOp(t, s, "op"), got)
		if got.UpdatedAt.Before(prev.UpdatedAt) {
			t.Errorf("RecordRevisions %s: UpdatedAt went back", st.name)
		}
		prev = got
	}
	list, err := s.ListOperations(ctx(t), store.OperationFilter{State: api.Running})
	if err != nil || len(list) != 1 {
		t.Fatalf("ListOperations of running operations = %d, %v; want 1", len(list), err)
	}
	sameOp(t, "ListOperations after RecordRevisions", list[0], prev)
	changed, err := s.ChangedOperations(ctx(t), claimed.UpdatedAt, 0)
	if err != nil || len(changed) != 1 {
		t.Fatalf("ChangedOperations after the claim = %d, %v; want 1", len(changed), err)
	}
	sameOp(t, "ChangedOperations after RecordRevisions", changed[0], prev)
	if w := mustGetOp(t, s, "waiting"); w.BaseRevision != nil || w.WrittenRevision != 0 {
		t.Errorf("RecordRevisions changed another operation: %s", fmtOp(w))
	}

	p, err := s.UpdateProgress(ctx(t), "op", "a", []byte(`{"p":1}`))
	if err != nil {
		t.Fatal(err)
	}
	adopted, err := s.AdoptOperation(ctx(t), "op", "a", longLease)
	if err != nil {
		t.Fatal(err)
	}
	for name, op := range map[string]store.Operation{"UpdateProgress": p, "AdoptOperation": adopted} {
		if op.BaseRevision == nil || *op.BaseRevision != 7 || op.WrittenRevision != 5 {
			t.Errorf("after %s the revisions are lost: %s", name, fmtOp(op))
		}
	}
	fin, err := s.FinishOperation(ctx(t), "op", "a", store.Finish{State: api.Succeeded, Revision: 5})
	if err != nil {
		t.Fatal(err)
	}
	if fin.BaseRevision == nil || *fin.BaseRevision != 7 || fin.WrittenRevision != 5 {
		t.Errorf("the finish lost the revisions: %s", fmtOp(fin))
	}
	_, err = s.RecordRevisions(ctx(t), "op", "a", intPtr(8), 9)
	wantErr(t, "RecordRevisions after the finish", err, store.ErrConflict, `"op"`)
	sameOp(t, "finished operation after a refused RecordRevisions", mustGetOp(t, s, "op"), fin)
	// The next operation of the release starts without revisions.
	if next := mustClaim(t, s, "a", longLease); next.ID != "waiting" || next.BaseRevision != nil ||
		next.WrittenRevision != 0 {
		t.Errorf("next claim: %s", fmtOp(next))
	}
}

// testOperationRevisionsTakeover: the owner that takes over an expired operation finds the revisions its
// previous owner recorded, and the previous owner can record no more.
func testOperationRevisionsTakeover(t *testing.T, s store.Store) {
	mustCreateOp(t, s, sampleOp("op", "c", "r"))
	mustClaim(t, s, "old", 100*time.Millisecond)
	rec, err := s.RecordRevisions(ctx(t), "op", "old", intPtr(2), 3)
	if err != nil {
		t.Fatal(err)
	}
	taken := waitClaim(t, s, "new")
	if taken.ID != "op" || taken.Attempts != 2 || taken.BaseRevision == nil || *taken.BaseRevision != 2 ||
		taken.WrittenRevision != 3 {
		t.Fatalf("taken over: %s, recorded %s", fmtOp(taken), fmtOp(rec))
	}
	_, err = s.RecordRevisions(ctx(t), "op", "old", intPtr(9), 9)
	wantErr(t, "RecordRevisions by the owner that lost the operation", err, store.ErrLeaseLost)
	got, err := s.RecordRevisions(ctx(t), "op", "new", nil, 4)
	if err != nil || got.BaseRevision == nil || *got.BaseRevision != 2 || got.WrittenRevision != 4 {
		t.Errorf("RecordRevisions by the new owner = %s, %v", fmtOp(got), err)
	}
}

func testOperationFinish(t *testing.T, s store.Store) {
	for i, st := range []api.OperationState{api.Succeeded, api.Failed, api.Cancelled} {
		id := "op-" + string(st)
		mustCreateOp(t, s, sampleOp(id, "c", string(st)))
		claimed := mustClaim(t, s, "o", time.Minute)
		if _, err := s.UpdateProgress(ctx(t), id, "o", []byte(`{"p":1}`)); err != nil {
			t.Fatal(err)
		}
		fin := store.Finish{State: st, Result: []byte(`{"notes":"done"}`), Revision: i + 3,
			ErrorCode: "E" + string(st), ErrorMessage: "message " + string(st), ErrorField: "spec.values",
			TargetResults: []byte(`[{"delivered":true},{"delivered":false,"error":"503"}]`)}
		before := time.Now()
		got, err := s.FinishOperation(ctx(t), id, "o", fin)
		after := time.Now()
		if err != nil {
			t.Fatalf("FinishOperation(%s): %v", st, err)
		}
		checkTimes(t, "FinishedAt", got.FinishedAt, before, after)
		want := claimed
		want.State, want.Result, want.Revision, want.TargetResults = st, fin.Result, fin.Revision, fin.TargetResults
		want.ErrorCode, want.ErrorMessage, want.ErrorField = fin.ErrorCode, fin.ErrorMessage, fin.ErrorField
		want.Progress, want.LeaseUntil, want.Version = []byte(`{"p":1}`), time.Time{}, claimed.Version+2
		want.UpdatedAt, want.FinishedAt = got.FinishedAt, got.FinishedAt
		sameOp(t, "finished "+string(st), got, want)
		sameOp(t, "GetOperation after finishing "+string(st), mustGetOp(t, s, id), got)
	}

	mustCreateOp(t, s, sampleOp("bad", "c", "bad"))
	mustClaim(t, s, "o", time.Minute)
	for _, st := range []api.OperationState{"", api.Queued, api.Running, "done"} {
		_, err := s.FinishOperation(ctx(t), "bad", "o", store.Finish{State: st})
		wantErr(t, fmt.Sprintf("FinishOperation with state %q", st), err, store.ErrInvalid)
	}
	// Error strings that SQL text cannot hold are cleaned, not refused: the operation must be able to end.
	got, err := s.FinishOperation(ctx(t), "bad", "o", store.Finish{State: api.Failed,
		ErrorMessage: "helm said \xff\x00 no", ErrorCode: "E\x00"})
	if err != nil {
		t.Fatalf("FinishOperation with an unclean error message: %v", err)
	}
	if got.ErrorMessage != "helm said \uFFFD no" || got.ErrorCode != "E" {
		t.Errorf("cleaned error = %q / %q", got.ErrorCode, got.ErrorMessage)
	}
	sameOp(t, "GetOperation after an unclean error", mustGetOp(t, s, "bad"), got)
}

func testOperationCancel(t *testing.T, s store.Store) {
	q := mustCreateOp(t, s, sampleOp("queued", "c", "r1"))
	before := time.Now()
	got, err := s.CancelOperation(ctx(t), "queued")
	after := time.Now()
	if err != nil {
		t.Fatalf("CancelOperation of a queued operation: %v", err)
	}
	checkTimes(t, "FinishedAt", got.FinishedAt, before, after)
	want := q
	want.State, want.CancelRequested, want.Version = api.Cancelled, true, 2
	want.UpdatedAt, want.FinishedAt = got.FinishedAt, got.FinishedAt
	sameOp(t, "cancelled queued operation", got, want)
	sameOp(t, "GetOperation after cancel", mustGetOp(t, s, "queued"), got)
	wantNoClaim(t, s, "o")

	mustCreateOp(t, s, sampleOp("running", "c", "r2"))
	run := mustClaim(t, s, "o", time.Minute)
	if cancel, err := s.RenewLease(ctx(t), "running", "o", time.Minute); err != nil || cancel {
		t.Fatalf("RenewLease before cancel = %v, %v", cancel, err)
	}
	flagged, err := s.CancelOperation(ctx(t), "running")
	if err != nil {
		t.Fatalf("CancelOperation of a running operation: %v", err)
	}
	if flagged.State != api.Running || !flagged.CancelRequested || flagged.Owner != "o" ||
		!flagged.FinishedAt.IsZero() || flagged.Version != run.Version+2 {
		t.Errorf("cancelled running operation: %s", fmtOp(flagged))
	}
	again, err := s.CancelOperation(ctx(t), "running")
	if err != nil {
		t.Fatalf("second CancelOperation of a running operation: %v", err)
	}
	sameOp(t, "second cancel changes nothing", again, flagged)
	if cancel, err := s.RenewLease(ctx(t), "running", "o", time.Minute); err != nil || !cancel {
		t.Errorf("RenewLease after cancel = %v, %v; want true", cancel, err)
	}
	fin, err := s.FinishOperation(ctx(t), "running", "o", store.Finish{State: api.Cancelled})
	if err != nil {
		t.Fatal(err)
	}

	for _, id := range []string{"queued", "running"} {
		cur := mustGetOp(t, s, id)
		got, err := s.CancelOperation(ctx(t), id)
		wantErr(t, "CancelOperation of a finished operation", err, store.ErrConflict, `"`+id+`"`)
		sameOp(t, "operation returned with ErrConflict", got, cur)
		sameOp(t, "finished operation after a refused cancel", mustGetOp(t, s, id), cur)
	}
	if fin.State != api.Cancelled {
		t.Errorf("finished as %s", fin.State)
	}
	_, err = s.CancelOperation(ctx(t), "absent")
	wantErr(t, "CancelOperation of a missing operation", err, store.ErrNotFound, `"absent"`)
}

func testOperationPrune(t *testing.T, s store.Store) {
	for _, id := range []string{"done", "cancelled", "running", "queued"} {
		mustCreateOp(t, s, sampleOp(id, "c", id))
	}
	mustClaim(t, s, "o", longLease)
	done := mustFinish(t, s, "done", "o")
	cancelled, err := s.CancelOperation(ctx(t), "cancelled")
	if err != nil {
		t.Fatal(err)
	}
	mustClaim(t, s, "o", longLease) // running
	if n, err := s.PruneOperations(ctx(t), done.FinishedAt); err != nil || n != 0 {
		t.Errorf("PruneOperations(before the first finish) = %d, %v; want 0", n, err)
	}
	if n, err := s.PruneOperations(ctx(t), done.FinishedAt.Add(time.Microsecond)); err != nil || n != 1 {
		t.Errorf("PruneOperations(just after the first finish) = %d, %v; want 1", n, err)
	}
	if _, err := s.GetOperation(ctx(t), "done"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pruned operation: %v", err)
	}
	mustGetOp(t, s, "cancelled")
	if !cancelled.FinishedAt.After(done.FinishedAt) {
		t.Fatalf("cancelled at %s, not after done at %s", cancelled.FinishedAt, done.FinishedAt)
	}
	if n, err := s.PruneOperations(ctx(t), time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("PruneOperations(future) = %d, %v; want 1", n, err)
	}
	list, _ := s.ListOperations(ctx(t), store.OperationFilter{})
	wantIDs(t, "operations left after pruning", list, "queued", "running")
}

func testOperationKeptOnClusterDelete(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("c"))
	op := mustCreateOp(t, s, sampleOp("op", "c", "r"))
	if err := s.DeleteCluster(ctx(t), "c"); err != nil {
		t.Fatal(err)
	}
	sameOp(t, "operation after its cluster was deleted", mustGetOp(t, s, "op"), op)
	list, err := s.ListOperations(ctx(t), store.OperationFilter{Cluster: "c"})
	if err != nil || len(list) != 1 {
		t.Errorf("ListOperations of the deleted cluster = %d, %v; want 1", len(list), err)
	}
	// An operation may name a cluster that was never registered (the store does not check).
	mustCreateOp(t, s, sampleOp("op2", "never-registered", "r"))
}

func testOperationInvalidArguments(t *testing.T, s store.Store) {
	bad := func(mut func(*store.Operation)) store.Operation {
		op := sampleOp("ok", "c", "r")
		mut(&op)
		return op
	}
	for _, tc := range []struct {
		name string
		op   store.Operation
		want string
	}{
		{"empty id", bad(func(o *store.Operation) { o.ID = "" }), "operation id"},
		{"nul in id", bad(func(o *store.Operation) { o.ID = "a\x00" }), "operation id"},
		{"empty kind", bad(func(o *store.Operation) { o.Kind = "" }), "kind"},
		{"empty cluster", bad(func(o *store.Operation) { o.Cluster = "" }), "cluster"},
		{"empty release", bad(func(o *store.Operation) { o.Release = "" }), "release"},
		{"invalid utf8 namespace", bad(func(o *store.Operation) { o.Namespace = "\xc3" }), "namespace"},
		{"nul in project", bad(func(o *store.Operation) { o.Project = "p\x00" }), "project"},
		{"nul in idempotency key", bad(func(o *store.Operation) { o.IdempotencyKey = "\x00" }), "idempotency"},
	} {
		_, created, err := s.CreateOperation(ctx(t), tc.op)
		wantErr(t, "CreateOperation "+tc.name, err, store.ErrInvalid, tc.want)
		if created {
			t.Errorf("CreateOperation %s reported created", tc.name)
		}
	}
	if list, _ := s.ListOperations(ctx(t), store.OperationFilter{}); len(list) != 0 {
		t.Errorf("invalid creates stored %d operations", len(list))
	}
	mustCreateOp(t, s, sampleOp("op", "c", "r"))
	_, _, err := s.ClaimOperation(ctx(t), "", time.Minute, 0)
	wantErr(t, "ClaimOperation without an owner", err, store.ErrInvalid, "owner")
	_, _, err = s.ClaimOperation(ctx(t), "o", 0, 0)
	wantErr(t, "ClaimOperation with a zero lease", err, store.ErrInvalid, "lease")
	_, _, err = s.ClaimOperation(ctx(t), "o", -time.Second, 0)
	wantErr(t, "ClaimOperation with a negative lease", err, store.ErrInvalid, "lease")
	mustClaim(t, s, "o", time.Minute)
	_, err = s.RenewLease(ctx(t), "op", "o", 0)
	wantErr(t, "RenewLease with a zero lease", err, store.ErrInvalid, "lease")
	_, err = s.RenewLease(ctx(t), "op", "", time.Minute)
	wantErr(t, "RenewLease without an owner", err, store.ErrInvalid, "owner")
	_, err = s.UpdateProgress(ctx(t), "", "o", nil)
	wantErr(t, "UpdateProgress without an id", err, store.ErrInvalid)
	_, err = s.FinishOperation(ctx(t), "op", "", store.Finish{State: api.Succeeded})
	wantErr(t, "FinishOperation without an owner", err, store.ErrInvalid)
	_, err = s.RecordRevisions(ctx(t), "op", "o", intPtr(-1), 0)
	wantErr(t, "RecordRevisions with a negative base", err, store.ErrInvalid, "base revision")
	_, err = s.RecordRevisions(ctx(t), "op", "o", nil, -2)
	wantErr(t, "RecordRevisions with a negative written revision", err, store.ErrInvalid, "written revision")
	_, err = s.RecordRevisions(ctx(t), "", "o", nil, 1)
	wantErr(t, "RecordRevisions without an id", err, store.ErrInvalid)
	_, err = s.RecordRevisions(ctx(t), "op", "", nil, 1)
	wantErr(t, "RecordRevisions without an owner", err, store.ErrInvalid)
	_, err = s.GetOperation(ctx(t), "")
	wantErr(t, "GetOperation without an id", err, store.ErrInvalid)
	_, err = s.CancelOperation(ctx(t), "")
	wantErr(t, "CancelOperation without an id", err, store.ErrInvalid)
	_, err = s.ListOperations(ctx(t), store.OperationFilter{Cluster: "\xff"})
	wantErr(t, "ListOperations with invalid UTF-8", err, store.ErrInvalid)
	if op := mustGetOp(t, s, "op"); op.State != api.Running || op.Version != 2 {
		t.Errorf("invalid calls changed the operation: %s", fmtOp(op))
	}
}

func testOperationCopies(t *testing.T, s store.Store) {
	in := sampleOp("op", "c", "r")
	req := string(in.Request)
	created := mustCreateOp(t, s, in)
	in.Request[0] ^= 0xFF
	in.Targets[0] ^= 0xFF
	created.Request[1] ^= 0xFF
	got := mustGetOp(t, s, "op")
	if string(got.Request) != req || string(got.Targets) != string(sampleOp("op", "c", "r").Targets) {
		t.Fatalf("stored operation changed through a caller's slice: %s", fmtOp(got))
	}
	got.Request[0] ^= 0xFF
	list, _ := s.ListOperations(ctx(t), store.OperationFilter{})
	list[0].Targets[0] ^= 0xFF
	mustClaim(t, s, "o", time.Minute)
	progress := []byte(`{"p":1}`)
	p, err := s.UpdateProgress(ctx(t), "op", "o", progress)
	if err != nil {
		t.Fatal(err)
	}
	progress[0] = 'X'
	p.Progress[1] = 'Y'
	base := 4
	r, err := s.RecordRevisions(ctx(t), "op", "o", &base, 5)
	if err != nil {
		t.Fatal(err)
	}
	base = 40
	*r.BaseRevision = 41
	if c := r.Clone(); c.BaseRevision == r.BaseRevision {
		t.Error("Operation.Clone shares BaseRevision")
	}
	result := []byte(`{"r":1}`)
	fin, err := s.FinishOperation(ctx(t), "op", "o", store.Finish{State: api.Succeeded, Result: result})
	if err != nil {
		t.Fatal(err)
	}
	result[0] = 'X'
	fin.Result[1] = 'Y'
	if fin.BaseRevision != nil {
		*fin.BaseRevision = 99
	}
	again := mustGetOp(t, s, "op")
	if string(again.Request) != req || string(again.Targets) != string(sampleOp("op", "c", "r").Targets) ||
		string(again.Progress) != `{"p":1}` || string(again.Result) != `{"r":1}` || again.BaseRevision == nil ||
		*again.BaseRevision != 4 {
		t.Fatalf("stored operation changed through a slice: %s", fmtOp(again))
	}
}

func testOperationCanceledContext(t *testing.T, s store.Store) {
	mustCreateOp(t, s, sampleOp("op", "c", "r"))
	mustCreateOp(t, s, sampleOp("q", "c", "r2"))
	mustClaim(t, s, "o", time.Minute)
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"CreateOperation": func() error {
			_, _, err := s.CreateOperation(cctx, sampleOp("new", "c", "r"))
			return err
		},
		"GetOperation": func() error { _, err := s.GetOperation(cctx, "op"); return err },
		"ListOperations": func() error {
			_, err := s.ListOperations(cctx, store.OperationFilter{})
			return err
		},
		"ChangedOperations": func() error { _, err := s.ChangedOperations(cctx, time.Time{}, 0); return err },
		"ClaimOperation":    func() error { _, _, err := s.ClaimOperation(cctx, "o2", time.Minute, 0); return err },
		"RenewLease":        func() error { _, err := s.RenewLease(cctx, "op", "o", time.Minute); return err },
		"UpdateProgress":    func() error { _, err := s.UpdateProgress(cctx, "op", "o", []byte("p")); return err },
		"RecordRevisions":   func() error { _, err := s.RecordRevisions(cctx, "op", "o", intPtr(1), 1); return err },
		"FinishOperation": func() error {
			_, err := s.FinishOperation(cctx, "op", "o", store.Finish{State: api.Succeeded})
			return err
		},
		"CancelOperation": func() error { _, err := s.CancelOperation(cctx, "q"); return err },
		"PruneOperations": func() error { _, err := s.PruneOperations(cctx, time.Now()); return err },
		"Ping":            func() error { return s.Ping(cctx) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: error = %v, want context.Canceled", name, err)
		}
	}
	if op := mustGetOp(t, s, "op"); op.State != api.Running || op.Version != 2 {
		t.Errorf("canceled calls changed the operation: %s", fmtOp(op))
	}
	if op := mustGetOp(t, s, "q"); op.State != api.Queued || op.Version != 1 {
		t.Errorf("canceled calls changed the queued operation: %s", fmtOp(op))
	}
	if _, err := s.GetOperation(ctx(t), "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("canceled CreateOperation stored the operation: %v", err)
	}
}

// ClaimRace is the state shared by concurrent claimers (goroutines or separate stores) of one test: it checks
// that no operation is claimed twice, that no release ever has two operations running, and that each release's
// operations run in the order they were created.
type ClaimRace struct {
	mu       sync.Mutex
	claimed  map[string]string   // operation ID -> owner
	running  map[string]string   // cluster/release -> operation ID
	order    map[string][]string // cluster/release -> operation IDs in claim order
	finished int
	errs     []string
}

// NewClaimRace returns an empty ClaimRace.
func NewClaimRace() *ClaimRace {
	return &ClaimRace{claimed: map[string]string{}, running: map[string]string{}, order: map[string][]string{}}
}

func (r *ClaimRace) fail(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// Worker claims, runs briefly and finishes operations from s as owner until total operations have finished
// (counted over every worker of r) or ctx ends.
func (r *ClaimRace) Worker(ctx context.Context, s store.Store, owner string, total int) {
	for {
		r.mu.Lock()
		done := r.finished >= total
		r.mu.Unlock()
		if done || ctx.Err() != nil {
			return
		}
		op, ok, err := s.ClaimOperation(ctx, owner, time.Minute, 0)
		if err != nil {
			if ctx.Err() == nil {
				r.mu.Lock()
				r.fail("%s: ClaimOperation: %v", owner, err)
				r.mu.Unlock()
			}
			return
		}
		if !ok {
			time.Sleep(time.Millisecond) // polling, as a replica does
			continue
		}
		key := op.Cluster + "/" + op.Release
		r.mu.Lock()
		if prev, dup := r.claimed[op.ID]; dup {
			r.fail("operation %s claimed by %s and again by %s", op.ID, prev, owner)
		}
		r.claimed[op.ID] = owner
		if other, busy := r.running[key]; busy {
			r.fail("release %s: %s claimed by %s while %s was running", key, op.ID, owner, other)
		}
		r.running[key] = op.ID
		r.order[key] = append(r.order[key], op.ID)
		r.mu.Unlock()
		if op.Attempts != 1 || op.State != api.Running || op.Owner != owner {
			r.mu.Lock()
			r.fail("claimed operation %s", fmtOp(op))
			r.mu.Unlock()
		}
		_, perr := s.UpdateProgress(ctx, op.ID, owner, []byte(`{"running":true}`))
		time.Sleep(time.Millisecond) // run briefly, so that overlaps would show
		r.mu.Lock()
		delete(r.running, key) // before the store lets the release go, so a correct store never trips the check
		r.mu.Unlock()
		_, ferr := s.FinishOperation(ctx, op.ID, owner, store.Finish{State: api.Succeeded})
		r.mu.Lock()
		if perr != nil || ferr != nil {
			r.fail("%s on %s: progress %v, finish %v", owner, op.ID, perr, ferr)
		}
		r.finished++
		r.mu.Unlock()
	}
}

// Check reports the violations seen and checks that every one of ops was claimed once, in creation order
// within its release, and has succeeded in s.
func (r *ClaimRace) Check(t *testing.T, s store.Store, ops []store.Operation) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.errs {
		t.Error(e)
	}
	want := map[string][]string{}
	for _, op := range ops {
		key := op.Cluster + "/" + op.Release
		want[key] = append(want[key], op.ID)
		if _, ok := r.claimed[op.ID]; !ok {
			t.Errorf("operation %s was never claimed", op.ID)
		}
		got, err := s.GetOperation(context.Background(), op.ID)
		if err != nil || got.State != api.Succeeded || got.Attempts != 1 {
			t.Errorf("operation %s at the end: %s, %v", op.ID, fmtOp(got), err)
		}
	}
	if len(r.claimed) != len(ops) {
		t.Errorf("%d operations claimed, want %d", len(r.claimed), len(ops))
	}
	for key, ids := range want {
		if !slices.Equal(r.order[key], ids) {
			t.Errorf("release %s ran %v, want creation order %v", key, r.order[key], ids)
		}
	}
}

// CreateClaimWork creates n queued operations spread round-robin over releases releases of cluster "c", with
// IDs in creation order, and returns them.
func CreateClaimWork(t *testing.T, s store.Store, n, releases int) []store.Operation {
	t.Helper()
	var ops []store.Operation
	for i := range n {
		ops = append(ops, mustCreateOp(t, s, store.Operation{ID: fmt.Sprintf("op-%03d", i), Kind: "upgrade",
			Cluster: "c", Release: fmt.Sprintf("rel-%d", i%releases), Request: []byte("req")}))
	}
	return ops
}

func testOperationConcurrentClaims(t *testing.T, s store.Store) {
	RunClaimRace(t, []store.Store{s}, 8, 40, 5)
	wantNoClaim(t, s, "late")
}

// RunClaimRace creates n operations spread over releases releases (CreateClaimWork) and has workers workers
// claim, run and finish them through the stores in turn (Stores on one database, as replicas would be), then
// checks the race (ClaimRace.Check).
func RunClaimRace(t *testing.T, stores []store.Store, workers, n, releases int) {
	t.Helper()
	ops := CreateClaimWork(t, stores[0], n, releases)
	race := NewClaimRace()
	cctx, cancel := context.WithTimeout(ctx(t), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		s := stores[w%len(stores)]
		wg.Go(func() { race.Worker(cctx, s, fmt.Sprintf("store-%d-worker-%d", w%len(stores), w), n) })
	}
	wg.Wait()
	if cctx.Err() != nil {
		t.Fatalf("workers did not finish the %d operations in time", n)
	}
	race.Check(t, stores[len(stores)-1], ops)
}

// SecondRunning is the check of the schema's backstop: it queues two operations of one release in s, claims the
// first and returns the error of exec making the second running with plain SQL, which the caller checks is a
// unique violation; the claim logic is not the only guard.
func SecondRunning(t *testing.T, s store.Store, exec func(query string) error) error {
	t.Helper()
	for _, id := range []string{"a", "b"} {
		mustCreateOp(t, s, store.Operation{ID: id, Kind: "k", Cluster: "c", Release: "r"})
	}
	mustClaim(t, s, "o", time.Minute)
	return exec(`UPDATE operations SET state = 'running' WHERE id = 'b'`)
}
