package clustertest

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// maxNameLen is the longest DNS-1123 label, hence the longest namespace name.
	maxNameLen = 63
	// suffixLen is the length of the random suffix of a test namespace name.
	suffixLen = 5
	// nsTimeout bounds the API calls that create and delete a test namespace.
	nsTimeout = 30 * time.Second
)

// Namespace creates a namespace for test t and returns its name. The name is derived from t.Name()
// (lower-cased, every run of characters outside [a-z0-9] turned into one '-', cut so that the whole
// name fits 63 characters) plus '-' and a random suffix. A t.Cleanup deletes the namespace, except when
// the test failed and the environment variable KDU_TEST_KEEP is "1". Namespace fails the test if the
// namespace cannot be created.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	name := NamespaceName(t.Name(), randomSuffix())
	ctx, cancel := context.WithTimeout(context.Background(), nsTimeout)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   name,
		Labels: map[string]string{NamespaceLabel: "true"},
	}}
	if _, err := c.Clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("testcluster: create namespace %q: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv(EnvKeep) == "1" {
			t.Logf("testcluster: keeping namespace %q of the failed test (%s=1); KUBECONFIG=%s", name, EnvKeep, c.KubeconfigPath)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), nsTimeout)
		defer cancel()
		err := c.Clientset.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("testcluster: delete namespace %q: %v", name, err)
		}
	})
	return name
}

// NamespaceName derives a valid namespace name (a DNS-1123 label) from a test name and a suffix: both
// are lower-cased, every run of characters outside [a-z0-9] becomes one '-', the test part is cut so
// that "<test>-<suffix>" fits 63 characters, and an empty test part becomes "test".
func NamespaceName(testName, suffix string) string {
	suffix = sanitize(suffix)
	if len(suffix) > maxNameLen-2 {
		suffix = strings.Trim(suffix[:maxNameLen-2], "-")
	}
	if suffix == "" {
		return truncate(orDefault(sanitize(testName)), maxNameLen)
	}
	base := truncate(orDefault(sanitize(testName)), maxNameLen-1-len(suffix))
	return base + "-" + suffix
}

// sanitize lower-cases s and turns every run of characters outside [a-z0-9] into one '-', without
// leading or trailing '-'.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}

func orDefault(s string) string {
	if s == "" {
		return "test"
	}
	return s
}

// truncate cuts an already sanitized name to at most n bytes without a trailing '-'.
func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	s = strings.TrimRight(s, "-")
	if s == "" {
		return "t"
	}
	return s
}

// randomSuffix returns suffixLen random characters from [a-z0-9].
func randomSuffix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, suffixLen)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
