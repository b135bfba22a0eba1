package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// CertificateCRD is the name of cert-manager's Certificate CustomResourceDefinition.
const CertificateCRD = "certificates.cert-manager.io"

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crdTimeout bounds installing or removing a CRD and waiting for the API server to serve it (or stop).
const crdTimeout = time.Minute

// CertManagerCRD makes the cluster serve cert-manager's Certificates (installed true) or not (false): it
// creates a minimal certificates.cert-manager.io CRD (cert-manager.io/v1, Namespaced, any spec accepted:
// x-kubernetes-preserve-unknown-fields) or deletes it (and with it every Certificate of the cluster), then
// waits until discovery says so. No cert-manager controller runs: Certificates are stored, never issued.
//
// The CRD is cluster-wide. Test binaries hold the cluster one at a time (Main's lock), so a package whose
// tests switch it in one test only, and leave it installed, sees no other test change it.
func (c *Cluster) CertManagerCRD(t testing.TB, installed bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), crdTimeout)
	defer cancel()
	dyn, err := dynamic.NewForConfig(c.RESTConfig)
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	crds := dyn.Resource(crdGVR)
	if installed {
		_, err = crds.Create(ctx, certificateCRD(), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("testcluster: create CRD %s: %v", CertificateCRD, err)
		}
	} else {
		err = crds.Delete(ctx, CertificateCRD, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("testcluster: delete CRD %s: %v", CertificateCRD, err)
		}
	}
	for {
		served, err := c.servesCertificates(ctx)
		_, getErr := crds.Get(ctx, CertificateCRD, metav1.GetOptions{})
		gone := apierrors.IsNotFound(getErr)
		if err == nil && served == installed && gone == !installed {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testcluster: CRD %s installed=%v: not so after %s (served %v, discovery error %v, get %v)",
				CertificateCRD, installed, crdTimeout, served, err, getErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// servesCertificates asks discovery whether cert-manager.io/v1 lists certificates.
func (c *Cluster) servesCertificates(ctx context.Context) (bool, error) {
	raw, err := c.Clientset.Discovery().RESTClient().Get().AbsPath("/apis/cert-manager.io/v1").Do(ctx).Raw()
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var list metav1.APIResourceList
	if err := json.Unmarshal(raw, &list); err != nil {
		return false, fmt.Errorf("discovery of cert-manager.io/v1: %w", err)
	}
	for _, r := range list.APIResources {
		if r.Name == "certificates" {
			return true, nil
		}
	}
	return false, nil
}

func certificateCRD() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": CertificateCRD},
		"spec": map[string]any{
			"group": "cert-manager.io",
			"scope": "Namespaced",
			"names": map[string]any{"kind": "Certificate", "listKind": "CertificateList", "plural": "certificates",
				"singular": "certificate", "shortNames": []any{"cert", "certs"}},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
}
