// Package charts sources charts for the engines: local directories and archives, HTTP(S) chart URLs, chart
// repositories (their indexes cached in parsed form), OCI registries, a content-addressed blob cache, and
// provenance verification. Credentials and TLS material are held in memory only. The engines take a loaded
// Chart's Helm chart with ForOperation.
package charts
