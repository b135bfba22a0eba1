package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu/internal/naming"
)

// TokenFile is the format of the --token-file: hashes of bearer tokens, never the tokens themselves.
//
//	tokens:
//	  - name: osm-lcm               # shown in logs
//	    sha256: 9f86d08188...        # hex SHA-256 of the token (kdu token create prints it)
//	    projects: [osm]              # the projects it may act on
//	  - name: platform
//	    sha256: 60303ae22b...
//	    admin: true                  # every project, and clusters without one
type TokenFile struct {
	Tokens []TokenEntry `json:"tokens"`
}

// TokenEntry is one token.
type TokenEntry struct {
	Name     string   `json:"name"`
	SHA256   string   `json:"sha256"`
	Projects []string `json:"projects,omitempty"`
	Admin    bool     `json:"admin,omitempty"`
}

// Principal is who a request acts as.
type Principal struct {
	Name     string
	Admin    bool
	Projects []string
}

// Sees reports whether the principal may see and act on resources of a project.
func (p *Principal) Sees(project string) bool {
	if p.Admin {
		return true
	}
	return project != "" && slices.Contains(p.Projects, project)
}

// projectFilter returns the projects a listing may show: nil (all) for an admin.
func (p *Principal) projectFilter() []string {
	if p.Admin {
		return nil
	}
	return append([]string{}, p.Projects...)
}

// Tokens authenticates bearer tokens by their SHA-256.
type Tokens struct {
	byHash map[[sha256.Size]byte]*Principal
}

// anonymousAdmin is the principal of a server run without a token file (allowed on loopback only).
var anonymousAdmin = &Principal{Name: "anonymous", Admin: true}

// LoadTokens reads and validates a token file.
func LoadTokens(path string) (*Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading token file: %w", err)
	}
	return ParseTokens(data)
}

// ParseTokens parses a token file's content.
func ParseTokens(data []byte) (*Tokens, error) {
	var f TokenFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	t := &Tokens{byHash: map[[sha256.Size]byte]*Principal{}}
	names := map[string]bool{}
	for i, e := range f.Tokens {
		where := fmt.Sprintf("token file: tokens[%d]", i)
		if e.Name == "" {
			return nil, fmt.Errorf("%s: name is required", where)
		}
		if names[e.Name] {
			return nil, fmt.Errorf("%s: name %q is used twice", where, e.Name)
		}
		names[e.Name] = true
		raw, err := hex.DecodeString(strings.TrimSpace(e.SHA256))
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("%s (%s): sha256 must be 64 hex digits (the SHA-256 of the token, not the token)", where, e.Name)
		}
		if !e.Admin && len(e.Projects) == 0 {
			return nil, fmt.Errorf("%s (%s): give projects, or admin: true", where, e.Name)
		}
		for _, p := range e.Projects {
			if err := naming.ValidateProject(p); err != nil {
				return nil, fmt.Errorf("%s (%s): %w", where, e.Name, err)
			}
		}
		var h [sha256.Size]byte
		copy(h[:], raw)
		if _, dup := t.byHash[h]; dup {
			return nil, fmt.Errorf("%s (%s): the same token hash appears twice", where, e.Name)
		}
		t.byHash[h] = &Principal{Name: e.Name, Admin: e.Admin, Projects: slices.Clone(e.Projects)}
	}
	if len(t.byHash) == 0 {
		return nil, errors.New("token file: no tokens")
	}
	return t, nil
}

// Authenticate returns the principal of a request's bearer token, or nil.
func (t *Tokens) Authenticate(r *http.Request) *Principal {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return nil
	}
	// Hash, then look up the hash: the lookup's timing depends on the hash, not on the secret.
	return t.byHash[sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))]
}

// NewToken returns a random bearer token and its token-file hash.
func NewToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = "kdu_" + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken returns the hex SHA-256 of a token, as the token file holds it.
func HashToken(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}
