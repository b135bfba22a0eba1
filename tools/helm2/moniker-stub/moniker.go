// Package moniker stands in for github.com/technosophos/moniker (not served by the Go module proxy): it
// provides the part of its API that Tiller uses, New and Namer, and makes "adjective-animal" style names.
package moniker

import (
	"math/rand"
	"strings"
	"time"
)

var (
	adjectives = []string{
		"agile", "bold", "brave", "calm", "clever", "eager", "fancy", "gentle", "happy", "jolly",
		"kind", "lively", "merry", "nimble", "plucky", "quiet", "rusty", "silly", "swift", "witty",
	}
	animals = []string{
		"badger", "bison", "crane", "dingo", "eagle", "ferret", "gecko", "heron", "ibis", "jaguar",
		"koala", "lemur", "marmot", "newt", "otter", "panda", "quokka", "raven", "tapir", "walrus",
	}
)

// Namer makes random names.
type Namer interface {
	// Name returns a name of the form "adjective animal".
	Name() string
	// NameSep returns a name of the form "adjective<sep>animal".
	NameSep(sep string) string
}

type namer struct {
	rnd *rand.Rand
}

// New returns a Namer seeded from the clock.
func New() Namer {
	return &namer{rnd: rand.New(rand.NewSource(time.Now().UnixNano()))}
}

func (n *namer) Name() string { return n.NameSep(" ") }

func (n *namer) NameSep(sep string) string {
	return strings.Join([]string{
		adjectives[n.rnd.Intn(len(adjectives))],
		animals[n.rnd.Intn(len(animals))],
	}, sep)
}
