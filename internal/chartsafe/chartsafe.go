// Package chartsafe checks untrusted Helm chart archives and YAML before
// Helm's loader sees them, so that a hostile chart cannot exhaust memory or
// CPU, or smuggle paths and special files past the loader.
//
// CheckArchive streams a chart archive (.tgz) through gzip and tar without
// trusting any size a header declares: every limit is enforced on the bytes
// actually read, and reading stops as soon as a limit is crossed. It also
// rejects entry names and link targets that are absolute or climb out of the
// chart, device and FIFO entries, archives whose entries do not share one
// top-level directory, and YAML files whose aliases expand beyond a node
// budget (see CheckYAML). Subchart archives (charts/*.tgz) are checked
// recursively against the same budget.
//
// The package does no I/O of its own and keeps no state between calls.
package chartsafe

import "errors"

// ErrHostile is wrapped by every rejection. Callers tell a refused chart from
// their own failures with errors.Is(err, ErrHostile).
var ErrHostile = errors.New("hostile chart")

// Limits bounds what CheckArchive accepts. A zero field means its default
// (see DefaultLimits); a negative field is treated as zero and so also means
// its default.
type Limits struct {
	// MaxArchiveSize is the most compressed bytes an archive may have
	// (default 20 MiB).
	MaxArchiveSize int64
	// MaxFiles is the most tar entries that are files (anything but
	// directories and pax global headers, so links count), subchart archives
	// included (default 5000).
	MaxFiles int
	// MaxDecompressedSize bounds what gunzipping produces, subchart archives
	// included (default 64 MiB). It caps both the sum of the file contents
	// read and the decompressed tar stream as a whole, which adds tar's own
	// headers and padding; the stream cap is what stops bodies that tar
	// skips without handing them over (directory bodies, pax headers).
	MaxDecompressedSize int64
	// MaxFileSize is the most bytes one file may have (default 16 MiB).
	MaxFileSize int64
	// MaxYAMLNodes is the most nodes the aliases of one YAML document may
	// add once expanded (default 100,000, kdu's one alias budget); see
	// CheckAliases.
	MaxYAMLNodes int
	// MaxYAMLFileSize is the most bytes one YAML file that is checked with
	// CheckYAML (values.yaml, Chart.yaml, CRDs...) may have (default 5 MiB,
	// Helm's former per-file limit). Parsing YAML allocates up to ~120 bytes
	// per input byte, so this bounds what a check (and Helm) may allocate.
	MaxYAMLFileSize int64
}

// Defaults of Limits.
const (
	DefaultMaxArchiveSize      = 20 << 20
	DefaultMaxFiles            = 5000
	DefaultMaxDecompressedSize = 64 << 20
	DefaultMaxFileSize         = 16 << 20
	DefaultMaxYAMLNodes        = 100_000
	DefaultMaxYAMLFileSize     = 5 << 20
)

// DefaultLimits returns the limits a zero Limits stands for.
func DefaultLimits() Limits {
	return Limits{
		MaxArchiveSize:      DefaultMaxArchiveSize,
		MaxFiles:            DefaultMaxFiles,
		MaxDecompressedSize: DefaultMaxDecompressedSize,
		MaxFileSize:         DefaultMaxFileSize,
		MaxYAMLNodes:        DefaultMaxYAMLNodes,
		MaxYAMLFileSize:     DefaultMaxYAMLFileSize,
	}
}

// withDefaults replaces zero (and negative) fields with their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxArchiveSize <= 0 {
		l.MaxArchiveSize = d.MaxArchiveSize
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = d.MaxFiles
	}
	if l.MaxDecompressedSize <= 0 {
		l.MaxDecompressedSize = d.MaxDecompressedSize
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = d.MaxFileSize
	}
	if l.MaxYAMLNodes <= 0 {
		l.MaxYAMLNodes = d.MaxYAMLNodes
	}
	if l.MaxYAMLFileSize <= 0 {
		l.MaxYAMLFileSize = d.MaxYAMLFileSize
	}
	return l
}
