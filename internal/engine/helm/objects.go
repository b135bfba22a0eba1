package helm

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"golang.org/x/sync/errgroup"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu/internal/engine"
)

// objectRef is one object of a release manifest, resolved against the cluster's REST mapping.
type objectRef struct {
	APIVersion string
	Kind       string
	Namespace  string // "" for cluster-scoped objects
	Name       string
	GVR        schema.GroupVersionResource
	// mapErr is set when the kind is not served by the cluster (for example a CRD that was removed).
	mapErr error
}

type manifestHead struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// parseManifest lists the objects of a rendered manifest in Helm's document order.
func parseManifest(manifest, releaseNamespace string, mapper meta.RESTMapper) ([]objectRef, error) {
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var refs []objectRef
	for _, k := range keys {
		doc := docs[k]
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var h manifestHead
		if err := yaml.Unmarshal([]byte(doc), &h); err != nil {
			return nil, fmt.Errorf("release manifest document %s: %w", k, err)
		}
		if h.Kind == "" || h.Metadata.Name == "" {
			continue
		}
		gv, err := schema.ParseGroupVersion(h.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("release manifest: %s %s: %w", h.Kind, h.Metadata.Name, err)
		}
		ref := objectRef{APIVersion: h.APIVersion, Kind: h.Kind, Name: h.Metadata.Name}
		m, err := mapper.RESTMapping(gv.WithKind(h.Kind).GroupKind(), gv.Version)
		if err != nil {
			ref.mapErr = err
			ref.Namespace = h.Metadata.Namespace
		} else {
			ref.GVR = m.Resource
			if m.Scope.Name() == meta.RESTScopeNameNamespace {
				ref.Namespace = h.Metadata.Namespace
				if ref.Namespace == "" {
					ref.Namespace = releaseNamespace
				}
			}
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// objectGetter returns the live object, or nil (and no error) if it does not exist.
type objectGetter func(ctx context.Context, ref objectRef) (*unstructured.Unstructured, error)

// resourceStatuses computes the kstatus readiness of every object, fetching them concurrently.
func resourceStatuses(ctx context.Context, refs []objectRef, get objectGetter) []engine.Resource {
	out := make([]engine.Resource, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, ref := range refs {
		out[i] = engine.Resource{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
		if ref.mapErr != nil {
			out[i].Status = string(status.UnknownStatus)
			out[i].Message = "kind not served by the API server"
			continue
		}
		g.Go(func() error {
			obj, err := get(gctx, ref)
			switch {
			case err != nil:
				out[i].Status = string(status.UnknownStatus)
				out[i].Message = err.Error()
			case obj == nil:
				out[i].Status = string(status.NotFoundStatus)
				out[i].Message = "not found"
			default:
				res, err := status.Compute(obj)
				if err != nil {
					out[i].Status = string(status.UnknownStatus)
					out[i].Message = err.Error()
					return nil
				}
				out[i].Status = string(res.Status)
				out[i].Message = res.Message
				out[i].Ready = res.Status == status.CurrentStatus
			}
			return nil
		})
	}
	_ = g.Wait() // workers never return errors; per-object failures are reported in the result
	return out
}
