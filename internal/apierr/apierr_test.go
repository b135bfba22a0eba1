package apierr

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/kdu-io/kdu"
)

func TestChartSourceErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		field  string
	}{
		{"refused credentials", fmt.Errorf("repository %q answered 401: %w", "charts", kdu.ErrRepoAuth),
			http.StatusBadGateway, CodeRepoUnauthorized, ""},
		{"unreachable repository", fmt.Errorf("GET https://charts.example/index.yaml: %w", kdu.ErrRepoUnreachable),
			http.StatusBadGateway, CodeRepoUnreachable, ""},
		{"verification", fmt.Errorf("webapp-0.2.0.tgz: sha256 sum does not match: %w", kdu.ErrVerification),
			http.StatusUnprocessableEntity, CodeVerificationFailed, ""},
		// A field error keeps priority: AddRepo reports refused credentials on the password field.
		{"field error over refused credentials", &kdu.FieldError{Field: "password", Reason: "repository \"charts\" answered 401", Err: kdu.ErrRepoAuth},
			http.StatusUnprocessableEntity, CodeInvalid, "password"},
		{"field error over unreachable", &kdu.FieldError{Field: "repos[1].url", Reason: "connection refused", Err: kdu.ErrRepoUnreachable},
			http.StatusUnprocessableEntity, CodeInvalid, "repos[1].url"},
		// A missing thing a request field named is answered with that field.
		{"not found naming a field", fmt.Errorf("copying: %w", &kdu.NotFoundError{Kind: "secret key", Msg: `key "ca.crt" not found`, Field: "source.key"}),
			http.StatusNotFound, CodeNotFound, "source.key"},
		{"not found without a field", &kdu.NotFoundError{Kind: "release", Msg: `release "web" not found`},
			http.StatusNotFound, CodeNotFound, ""},
		// A CRD the cluster lacks is unsupported, and the message names it.
		{"crd not installed", &kdu.CRDNotInstalledError{CRD: "certificates.cert-manager.io", Needs: "cert-manager"},
			http.StatusUnprocessableEntity, CodeUnsupported, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, e := From(tc.err)
			if status != tc.status || e.Code != tc.code || e.Field != tc.field || e.Message != tc.err.Error() {
				t.Errorf("From: %d %+v, want %d code %q field %q", status, e, tc.status, tc.code, tc.field)
			}
		})
	}
}

func TestSentinelRoundTrip(t *testing.T) {
	for _, sentinel := range []error{kdu.ErrRepoAuth, kdu.ErrRepoUnreachable, kdu.ErrVerification, kdu.ErrNotFound,
		kdu.ErrExists, kdu.ErrUnreachable, kdu.ErrTimeout} {
		_, e := From(fmt.Errorf("wrapped: %w", sentinel))
		if got := Sentinel(e.Code); !errors.Is(got, sentinel) {
			t.Errorf("%v: code %q gives sentinel %v", sentinel, e.Code, got)
		}
	}
	if Sentinel("no_such_code") != nil {
		t.Error("an unknown code has a sentinel")
	}
}
