package helm

import (
	"errors"
	"fmt"
	"log/slog"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/release"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/kdu-io/kdu/internal/engine"
)

// observingDriver wraps the storage driver of one operation's Helm configuration, so that kdu learns what Helm
// records rather than guessing it afterwards: each revision is reported before Helm creates or updates it (a
// process that dies right after has already told), and after Helm deletes it. Reads pass through.
type observingDriver struct {
	driver.Driver
	observe engine.Observer
	log     *slog.Logger
}

// observe makes cfg report to o what its actions record. It reads the release's last revision directly from
// the cluster (not from a watch cache) and reports it as the Base; an error of o there is returned, and the
// operation must not go on.
func observe(cfg *action.Configuration, name string, o engine.Observer, log *slog.Logger) error {
	if o == nil {
		return nil
	}
	base := engine.Observation{Event: engine.Base}
	last, err := cfg.Releases.Last(name)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
	case err != nil:
		return fmt.Errorf("reading the last revision of %s: %w", name, classify(err))
	default:
		if rel, ok := last.(*rspb.Release); ok {
			base.Revision = rel.Version
			base.State = engine.State(rel.Info.Status)
		}
	}
	if err := o(base); err != nil {
		return fmt.Errorf("recording the revision %s starts from: %w", name, err)
	}
	cfg.Releases.Driver = &observingDriver{Driver: cfg.Releases.Driver, observe: o, log: log}
	return nil
}

func (d *observingDriver) notify(ev engine.ObservedEvent, rls release.Releaser) {
	rel, ok := rls.(*rspb.Release)
	if !ok || rel == nil {
		return
	}
	var state engine.State
	if rel.Info != nil {
		state = engine.State(rel.Info.Status)
	}
	if err := d.observe(engine.Observation{Event: ev, Revision: rel.Version, State: state}); err != nil {
		d.log.Warn("recording a revision Helm writes", "release", rel.Name, "revision", rel.Version, "err", err)
	}
}

// Create implements driver.Driver.
func (d *observingDriver) Create(key string, rls release.Releaser) error {
	d.notify(engine.Write, rls)
	return d.Driver.Create(key, rls)
}

// Update implements driver.Driver.
func (d *observingDriver) Update(key string, rls release.Releaser) error {
	d.notify(engine.Write, rls)
	return d.Driver.Update(key, rls)
}

// Delete implements driver.Driver.
func (d *observingDriver) Delete(key string) (release.Releaser, error) {
	rls, err := d.Driver.Delete(key)
	if err == nil {
		d.notify(engine.Delete, rls)
	}
	return rls, err
}
