package ops

import (
	"fmt"

	"github.com/kdu-io/kdu/api"
)

// Crash recovery decides what an interrupted operation did from what Helm recorded, never from clocks: the
// revision the operation started from (its base, recorded before it acted), the highest revision it was about
// to write (recorded before each write), and the release's newest revision and state now. decide is that
// decision, as a table; the README's "Restart safety" rules mirror it row by row, and decide_test.go has a
// test per row.

// current is the release's newest revision as recovery finds it.
type current struct {
	Revision int
	State    api.ReleaseState
}

// verdict is what recovery does with an interrupted operation.
type verdict int

const (
	// rerun: the operation never changed anything; run it now.
	rerun verdict = iota + 1
	// succeed: the operation completed; the release as it is now is its result.
	succeed
	// fail: the operation was cut short or failed; it ends failed with code interrupted, after the repair.
	fail
)

// repair is what recovery does to the release before recording the operation failed.
type repair int

const (
	noRepair repair = iota
	// uninstall the release: an atomic install's rollback, or the rest of an uninstall that was cut short.
	uninstallRelease
	// roll back to the base revision: an atomic upgrade's or scale's rollback.
	rollbackToBase
)

// decision is one row of the table.
type decision struct {
	verdict verdict
	// unlock marks the pending revision failed first (Helm refuses every later operation until then).
	unlock bool
	repair repair
	// why explains the row; it becomes the operation's error message (verdict fail) or a log line.
	why string
}

func (d decision) String() string {
	return fmt.Sprintf("verdict %d unlock %v repair %d: %s", d.verdict, d.unlock, d.repair, d.why)
}

// decide is the recovery table. base is the revision the operation started from (nil: not recorded, so the
// operation never reached its engine; 0: there was no release), written the highest revision it was about to
// write (0: none), cur the release now (nil: there is none).
func decide(kind string, atomic bool, base *int, written int, cur *current) decision {
	if base == nil {
		return decision{verdict: rerun, why: "the operation had not reached the cluster"}
	}
	if kind == api.KindUninstall {
		if cur == nil {
			return decision{verdict: succeed, why: "the release is gone: the uninstall completed"}
		}
		return decision{verdict: rerun, why: fmt.Sprintf("the release is %s at revision %d: the uninstall runs again", cur.State, cur.Revision)}
	}
	b := *base
	if cur == nil {
		switch {
		case kind == api.KindInstall && written == 0:
			return decision{verdict: rerun, why: "the install had written nothing"}
		case kind == api.KindInstall:
			return decision{verdict: fail, why: fmt.Sprintf("the install had written revision %d and the release is gone: it failed and was rolled back", written)}
		}
		return decision{verdict: fail, why: fmt.Sprintf("the release is gone (it was at revision %d)", b)}
	}
	l, st := cur.Revision, cur.State
	if l == b && kind != api.KindInstall {
		return decision{verdict: rerun, why: fmt.Sprintf("the release is still at revision %d: the %s had written nothing", b, kind)}
	}
	if l <= b || written < l {
		if kind == api.KindInstall {
			return decision{verdict: rerun, why: fmt.Sprintf("revision %d was not written by this install", l)}
		}
		return decision{verdict: fail, why: fmt.Sprintf("the release moved to revision %d (%s) without this operation", l, st)}
	}
	// From here on, revision l was written by this operation.
	if st.IsPending() {
		d := decision{verdict: fail, unlock: true, why: fmt.Sprintf("its process stopped during the Helm action; revision %d was left %s and is now marked failed", l, st)}
		if atomic {
			switch kind {
			case api.KindInstall:
				d.repair = uninstallRelease
			case api.KindUpgrade, api.KindScale, api.KindMigrate:
				d.repair = rollbackToBase
			}
		}
		return d
	}
	switch kind {
	case api.KindInstall:
		switch st {
		case api.ReleaseDeployed:
			return decision{verdict: succeed, why: fmt.Sprintf("the install completed: revision %d is deployed", l)}
		case api.ReleaseFailed:
			d := decision{verdict: fail, why: fmt.Sprintf("the install failed: revision %d is failed", l)}
			if atomic {
				d.repair = uninstallRelease
			}
			return d
		case api.ReleaseUninstalling:
			return decision{verdict: fail, repair: uninstallRelease, why: "the install failed and its rollback was uninstalling the release"}
		}
	case api.KindUpgrade, api.KindScale, api.KindMigrate:
		switch {
		case l == b+1 && st == api.ReleaseDeployed:
			return decision{verdict: succeed, why: fmt.Sprintf("the %s completed: revision %d is deployed", kind, l)}
		case l == b+1 && st == api.ReleaseFailed:
			d := decision{verdict: fail, why: fmt.Sprintf("the %s failed: revision %d is failed", kind, l)}
			if atomic {
				d.repair = rollbackToBase
			}
			return d
		case l == b+2 && atomic && st == api.ReleaseDeployed:
			return decision{verdict: fail, why: fmt.Sprintf("the %s failed and was rolled back to revision %d (now revision %d)", kind, b, l)}
		case l == b+2 && atomic && st == api.ReleaseFailed:
			return decision{verdict: fail, why: fmt.Sprintf("the %s failed and its rollback to revision %d failed too (revision %d)", kind, b, l)}
		}
	case api.KindRollback:
		switch {
		case l == b+1 && st == api.ReleaseDeployed:
			return decision{verdict: succeed, why: fmt.Sprintf("the rollback completed: revision %d is deployed", l)}
		case l == b+1 && st == api.ReleaseFailed:
			return decision{verdict: fail, why: fmt.Sprintf("the rollback failed: revision %d is failed", l)}
		}
	}
	return decision{verdict: fail, why: fmt.Sprintf("the release is %s at revision %d", st, l)}
}
