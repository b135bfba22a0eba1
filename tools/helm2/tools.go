//go:build tools
// +build tools

// Package tools pins the commands that scripts/helm2 builds from this module: the helm v2 CLI and Tiller.
package tools

import (
	_ "k8s.io/helm/cmd/helm"
	_ "k8s.io/helm/cmd/tiller"
)
