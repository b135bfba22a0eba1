package tiller

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kdu-io/kdu/internal/engine"
	hapichart "github.com/kdu-io/kdu/internal/helm2/hapi/chart"
	"github.com/kdu-io/kdu/internal/helm2/hapi/release"
)

func TestClassify(t *testing.T) {
	e := New(nil, Options{})
	for _, tc := range []struct {
		msg  string
		want error
	}{
		{`release: "app" not found`, engine.ErrReleaseNotFound},
		{`a release named app already exists.`, engine.ErrReleaseExists},
		{`cannot re-use a name that is still in use`, engine.ErrReleaseExists},
		{`release app failed: timed out waiting for the condition`, engine.ErrTimeout},
		{`incompatible versions client[v3.0.0] server[v2.17.0]`, engine.ErrTillerUnavailable},
		{`rpc error: another operation (install/upgrade/rollback) is in progress`, engine.ErrPending},
	} {
		err := e.classify(status.Error(codes.Unknown, tc.msg), "app")
		if !errors.Is(err, tc.want) {
			t.Errorf("%q: got %v, want %v", tc.msg, err, tc.want)
		}
	}
	if err := e.classify(status.Error(codes.Unknown, "render error in template"), "app"); err == nil ||
		errors.Is(err, engine.ErrReleaseNotFound) || errors.Is(err, engine.ErrTillerUnavailable) {
		t.Fatalf("an unclassified Tiller error: %v", err)
	}
}

func TestToRelease(t *testing.T) {
	first := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := toRelease(&release.Release{Name: "app", Namespace: "ns", Version: 3,
		Chart: &hapichart.Chart{Metadata: &hapichart.Metadata{Name: "webapp", Version: "0.1.0", AppVersion: "1.0"}},
		Info: &release.Info{Status: &release.Status{Code: release.Status_PENDING_UPGRADE}, Description: "Upgrade",
			FirstDeployed: timestamppb.New(first), LastDeployed: timestamppb.New(first.Add(time.Hour))}})
	if r.Name != "app" || r.Namespace != "ns" || r.Revision != 3 || r.State != engine.StatePendingUpgrade ||
		r.Chart != "webapp-0.1.0" || r.AppVersion != "1.0" || !r.FirstDeployed.Equal(first) || !r.Updated.Equal(first.Add(time.Hour)) {
		t.Fatalf("toRelease: %+v", r)
	}
	for code, want := range states {
		if got := toRelease(&release.Release{Info: &release.Info{Status: &release.Status{Code: code}}}).State; got != want {
			t.Errorf("%v: %s, want %s", code, got, want)
		}
	}
	if got := toRelease(&release.Release{}).State; got != engine.StateUnknown {
		t.Errorf("no info: %s", got)
	}
}

func TestValuesConfig(t *testing.T) {
	cfg, err := valuesConfig(nil)
	if err != nil || cfg.Raw != "{}\n" {
		t.Fatalf("empty values: %v %q", err, cfg.Raw)
	}
	cfg, err = valuesConfig(map[string]any{"a": map[string]any{"b": 1}})
	if err != nil || cfg.Raw != "a:\n  b: 1\n" {
		t.Fatalf("values: %v %q", err, cfg.Raw)
	}
}

func TestTimeoutSeconds(t *testing.T) {
	e := New(nil, Options{DefaultTimeout: 90 * time.Second})
	for in, want := range map[time.Duration]int64{0: 90, 500 * time.Millisecond: 1, 3 * time.Minute: 180} {
		if got := e.timeoutSeconds(in); got != want {
			t.Errorf("timeoutSeconds(%s) = %d, want %d", in, got, want)
		}
	}
}

func TestPostRenderRefused(t *testing.T) {
	if err := noPostRender(engine.PostRender{}); err != nil {
		t.Fatalf("no settings: %v", err)
	}
	if err := noPostRender(engine.PostRender{PodLabels: map[string]string{}}); err != nil {
		t.Fatalf("an empty map (clear) changes nothing on Tiller: %v", err)
	}
	for _, p := range []engine.PostRender{{PodLabels: map[string]string{"a": "b"}}, {NodeSelector: map[string]string{"a": "b"}}} {
		if err := noPostRender(p); !errors.Is(err, engine.ErrUnsupported) {
			t.Errorf("noPostRender(%+v) = %v, want ErrUnsupported", p, err)
		}
	}
}
