package ops

import (
	"strings"
	"testing"

	"github.com/kdu-io/kdu/api"
)

func rev(n int) *int { return &n }

func rel(revision int, state api.ReleaseState) *current {
	return &current{Revision: revision, State: state}
}

// TestDecide has one case per row of the recovery table (decide.go; README, "Restart safety").
func TestDecide(t *testing.T) {
	const (
		install   = api.KindInstall
		upgrade   = api.KindUpgrade
		scale     = api.KindScale
		rollback  = api.KindRollback
		uninstall = api.KindUninstall
	)
	tests := []struct {
		name    string
		kind    string
		atomic  bool
		base    *int
		written int
		cur     *current
		want    decision
		why     string // a part of the explanation
	}{
		// Any kind.
		{name: "no base recorded: never reached the engine", kind: upgrade, base: nil, cur: rel(3, api.ReleaseDeployed),
			want: decision{verdict: rerun}, why: "had not reached the cluster"},
		{name: "no base recorded, install", kind: install, base: nil, cur: nil, want: decision{verdict: rerun}},

		// Uninstall.
		{name: "uninstall: release gone", kind: uninstall, base: rev(2), cur: nil, want: decision{verdict: succeed}, why: "completed"},
		{name: "uninstall: left uninstalling", kind: uninstall, base: rev(2), cur: rel(2, api.ReleaseUninstalling),
			want: decision{verdict: rerun}, why: "runs again"},
		{name: "uninstall: untouched", kind: uninstall, base: rev(2), cur: rel(2, api.ReleaseDeployed), want: decision{verdict: rerun}},

		// Install.
		{name: "install: nothing written, no release", kind: install, base: rev(0), cur: nil, want: decision{verdict: rerun}},
		{name: "install: written, release gone (rolled back)", kind: install, atomic: true, base: rev(0), written: 1, cur: nil,
			want: decision{verdict: fail}, why: "rolled back"},
		{name: "install: a release it did not write", kind: install, base: rev(0), written: 0, cur: rel(1, api.ReleaseDeployed),
			want: decision{verdict: rerun}, why: "not written by this install"},
		{name: "install: pending-install, atomic", kind: install, atomic: true, base: rev(0), written: 1, cur: rel(1, api.ReleasePendingInstall),
			want: decision{verdict: fail, unlock: true, repair: uninstallRelease}, why: "left pending-install"},
		{name: "install: pending-install, not atomic", kind: install, base: rev(0), written: 1, cur: rel(1, api.ReleasePendingInstall),
			want: decision{verdict: fail, unlock: true}},
		{name: "install: deployed", kind: install, base: rev(0), written: 1, cur: rel(1, api.ReleaseDeployed),
			want: decision{verdict: succeed}, why: "revision 1 is deployed"},
		{name: "install: failed, atomic", kind: install, atomic: true, base: rev(0), written: 1, cur: rel(1, api.ReleaseFailed),
			want: decision{verdict: fail, repair: uninstallRelease}},
		{name: "install: failed, not atomic", kind: install, base: rev(0), written: 1, cur: rel(1, api.ReleaseFailed),
			want: decision{verdict: fail}, why: "the install failed"},
		{name: "install: its atomic rollback left it uninstalling", kind: install, atomic: true, base: rev(0), written: 1,
			cur: rel(1, api.ReleaseUninstalling), want: decision{verdict: fail, repair: uninstallRelease}, why: "uninstalling"},
		{name: "install: another state", kind: install, base: rev(0), written: 1, cur: rel(1, api.ReleaseSuperseded),
			want: decision{verdict: fail}, why: "superseded at revision 1"},

		// Upgrade and scale.
		{name: "upgrade: release gone", kind: upgrade, base: rev(3), written: 4, cur: nil, want: decision{verdict: fail}, why: "gone"},
		{name: "upgrade: still at the base", kind: upgrade, base: rev(3), cur: rel(3, api.ReleaseDeployed),
			want: decision{verdict: rerun}, why: "written nothing"},
		{name: "upgrade: moved on without it", kind: upgrade, base: rev(3), written: 0, cur: rel(4, api.ReleaseDeployed),
			want: decision{verdict: fail}, why: "without this operation"},
		{name: "upgrade: older than its base", kind: upgrade, base: rev(3), written: 0, cur: rel(2, api.ReleaseDeployed),
			want: decision{verdict: fail}, why: "without this operation"},
		{name: "upgrade: pending-upgrade, atomic", kind: upgrade, atomic: true, base: rev(3), written: 4, cur: rel(4, api.ReleasePendingUpgrade),
			want: decision{verdict: fail, unlock: true, repair: rollbackToBase}},
		{name: "scale: pending-upgrade, atomic", kind: scale, atomic: true, base: rev(3), written: 4, cur: rel(4, api.ReleasePendingUpgrade),
			want: decision{verdict: fail, unlock: true, repair: rollbackToBase}},
		{name: "upgrade: pending-upgrade, not atomic", kind: upgrade, base: rev(3), written: 4, cur: rel(4, api.ReleasePendingUpgrade),
			want: decision{verdict: fail, unlock: true}},
		{name: "upgrade: its atomic rollback left pending-rollback", kind: upgrade, atomic: true, base: rev(3), written: 5,
			cur: rel(5, api.ReleasePendingRollback), want: decision{verdict: fail, unlock: true, repair: rollbackToBase}},
		{name: "upgrade: deployed", kind: upgrade, base: rev(3), written: 4, cur: rel(4, api.ReleaseDeployed),
			want: decision{verdict: succeed}},
		{name: "migrate: pending-upgrade", kind: api.KindMigrate, atomic: true, base: rev(3), written: 4, cur: rel(4, api.ReleasePendingUpgrade),
			want: decision{verdict: fail, unlock: true, repair: rollbackToBase}},
		{name: "migrate: failed and rolled back", kind: api.KindMigrate, atomic: true, base: rev(3), written: 5, cur: rel(5, api.ReleaseDeployed),
			want: decision{verdict: fail}, why: "rolled back to revision 3"},
		{name: "scale: deployed", kind: scale, atomic: true, base: rev(3), written: 4, cur: rel(4, api.ReleaseDeployed),
			want: decision{verdict: succeed}},
		{name: "upgrade: failed, atomic", kind: upgrade, atomic: true, base: rev(3), written: 4, cur: rel(4, api.ReleaseFailed),
			want: decision{verdict: fail, repair: rollbackToBase}},
		{name: "upgrade: failed, not atomic", kind: upgrade, base: rev(3), written: 4, cur: rel(4, api.ReleaseFailed),
			want: decision{verdict: fail}},
		{name: "upgrade: failed and rolled back", kind: upgrade, atomic: true, base: rev(3), written: 5, cur: rel(5, api.ReleaseDeployed),
			want: decision{verdict: fail}, why: "rolled back to revision 3"},
		{name: "upgrade: failed and its rollback failed", kind: upgrade, atomic: true, base: rev(3), written: 5, cur: rel(5, api.ReleaseFailed),
			want: decision{verdict: fail}, why: "failed too"},
		{name: "upgrade: two revisions on, not atomic", kind: upgrade, base: rev(3), written: 5, cur: rel(5, api.ReleaseDeployed),
			want: decision{verdict: fail}, why: "deployed at revision 5"},
		{name: "upgrade: uninstalling", kind: upgrade, base: rev(3), written: 4, cur: rel(4, api.ReleaseUninstalling),
			want: decision{verdict: fail}, why: "uninstalling"},

		// Rollback.
		{name: "rollback: release gone", kind: rollback, base: rev(3), written: 4, cur: nil, want: decision{verdict: fail}},
		{name: "rollback: still at the base", kind: rollback, base: rev(3), cur: rel(3, api.ReleaseDeployed), want: decision{verdict: rerun}},
		{name: "rollback: moved on without it", kind: rollback, base: rev(3), written: 0, cur: rel(4, api.ReleaseDeployed),
			want: decision{verdict: fail}},
		{name: "rollback: pending-rollback", kind: rollback, base: rev(3), written: 4, cur: rel(4, api.ReleasePendingRollback),
			want: decision{verdict: fail, unlock: true}},
		{name: "rollback: deployed", kind: rollback, base: rev(3), written: 4, cur: rel(4, api.ReleaseDeployed),
			want: decision{verdict: succeed}},
		{name: "rollback: failed", kind: rollback, base: rev(3), written: 4, cur: rel(4, api.ReleaseFailed),
			want: decision{verdict: fail}, why: "the rollback failed"},
		{name: "rollback: another state", kind: rollback, base: rev(3), written: 5, cur: rel(5, api.ReleaseDeployed),
			want: decision{verdict: fail}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decide(tt.kind, tt.atomic, tt.base, tt.written, tt.cur)
			if got.verdict != tt.want.verdict || got.unlock != tt.want.unlock || got.repair != tt.want.repair {
				t.Fatalf("decide = %v\nwant verdict %d unlock %v repair %d", got, tt.want.verdict, tt.want.unlock, tt.want.repair)
			}
			if got.why == "" || !strings.Contains(got.why, tt.why) {
				t.Fatalf("why = %q, want it to contain %q", got.why, tt.why)
			}
		})
	}
}

