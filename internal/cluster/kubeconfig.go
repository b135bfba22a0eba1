// Package cluster turns a registered cluster's kubeconfig into live, shared Kubernetes clients: it validates
// kubeconfig bytes entirely in memory, and builds one Conn per cluster whose discovery and REST mapping are
// cached for the life of the process and shared by every operation on that cluster.
package cluster

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ErrInvalidKubeconfig is wrapped by every kubeconfig validation error.
var ErrInvalidKubeconfig = errors.New("invalid kubeconfig")

// MaxKubeconfigSize bounds the kubeconfig kdu accepts (real ones are a few KiB).
const MaxKubeconfigSize = 1 << 20

// Kubeconfig is a validated, self-contained kubeconfig reduced to a single context.
type Kubeconfig struct {
	config  clientcmdapi.Config
	context string
	// Server is the API server URL of the context's cluster (not secret).
	Server string
	// Namespace is the context's namespace ("" if it names none).
	Namespace string
}

// Context returns the name of the context the kubeconfig was reduced to.
func (k *Kubeconfig) Context() string { return k.context }

// Bytes serialises the reduced kubeconfig. The result contains credentials: never log it.
func (k *Kubeconfig) Bytes() ([]byte, error) {
	return clientcmd.Write(k.config)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidKubeconfig, fmt.Sprintf(format, args...))
}

// ParseKubeconfig validates kubeconfig bytes and reduces them to one context: contextName, else the
// kubeconfig's current-context, else its only context. It refuses what a server must never act on:
// references to local files (certificates, keys, token files) and credential plugins (exec, auth-provider),
// which would run programs or read files on the kdu host. Callers that own the files (the CLI) inline them
// first with Flatten. Errors never quote the kubeconfig's content.
func ParseKubeconfig(data []byte, contextName string) (*Kubeconfig, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, invalid("kubeconfig is empty")
	}
	if len(data) > MaxKubeconfigSize {
		return nil, invalid("kubeconfig is %d bytes, more than the %d allowed", len(data), MaxKubeconfigSize)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, invalid("cannot parse kubeconfig: %s", redactParseError(err))
	}
	if len(cfg.Contexts) == 0 {
		return nil, invalid("kubeconfig has no contexts")
	}
	name := contextName
	if name == "" {
		name = cfg.CurrentContext
	}
	if name == "" {
		if len(cfg.Contexts) != 1 {
			return nil, invalid("kubeconfig has no current-context and %d contexts (%s): choose one with a context",
				len(cfg.Contexts), strings.Join(sortedKeys(cfg.Contexts), ", "))
		}
		for n := range cfg.Contexts {
			name = n
		}
	}
	kctx, ok := cfg.Contexts[name]
	if !ok {
		return nil, invalid("context %q not found in kubeconfig (available: %s)", name, strings.Join(sortedKeys(cfg.Contexts), ", "))
	}
	cl, ok := cfg.Clusters[kctx.Cluster]
	if !ok {
		return nil, invalid("context %q names cluster %q, which the kubeconfig does not define", name, kctx.Cluster)
	}
	if _, ok := cfg.AuthInfos[kctx.AuthInfo]; !ok && kctx.AuthInfo != "" {
		return nil, invalid("context %q names user %q, which the kubeconfig does not define", name, kctx.AuthInfo)
	}
	cfg.CurrentContext = name
	if err := clientcmdapi.MinifyConfig(cfg); err != nil {
		return nil, invalid("%s", err)
	}
	if err := checkSelfContained(cfg); err != nil {
		return nil, err
	}
	u, err := url.Parse(cl.Server)
	if err != nil {
		return nil, invalid("cluster %q: server is not an http(s) URL", kctx.Cluster)
	}
	if u.User != nil {
		return nil, invalid("cluster %q: server URL carries credentials, which kdu does not accept; use a token or a client certificate", kctx.Cluster)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, invalid("cluster %q: server %q is not an http(s) URL", kctx.Cluster, cl.Server)
	}
	if err := clientcmd.Validate(*cfg); err != nil {
		return nil, invalid("%s", err)
	}
	return &Kubeconfig{config: *cfg, context: name, Server: cl.Server, Namespace: kctx.Namespace}, nil
}

// checkSelfContained refuses file references and credential plugins in a minified config.
func checkSelfContained(cfg *clientcmdapi.Config) error {
	for name, c := range cfg.Clusters {
		if c.CertificateAuthority != "" {
			return invalid("cluster %q: certificate-authority refers to a file; embed it as certificate-authority-data", name)
		}
		if c.ProxyURL != "" {
			return invalid("cluster %q: proxy-url is not supported", name)
		}
	}
	for name, a := range cfg.AuthInfos {
		switch {
		case a.ClientCertificate != "":
			return invalid("user %q: client-certificate refers to a file; embed it as client-certificate-data", name)
		case a.ClientKey != "":
			return invalid("user %q: client-key refers to a file; embed it as client-key-data", name)
		case a.TokenFile != "":
			return invalid("user %q: tokenFile refers to a file; embed the token", name)
		case a.Exec != nil:
			return invalid("user %q: exec credential plugins are not supported (kdu never runs programs from a kubeconfig); use a token or a client certificate", name)
		case a.AuthProvider != nil:
			return invalid("user %q: auth-provider plugins are not supported; use a token or a client certificate", name)
		case a.Impersonate != "" || len(a.ImpersonateGroups) > 0:
			// Impersonation is fine: it is data, not a file or program.
		}
	}
	return nil
}

// Flatten inlines the files a kubeconfig read from path refers to (certificates, keys, token files), so that
// ParseKubeconfig accepts it. It is meant for the CLI, which runs as the user owning those files.
func Flatten(data []byte, path string) ([]byte, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, invalid("cannot parse kubeconfig %s: %s", path, redactParseError(err))
	}
	for _, c := range cfg.Clusters {
		c.LocationOfOrigin = path
	}
	for _, a := range cfg.AuthInfos {
		a.LocationOfOrigin = path
		if a.TokenFile != "" {
			tf := a.TokenFile
			if !filepath.IsAbs(tf) {
				tf = filepath.Join(filepath.Dir(path), tf)
			}
			b, err := os.ReadFile(tf)
			if err != nil {
				return nil, invalid("user token file: %s", err)
			}
			a.Token = strings.TrimSpace(string(b))
			a.TokenFile = ""
		}
	}
	if err := clientcmdapi.FlattenConfig(cfg); err != nil {
		return nil, invalid("inlining files referenced by %s: %s", path, err)
	}
	return clientcmd.Write(*cfg)
}

// quotedInput matches the spans in which YAML and JSON decoders echo the input they choke on.
var quotedInput = regexp.MustCompile("`[^`]*`|\"[^\"]*\"")

// redactParseError keeps a YAML/JSON parse error's position and reason but drops any echoed input, which
// could be a credential.
func redactParseError(err error) string {
	msg := quotedInput.ReplaceAllString(err.Error(), "…")
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
