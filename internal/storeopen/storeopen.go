// Package storeopen opens kdu's store the one way the library and the service share: SQLite in the data
// directory by default, PostgreSQL when a database URL is given, with the secret key that seals secrets at
// rest. Opening the same store twice in one process shares one connection pool.
package storeopen

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store"
	"github.com/kdu-io/kdu/internal/store/postgres"
	"github.com/kdu-io/kdu/internal/store/sqlite"
)

// Open opens the SQLite store in dataDir, or the PostgreSQL database at database, with the secret key keyText
// (base64; "" reads it from the environment, or for SQLite from the data directory, creating it there).
func Open(ctx context.Context, dataDir, database, keyText string) (store.Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory %s: %w", dataDir, err)
	}
	box, err := secret.Resolve(dataDir, keyText, database != "")
	if err != nil {
		return nil, err
	}
	if database != "" {
		return postgres.Open(ctx, database, box)
	}
	return sqlite.Open(ctx, filepath.Join(dataDir, sqlite.DBFileName), box)
}

// Describe names the store for logs, without credentials.
func Describe(dataDir, database string) string {
	if database != "" {
		return "postgresql " + postgres.RedactURL(database)
	}
	return "sqlite " + filepath.Join(dataDir, sqlite.DBFileName)
}
