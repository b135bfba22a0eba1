package sqlite

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store"
	"github.com/kdu-io/kdu/internal/store/storetest"
)

const (
	requestMarker = "PLAINTEXT-REQUEST-VALUES-MARKER-91ab"
	targetsMarker = "PLAINTEXT-TARGET-TOKEN-MARKER-77cd"
)

func seedOp(t *testing.T, s *Store, id string) {
	t.Helper()
	_, _, err := s.CreateOperation(t.Context(), store.Operation{ID: id, Kind: "install", Cluster: "c",
		Release: "r-" + id, Request: []byte(`{"values":"` + requestMarker + `"}`),
		Targets: []byte(`[{"url":"https://h.example/?token=` + targetsMarker + `"}]`)})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOperationSecretsAtRest(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), DBFileName), testBox(t, 1))
	defer s.Close()
	seedOp(t, s, "op1")
	var req, tgt []byte
	if err := s.DB().QueryRow(`SELECT request_enc, targets_enc FROM operations WHERE id = 'op1'`).Scan(&req, &tgt); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(req), requestMarker) || strings.Contains(string(tgt), targetsMarker) {
		t.Error("request or targets stored in plaintext")
	}
	if req[0] != secret.Version1 || tgt[0] != secret.Version1 {
		t.Error("request or targets are not secret.Box ciphertexts")
	}
	// No payload: NULL, not a sealed empty string.
	if _, _, err := s.CreateOperation(t.Context(), store.Operation{ID: "bare", Kind: "k", Cluster: "c", Release: "r"}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.DB().QueryRow(`SELECT COUNT(*) FROM operations WHERE id = 'bare' AND request_enc IS NULL AND targets_enc IS NULL`).Scan(&n); err != nil || n != 1 {
		t.Errorf("operation without payloads: %d rows with NULL secrets, %v", n, err)
	}

	// A ciphertext moved to another row, or to the other column, does not open.
	seedOp(t, s, "op2")
	for _, q := range []string{
		`UPDATE operations SET request_enc = (SELECT request_enc FROM operations WHERE id = 'op1') WHERE id = 'op2'`,
		`UPDATE operations SET targets_enc = (SELECT request_enc FROM operations WHERE id = 'op2') WHERE id = 'op2'`,
	} {
		seedOp(t, s, "victim")
		if _, err := s.DB().Exec(strings.ReplaceAll(q, "op2", "victim")); err != nil {
			t.Fatal(err)
		}
		_, err := s.GetOperation(t.Context(), "victim")
		if !errors.Is(err, secret.ErrDecrypt) || !strings.Contains(err.Error(), `"victim"`) {
			t.Errorf("after %s: error = %v, want ErrDecrypt naming the operation", q, err)
		}
		if _, err := s.DB().Exec(`DELETE FROM operations WHERE id = 'victim'`); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOperationWrongKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), DBFileName)
	s := openAt(t, path, testBox(t, 1))
	seedOp(t, s, "op")
	s.Close()
	s = openAt(t, path, testBox(t, 2))
	defer s.Close()
	_, err := s.GetOperation(t.Context(), "op")
	if !errors.Is(err, secret.ErrDecrypt) || !strings.Contains(err.Error(), secret.EnvKey) ||
		strings.Contains(err.Error(), requestMarker) {
		t.Errorf("GetOperation with the wrong key: error = %v", err)
	}
	// Pruning needs no secret.
	if _, err := s.PruneOperations(t.Context(), time.Now()); err != nil {
		t.Errorf("PruneOperations with the wrong key: %v", err)
	}
}

// TestOneRunningPerReleaseIndex checks the schema's backstop: even a write that bypasses the claim logic cannot
// make a second operation of one release running.
func TestOneRunningPerReleaseIndex(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), DBFileName), testBox(t, 1))
	defer s.Close()
	exec := func(q string) error { _, err := s.DB().Exec(q); return err }
	err := storetest.SecondRunning(t, s, exec)
	if err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Errorf("second running operation of a release: error = %v, want a UNIQUE constraint failure", err)
	}
	if err := exec(`UPDATE operations SET state = 'bogus' WHERE id = 'b'`); err == nil {
		t.Error("an unknown state was stored")
	}
}

// TestOperationsTwoStoresOneFile claims from two Stores on one file, as two processes would: the database's
// write lock, not the in-process write slot, keeps claims apart.
func TestOperationsTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), DBFileName)
	a := openPrivate(t, path, testBox(t, 1))
	defer a.Close()
	b := openPrivate(t, path, testBox(t, 1))
	defer b.Close()
	storetest.RunClaimRace(t, []store.Store{a, b}, 6, 40, 5)
	checkIntegrity(t, a.DB())
}

func TestMigrationFromVersion1(t *testing.T) {
	// A database written by a program that knew only 0001 gains the operations table and keeps its data.
	path := filepath.Join(t.TempDir(), DBFileName)
	legacyDB(t, path, 1, testBox(t, 1))
	s := openAt(t, path, testBox(t, 1))
	defer s.Close()
	if _, err := s.GetCluster(t.Context(), "c"); err != nil {
		t.Errorf("cluster lost by the migration: %v", err)
	}
	if r, err := s.GetRepo(t.Context(), "c", "r"); err != nil || string(r.Password) != storetest.LegacyPassword {
		t.Errorf("repo lost by the migration: %+v, %v", r, err)
	}
	seedOp(t, s, "op")
	if _, err := s.GetOperation(t.Context(), "op"); err != nil {
		t.Error(err)
	}
}
