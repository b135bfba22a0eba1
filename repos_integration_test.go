package kdu_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
)

func TestRepositories(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	repo := chartrepotest.New(t, webapp(t), "", "")

	r, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "local", URL: repo.URL})
	if err != nil || r.Name != "local" || r.URL != repo.URL || r.Type != "http" {
		t.Fatalf("add repo: %v %+v", err, r)
	}
	if _, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "local", URL: repo.URL}); !errors.Is(err, kdu.ErrExists) {
		t.Fatalf("second add: %v, want ErrExists", err)
	}
	repos, err := e.m.Repos(e.ctx, clusterID)
	if err != nil || len(repos) != 1 {
		t.Fatalf("repos: %v %+v", err, repos)
	}
	ups, err := e.m.UpdateRepos(e.ctx, clusterID)
	if err != nil || len(ups) != 1 || ups[0].Charts != 1 || ups[0].Versions != 2 || ups[0].Error != "" {
		t.Fatalf("update: %v %+v", err, ups)
	}

	// install repo/chart:version, then upgrade to the latest version from the same repository.
	rel, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "fromrepo", Chart: "local/webapp:0.1.0", Namespace: e.ns,
		Wait: kdu.Wait{Wait: true, Timeout: time.Minute}})
	if err != nil || rel.ChartVersion != "0.1.0" {
		t.Fatalf("install from repo: %v %+v", err, rel)
	}
	up, err := e.m.Upgrade(e.ctx, e.target("fromrepo"), kdu.UpgradeOptions{Chart: "local/webapp"})
	if err != nil || up.ChartVersion != "0.2.0" || up.Revision != 2 {
		t.Fatalf("upgrade to latest: %v %+v", err, up)
	}
	if _, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "nover", Chart: "local/webapp", Version: "9.9.9", Namespace: e.ns}); !errors.Is(err, kdu.ErrNotFound) ||
		!strings.Contains(err.Error(), "9.9.9") {
		t.Fatalf("missing version: %v", err)
	}

	// A plain URL and a bare name with --repo.
	rel, err = e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "fromurl", Chart: repo.URL + "/charts/webapp-0.2.0.tgz", Namespace: e.ns})
	if err != nil || rel.ChartVersion != "0.2.0" {
		t.Fatalf("install from URL: %v %+v", err, rel)
	}
	rel, err = e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "bare", Chart: "webapp", Version: "0.1.0", RepoURL: repo.URL, Namespace: e.ns})
	if err != nil || rel.ChartVersion != "0.1.0" {
		t.Fatalf("install bare name with repo URL: %v %+v", err, rel)
	}

	info, err := e.m.ShowChart(e.ctx, kdu.ShowOptions{Cluster: clusterID, Chart: "local/webapp:0.2.0"})
	if err != nil || info.Metadata.Version != "0.2.0" || !strings.Contains(info.Values, "replicaCount: 1") ||
		!strings.Contains(info.Readme, "# webapp") {
		t.Fatalf("show chart from repo: %v %+v", err, info)
	}

	if err := e.m.RemoveRepo(e.ctx, clusterID, "local"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "after", Chart: "local/webapp", Namespace: e.ns}); !errors.Is(err, kdu.ErrInvalid) {
		t.Fatalf("install from a removed repo: %v", err)
	}
	if err := e.m.RemoveRepo(e.ctx, clusterID, "local"); !errors.Is(err, kdu.ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}

	// Bad repositories are not stored.
	for _, spec := range []kdu.RepoSpec{
		{Name: "dead", URL: "http://127.0.0.1:1"},
		{Name: "notrepo", URL: repo.URL + "/nothing-here"},
		{Name: "bad name!", URL: repo.URL},
		{Name: "ftp", URL: "ftp://127.0.0.1/charts"},
		{Name: "creds", URL: "http://user:secret@127.0.0.1/"},
	} {
		if _, err := e.m.AddRepo(e.ctx, clusterID, spec); !errors.Is(err, kdu.ErrInvalid) {
			t.Fatalf("add repo %+v: %v, want ErrInvalid", spec, err)
		} else if strings.Contains(err.Error(), "secret") {
			t.Fatalf("error leaks the URL's password: %v", err)
		}
	}
	if repos, _ := e.m.Repos(e.ctx, clusterID); len(repos) != 0 {
		t.Fatalf("rejected repositories were stored: %+v", repos)
	}
}

func TestRepositoryWithBasicAuth(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	repo := chartrepotest.New(t, webapp(t), "kdu", "s3cret-pass")
	if _, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "private", URL: repo.URL, Username: "kdu", Password: "wrong"}); !errors.Is(err, kdu.ErrInvalid) ||
		!strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: %v, want an error saying 401", err)
	}
	r, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "private", URL: repo.URL, Username: "kdu", Password: "s3cret-pass"})
	if err != nil || r.Username != "kdu" {
		t.Fatalf("add with credentials: %v %+v", err, r)
	}
	// A new Manager over the same data directory reads the (encrypted) password back to fetch the chart.
	m2, err := kdu.Open(e.ctx, kdu.Options{DataDir: e.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if _, err := m2.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "priv", Chart: "private/webapp:0.2.0", Namespace: e.ns}); err != nil {
		t.Fatalf("install from a private repository: %v", err)
	}
	db, err := os.ReadFile(filepath.Join(e.dir, "kdu.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte("s3cret-pass")) {
		t.Fatal("repository password stored in plaintext")
	}
}

func TestMaxHistory(t *testing.T) {
	e := newEnv(t, kdu.Options{MaxHistory: 3})
	e.install("hist", kdu.InstallOptions{})
	for i := range 4 {
		if _, err := e.m.Upgrade(e.ctx, e.target("hist"), kdu.UpgradeOptions{Values: kdu.Values{Set: []string{fmt.Sprintf("message=m%d", i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := e.m.History(e.ctx, e.target("hist"))
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[0].Revision != 3 || h[2].Revision != 5 {
		t.Fatalf("history with MaxHistory 3: %+v", h)
	}
}
