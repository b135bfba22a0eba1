package kdu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestKubeCallErrors: how the helpers report the API server's refusals.
func TestKubeCallErrors(t *testing.T) {
	call := kubeCall{what: `creating Secret "ee-ca" in namespace "ee"`, field: "target.name",
		missingKind: "namespace", missing: `namespace "ee"`, missingField: "target.namespace"}
	gr := schema.GroupResource{Resource: "secrets"}
	terminating := apierrors.NewForbidden(gr, "ee-ca", errors.New("namespace ee is being terminated"))
	terminating.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}
	for _, tc := range []struct {
		name     string
		err      error
		sentinel error
		field    string
	}{
		{"not found: the namespace", apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "ee"), ErrNotFound, "target.namespace"},
		{"exists", apierrors.NewAlreadyExists(gr, "ee-ca"), ErrExists, ""},
		{"conflict", apierrors.NewConflict(gr, "ee-ca", errors.New("changed")), ErrExists, ""},
		{"namespace terminating", terminating, ErrExists, ""},
		{"forbidden", apierrors.NewForbidden(gr, "ee-ca", errors.New("no")), ErrInvalid, "target.name"},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Secret"}, "ee-ca", nil), ErrInvalid, "target.name"},
		{"unauthorized", apierrors.NewUnauthorized("expired"), ErrUnreachable, ""},
		{"server error", apierrors.NewInternalError(errors.New("etcd")), ErrUnreachable, ""},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), ErrUnreachable, ""},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, ErrUnreachable, ""},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), context.DeadlineExceeded, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := call.err(tc.err)
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("%v: does not wrap %v", err, tc.sentinel)
			}
			var fe *FieldError
			var nf *NotFoundError
			switch {
			case errors.As(err, &fe):
				if fe.Field != tc.field {
					t.Fatalf("%v: field %q, want %q", err, fe.Field, tc.field)
				}
			case errors.As(err, &nf):
				if nf.Field != tc.field || nf.Kind != "namespace" || nf.Error() != `namespace "ee" not found` {
					t.Fatalf("%v: %+v", err, nf)
				}
			case tc.field != "":
				t.Fatalf("%v: want a field error naming %q", err, tc.field)
			}
		})
	}
	if call.err(nil) != nil {
		t.Fatal("nil is not an error")
	}
}
