// A stand-in for github.com/technosophos/moniker, which the Go module proxy does not serve. Tiller uses it
// only to invent a release name when the client gives none.
module github.com/technosophos/moniker

go 1.16
