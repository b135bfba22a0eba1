package chartsafe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"

	yaml "go.yaml.in/yaml/v3"
)

// CheckYAML refuses YAML whose aliases would add more than maxNodes nodes to
// one document once expanded (a "billion laughs" document: a few hundred
// bytes whose nested aliases stand for billions of nodes). maxNodes <= 0
// means DefaultMaxYAMLNodes. name only labels the error, which wraps
// ErrHostile. It is CheckAliases for chart files.
func CheckYAML(name string, data []byte, maxNodes int) error {
	if err := CheckAliases(name, data, maxNodes); err != nil {
		return fmt.Errorf("%w: %w", ErrHostile, err)
	}
	return nil
}

// ErrAliasBudget reports YAML whose aliases expand beyond the node budget, or
// an anchor that contains an alias to itself.
var ErrAliasBudget = errors.New("YAML alias expansion over budget")

// CheckAliases is kdu's one YAML alias guard: chart files (through CheckYAML)
// and every values file or parameter a caller gives go through it, with one
// budget, DefaultMaxYAMLNodes. It refuses YAML whose aliases would add more
// than maxNodes nodes to one document once expanded, or whose anchor
// contains an alias to itself (it never ends); errors wrap ErrAliasBudget.
// Nodes written in the document do not count: the input size bounds them.
//
// YAML without '*' has no alias and is not parsed. Otherwise every document
// of the stream is parsed into a node tree, which does not expand aliases,
// and counted: each node counts one, each alias counts as the expanded size
// of its anchor's value, memoised per anchor, so counting costs time linear
// in the document however large the expansion; what the aliases add is that
// count less the nodes written. YAML that does not parse is left to the
// decoder, which reports it (a panic of the parser counts as a syntax
// error); if the stream has a syntax error, the documents between "---"
// lines are also checked one by one, as Helm's values loader parses them.
//
// Nesting depth is bounded by the parser, which refuses more than 10000
// levels of block indentation or flow collections, so counting cannot
// exhaust the stack. Parsing allocates in proportion to the input, up to
// about 120 bytes per input byte for dense flow collections ("[0,0,0...]"):
// callers bound the input, as CheckArchive does with MaxFileSize.
func CheckAliases(name string, data []byte, maxNodes int) error {
	if maxNodes <= 0 {
		maxNodes = DefaultMaxYAMLNodes
	}
	if bytes.IndexByte(data, '*') < 0 {
		return nil
	}
	complete, err := checkStream(name, data, &counter{max: int64(maxNodes)})
	if err != nil || complete {
		return err
	}
	docs := splitDocuments(data)
	if len(docs) < 2 {
		return nil
	}
	for _, doc := range docs {
		if _, err := checkStream(name, doc, &counter{max: int64(maxNodes)}); err != nil {
			return err
		}
	}
	return nil
}

// checkStream checks the documents of a YAML stream up to the first that
// does not parse, with a new counter c; complete reports whether the whole
// stream parsed. Anchors stay defined for the rest of the stream, so c is
// shared by its documents: each anchored value is counted once per stream,
// not once per document aliasing it.
func checkStream(name string, data []byte, c *counter) (complete bool, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := decode(dec, &doc); err != nil {
			return errors.Is(err, io.EOF), nil
		}
		c.literal = literalNodes(&doc)
		if _, err := c.size(&doc); err != nil {
			switch {
			case errors.Is(err, errTooMany):
				return false, &AliasError{Name: name, Max: c.max}
			case errors.Is(err, errAliasLoop):
				return false, &AliasError{Name: name, Loop: c.loop}
			}
			return false, err
		}
	}
}

// decode decodes the next document, turning a parser panic (a parser bug)
// into an error rather than a crash.
func decode(dec *yaml.Decoder, doc *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("YAML parser panicked: %v", r)
		}
	}()
	return dec.Decode(doc)
}

// splitDocuments splits a YAML stream before each line that starts a
// document ("---" alone or followed by a space), like Helm's values loader.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	start := 0
	for i := 0; i < len(data); {
		if i > start && isDocumentStart(data[i:]) {
			docs = append(docs, data[start:i])
			start = i
		}
		nl := bytes.IndexByte(data[i:], '\n')
		if nl < 0 {
			break
		}
		i += nl + 1
	}
	return append(docs, data[start:])
}

// isDocumentStart reports whether line starts with a document marker.
func isDocumentStart(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	return len(line) == 3 || bytes.IndexByte([]byte(" \t\r\n"), line[3]) >= 0
}

// AliasError is YAML refused by CheckAliases: its aliases expand beyond Max nodes, or the anchor Loop contains an
// alias to itself. It matches ErrAliasBudget.
type AliasError struct {
	Name string // labels the YAML: a file or parameter name
	Max  int64
	Loop string
}

func (e *AliasError) Error() string {
	prefix := ""
	if e.Name != "" {
		prefix = e.Name + ": "
	}
	if e.Loop != "" {
		return fmt.Sprintf("%sYAML anchor %q contains an alias to itself", prefix, e.Loop)
	}
	return fmt.Sprintf("%sYAML alias expansion exceeds %d nodes", prefix, e.Max)
}

// Is makes errors.Is(err, ErrAliasBudget) true.
func (e *AliasError) Is(target error) bool { return target == ErrAliasBudget }

// literalNodes counts the nodes written in a document: an alias counts one.
func literalNodes(n *yaml.Node) int64 {
	if n == nil {
		return 0
	}
	total := int64(1)
	if n.Kind != yaml.AliasNode {
		for _, c := range n.Content {
			total += literalNodes(c)
		}
	}
	return total
}

// limit is the most nodes the document being counted may stand for.
func (c *counter) limit() int64 {
	if c.max > math.MaxInt64-c.literal {
		return math.MaxInt64
	}
	return c.max + c.literal
}

var (
	errTooMany   = errors.New("too many nodes")
	errAliasLoop = errors.New("alias loop")
)

// counter counts the nodes of a document with its aliases expanded.
type counter struct {
	max     int64                // the budget of nodes the aliases may add
	literal int64                // nodes written in the document being counted
	memo    map[*yaml.Node]int64 // expanded size of each anchored node counted
	active  map[*yaml.Node]bool  // anchored nodes being counted (loop check)
	loop    string               // the anchor of a loop found
	steps   int                  // calls of size, which memoisation keeps linear
}

// size returns how many nodes n stands for with every alias below it
// expanded, or errTooMany as soon as that is over the document's literal
// nodes plus max. Only anchored nodes
// are memoised: aliases can only point at those.
func (c *counter) size(n *yaml.Node) (int64, error) {
	c.steps++
	if n == nil {
		return 0, nil
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 1, nil
		}
		return c.size(n.Alias)
	}
	if n.Anchor != "" {
		if s, ok := c.memo[n]; ok {
			return s, nil
		}
		if c.active[n] {
			c.loop = n.Anchor
			return 0, errAliasLoop
		}
		if c.active == nil {
			c.active = map[*yaml.Node]bool{}
			c.memo = map[*yaml.Node]int64{}
		}
		c.active[n] = true
		defer delete(c.active, n)
	}
	total := int64(1)
	for _, child := range n.Content {
		s, err := c.size(child)
		if err != nil {
			return 0, err
		}
		if s > c.limit()-total {
			return 0, errTooMany
		}
		total += s
	}
	if total > c.limit() {
		return 0, errTooMany
	}
	if n.Anchor != "" {
		c.memo[n] = total
	}
	return total, nil
}
