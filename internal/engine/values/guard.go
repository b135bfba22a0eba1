package values

import (
	"bytes"
	"errors"
	"fmt"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// MaxAliasNodes is the most YAML nodes that alias expansion ("*name"
// references to "&name" anchors, including "<<" merge keys) may add to one
// document. The YAML decoder's own ratio-based check still lets a 20 KiB
// document expand to some 400,000 nodes (about 140 MB of allocations); this
// budget stops that while leaving ordinary anchor reuse untouched.
const MaxAliasNodes = 100_000

// errAliasLoop reports an anchor whose value contains an alias to itself.
var errAliasLoop = errors.New("an anchor's value contains an alias to itself")

// unmarshalDoc decodes one YAML document into plain data after checking its
// alias expansion budget.
func unmarshalDoc(doc []byte) (any, error) {
	if err := checkAliases(doc); err != nil {
		return nil, err
	}
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// checkAliases parses doc into a node tree, which does not expand aliases,
// and refuses it if expanding its aliases would add more than MaxAliasNodes
// nodes. Documents without '*' cannot contain aliases and are not parsed
// twice. If the node parser rejects the document, the check defers to the
// decoder, which reports its own error and keeps its own alias limits.
func checkAliases(doc []byte) error {
	if bytes.IndexByte(doc, '*') < 0 {
		return nil
	}
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(doc, &root); err != nil {
		return nil
	}
	c := aliasCounter{memo: map[*yamlv3.Node]int{}, active: map[*yamlv3.Node]bool{}}
	expanded, err := c.size(&root)
	if err != nil {
		return err
	}
	if extra := expanded - c.literal; extra > MaxAliasNodes {
		return fmt.Errorf("%w: aliases expand to %d extra nodes, the limit is %d", ErrValuesTooLarge, extra, MaxAliasNodes)
	}
	return nil
}

// sizeCap bounds the counts so they cannot overflow; anything at the cap is
// far over MaxAliasNodes anyway.
const sizeCap = 1 << 40

type aliasCounter struct {
	memo    map[*yamlv3.Node]int  // expanded size of each node already counted
	active  map[*yamlv3.Node]bool // nodes on the current path (loop detection)
	literal int                   // nodes written in the document
}

// size returns the number of nodes n stands for once every alias below it is
// expanded. Each node written in the document is counted once in literal.
func (c *aliasCounter) size(n *yamlv3.Node) (int, error) {
	if n == nil {
		return 0, nil
	}
	if s, ok := c.memo[n]; ok {
		return s, nil
	}
	if c.active[n] {
		return 0, errAliasLoop
	}
	c.active[n] = true
	defer delete(c.active, n)
	c.literal++

	total := 1
	if n.Kind == yamlv3.AliasNode {
		s, err := c.size(n.Alias)
		if err != nil {
			return 0, err
		}
		// The target's own nodes were counted as literal where they were
		// written; the alias stands for one more copy of all of them.
		total = min(s, sizeCap)
	} else {
		for _, child := range n.Content {
			s, err := c.size(child)
			if err != nil {
				return 0, err
			}
			total = min(total+s, sizeCap)
		}
	}
	c.memo[n] = total
	return total, nil
}
