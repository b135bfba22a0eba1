package helm

import (
	"errors"
	"fmt"
	"testing"

	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/kdu-io/kdu/internal/engine"
)

// Helm's storage sentinels are recognised however Helm wraps them, by errors.Is rather than by their text.
func TestClassifyMatchesHelmSentinels(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"not found, wrapped", fmt.Errorf("uninstall: Release not loaded: web: %w", driver.ErrReleaseNotFound), engine.ErrReleaseNotFound},
		{"no deployed releases", driver.NewErrNoDeployedReleases("web"), engine.ErrReleaseNotFound},
		{"pending", errors.New("another operation (install/upgrade/rollback) is in progress"), engine.ErrPending},
		{"in use", errors.New("cannot reuse a name that is still in use"), engine.ErrReleaseExists},
	} {
		got := classify(c.err)
		if !errors.Is(got, c.want) || !errors.Is(got, c.err) {
			t.Errorf("%s: classify(%v) = %v, want it to wrap %v and the cause", c.name, c.err, got, c.want)
		}
	}
	// A message that merely mentions the sentinel's text is not that error.
	if got := classify(errors.New(`values: "release: not found" is not a value`)); errors.Is(got, engine.ErrReleaseNotFound) {
		t.Errorf("a look-alike text classified as not found: %v", got)
	}
}