// FuzzDecide checks that every input gets a decision, and that a repair is only chosen for an atomic
// operation's failure or an uninstall cut short.
func FuzzDecide(f *testing.F) {
	f.Add("upgrade", true, 3, true, 5, 5, "pending-rollback", true)
	f.Add("install", false, 0, true, 1, 1, "uninstalling", true)
	f.Add("scale", true, 3, true, 4, 4, "failed", true)
	f.Add("rollback", false, 2, true, 0, 2, "deployed", true)
	f.Fuzz(func(t *testing.T, kind string, atomic bool, base int, hasBase bool, written, l int, state string, exists bool) {
		var b *int
		if hasBase {
			b = &base
		}
		var cur *current
		if exists {
			cur = &current{Revision: l, State: api.ReleaseState(state)}
		}
		d := decide(kind, atomic, b, written, cur)
		if d.verdict < rerun || d.verdict > fail || d.why == "" {
			t.Fatalf("decide gave %v", d)
		}
		if d.repair == rollbackToBase && (!atomic || b == nil) {
			t.Fatalf("rollback chosen for a non-atomic operation or without a base: %v", d)
		}
		if d.repair == uninstallRelease && kind != api.KindInstall {
			t.Fatalf("uninstall chosen for a %s: %v", kind, d)
		}
		if d.verdict != fail && (d.unlock || d.repair != noRepair) {
			t.Fatalf("repair without failing: %v", d)
		}
	})
}
