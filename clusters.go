package kdu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/cluster"
	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/tiller"
	"github.com/kdu-io/kdu/internal/naming"
	"github.com/kdu-io/kdu/internal/store"
)

func clusterOf(c store.Cluster) Cluster {
	return Cluster{ID: c.ID, Server: c.Server, Context: c.Context, Namespace: c.Namespace, Flavour: c.Flavour,
		Version: c.Version, Project: c.Project, TillerNamespace: c.TillerNamespace, TillerAddress: c.TillerAddress,
		InstalledSW: c.InstalledSW, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// ClusterSpec registers a cluster (docs/n2vc.md#init_env).
type ClusterSpec struct {
	// ID names the cluster. N2VC's legacy "namespace:cluster_id" form is accepted: the namespace part becomes
	// the default namespace unless Namespace is set.
	ID string
	// Kubeconfig is the kubeconfig content. It must be self-contained (no file references, no exec plugins).
	Kubeconfig []byte
	// Context selects a kubeconfig context; "" means its current-context (or its only context).
	Context string
	// Namespace is the default namespace of KDUs on this cluster; "" means the context's namespace, else
	// "default".
	Namespace string
	// Project owns the cluster. On Replace, the existing cluster's project is kept.
	Project string
	// Flavour is FlavourHelm3 (default) or FlavourHelm2: releases managed by Tiller. On Replace, the existing
	// cluster's flavour and Tiller settings are kept.
	Flavour string
	// TillerNamespace is where Tiller runs on a helm2 cluster (default kube-system).
	TillerNamespace string
	// TillerAddress is Tiller's gRPC address (host:port) on a helm2 cluster, when it is reachable directly;
	// "" port-forwards to the Tiller pod, as helm2 does, and installs Tiller if it is absent
	// (docs/n2vc.md#init_env).
	TillerAddress string
	// Replace allows re-registering an existing ID, replacing its credentials. Without it an existing ID is
	// an ErrExists error and the stored credentials are kept.
	Replace bool
}

// Cluster flavours.
const (
	FlavourHelm3 = api.FlavourHelm3 // releases managed by kdu through the Helm v4 SDK
	FlavourHelm2 = api.FlavourHelm2 // releases managed by a Tiller v2 server
)

// AddCluster validates a kubeconfig, checks that its API server answers with the credentials given, and
// registers the cluster. Nothing is stored if any check fails. For a helm2 cluster it is N2VC's _cluster_init:
// with a Tiller address, Tiller must answer there; without one, Tiller is installed in TillerNamespace if it is
// absent (its service account, cluster role binding, Deployment and Service) and the cluster records that kdu
// installed it (InstalledSW).
func (m *Manager) AddCluster(ctx context.Context, spec ClusterSpec) (*Cluster, error) {
	nsPart, id, err := naming.ParseClusterID(spec.ID)
	if err != nil {
		return nil, invalid("id", err)
	}
	ns := spec.Namespace
	if ns == "" {
		ns = nsPart
	}
	if ns != "" {
		if err := naming.ValidateNamespace(ns); err != nil {
			return nil, invalid("namespace", err)
		}
	}
	if err := spec.checkFlavour(); err != nil {
		return nil, err
	}
	kc, err := cluster.ParseKubeconfig(spec.Kubeconfig, spec.Context)
	if err != nil {
		return nil, invalid("kubeconfig", err)
	}
	if ns == "" {
		ns = kc.Namespace
	}
	if ns == "" {
		ns = "default"
	}
	existing, err := m.store.GetCluster(ctx, id)
	switch {
	case err == nil && !spec.Replace:
		return nil, fmt.Errorf("cluster %q is already registered (server %s); replace its credentials explicitly: %w",
			id, existing.Server, ErrExists)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	conn, err := cluster.Connect(kc, m.connOptions())
	if err != nil {
		return nil, invalid("kubeconfig", err)
	}
	version, err := conn.Check(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", id, translate(err))
	}
	raw, err := kc.Bytes()
	if err != nil {
		return nil, invalid("kubeconfig", err)
	}
	rec := store.Cluster{
		ID: id, Kubeconfig: raw, Context: kc.Context(), Namespace: ns, Flavour: spec.Flavour,
		Server: kc.Server, Version: version, Project: spec.Project,
		TillerNamespace: spec.TillerNamespace, TillerAddress: spec.TillerAddress,
	}
	if existing.ID != "" {
		rec.Project, rec.Flavour = existing.Project, existing.Flavour
		rec.TillerNamespace, rec.TillerAddress, rec.InstalledSW = existing.TillerNamespace, existing.TillerAddress, existing.InstalledSW
	} else if rec.Flavour == FlavourHelm2 {
		if rec.InstalledSW, err = m.initTiller(ctx, conn, rec); err != nil {
			return nil, fmt.Errorf("cluster %q: %w", id, err)
		}
	}
	var saved store.Cluster
	if existing.ID != "" {
		saved, err = m.store.UpdateCluster(ctx, rec)
		m.dropConnection(id)
	} else {
		saved, err = m.store.CreateCluster(ctx, rec)
	}
	if errors.Is(err, store.ErrExists) {
		return nil, fmt.Errorf("cluster %q was registered concurrently: %w", id, ErrExists)
	}
	if err != nil {
		return nil, err
	}
	m.log.Info("cluster registered", "cluster", id, "server", kc.Server, "version", version, "replaced", existing.ID != "",
		"flavour", saved.Flavour, "installedSW", saved.InstalledSW)
	c := clusterOf(saved)
	return &c, nil
}

// Clusters lists the registered clusters.
func (m *Manager) Clusters(ctx context.Context) ([]Cluster, error) {
	recs, err := m.store.ListClusters(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Cluster, len(recs))
	for i, r := range recs {
		out[i] = clusterOf(r)
	}
	return out, nil
}

// GetCluster returns one registered cluster. ref may be "namespace:id".
func (m *Manager) GetCluster(ctx context.Context, ref string) (*Cluster, error) {
	_, id, err := naming.ParseClusterID(ref)
	if err != nil {
		return nil, invalid("cluster", err)
	}
	rec, err := m.store.GetCluster(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("cluster", "cluster %q", id)
	}
	if err != nil {
		return nil, err
	}
	c := clusterOf(rec)
	return &c, nil
}

// CheckCluster contacts a registered cluster's API server, records the version it reports and returns it.
func (m *Manager) CheckCluster(ctx context.Context, ref string) (*Cluster, error) {
	_, id, err := naming.ParseClusterID(ref)
	if err != nil {
		return nil, invalid("cluster", err)
	}
	cc, rec, err := m.connection(ctx, id)
	if err != nil {
		return nil, err
	}
	v, err := cc.conn.Check(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", id, translate(err))
	}
	c := clusterOf(rec)
	c.Version = v
	return &c, nil
}

// RemoveOptions control RemoveCluster (docs/n2vc.md#reset).
type RemoveOptions struct {
	// Force uninstalls the cluster's releases first; without it a cluster with releases is not removed.
	Force bool
	// Forget unregisters the cluster without contacting it, leaving whatever runs there untouched: the way
	// out for a cluster that is gone for good. It excludes Force.
	Forget bool
	// UninstallSW removes the software kdu installs on a helm2 cluster (Tiller, its cluster role binding and
	// service account; docs/n2vc.md#reset) once its releases are gone. Helm 3 clusters have none.
	UninstallSW bool
}

// RemoveCluster unregisters a cluster. If releases remain on it, removal fails with ErrHasReleases unless
// Force, which uninstalls every release first (failing, and keeping the registration, if any uninstall fails).
func (m *Manager) RemoveCluster(ctx context.Context, ref string, opts RemoveOptions) error {
	_, id, err := naming.ParseClusterID(ref)
	if err != nil {
		return invalid("cluster", err)
	}
	if opts.Force && opts.Forget {
		return invalidf("forget", "forget (unregister without contacting the cluster) and force (uninstall its releases first) exclude each other")
	}
	if opts.Forget && opts.UninstallSW {
		return invalidf("uninstallSW", "removing Tiller needs the cluster; forget does not contact it")
	}
	if opts.Forget {
		return m.deleteCluster(ctx, id, 0)
	}
	cc, rec, err := m.connection(ctx, id)
	if err != nil {
		return err
	}
	rels, err := cc.engine.List(ctx, engine.ListOptions{})
	if err != nil {
		return fmt.Errorf("cluster %q: listing releases before removal (to unregister a cluster that is gone, forget it): %w", id, translate(err))
	}
	if len(rels) > 0 && !opts.Force {
		names := make([]string, 0, len(rels))
		for _, r := range rels {
			names = append(names, r.Namespace+"/"+r.Name)
		}
		return fmt.Errorf("cluster %q still has %d release(s) (%s); uninstall them or force removal: %w",
			id, len(rels), strings.Join(names, ", "), ErrHasReleases)
	}
	for _, r := range rels {
		if _, err := m.Uninstall(ctx, Target{Cluster: id, Namespace: r.Namespace, Name: r.Name}, UninstallOptions{}); err != nil {
			return fmt.Errorf("cluster %q: uninstalling %s/%s before removal: %w", id, r.Namespace, r.Name, err)
		}
	}
	if opts.UninstallSW && rec.Flavour == FlavourHelm2 {
		cc.engine.Close()
		if err := tiller.Uninstall(ctx, cc.conn, rec.TillerNamespace); err != nil {
			return fmt.Errorf("cluster %q: %w", id, translate(err))
		}
		m.log.Info("tiller removed", "cluster", id, "namespace", rec.TillerNamespace)
	}
	return m.deleteCluster(ctx, id, len(rels))
}

func (m *Manager) deleteCluster(ctx context.Context, id string, uninstalled int) error {
	if err := m.store.DeleteCluster(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("cluster", "cluster %q", id)
		}
		return err
	}
	m.dropConnection(id)
	m.log.Info("cluster removed", "cluster", id, "uninstalled", uninstalled)
	return nil
}

// checkFlavour validates the flavour and Tiller fields and fills in their defaults.
func (spec *ClusterSpec) checkFlavour() error {
	switch spec.Flavour {
	case "", FlavourHelm3:
		spec.Flavour = FlavourHelm3
		if spec.TillerNamespace != "" || spec.TillerAddress != "" {
			return invalidf("flavour", "Tiller settings need flavour %q", FlavourHelm2)
		}
		return nil
	case FlavourHelm2:
	default:
		return invalidf("flavour", "flavour %q must be %q or %q", spec.Flavour, FlavourHelm3, FlavourHelm2)
	}
	if spec.TillerNamespace == "" {
		spec.TillerNamespace = tiller.DefaultNamespace
	}
	if err := naming.ValidateNamespace(spec.TillerNamespace); err != nil {
		return invalid("tillerNamespace", err)
	}
	if spec.TillerAddress != "" {
		host, port, err := net.SplitHostPort(spec.TillerAddress)
		if err != nil || host == "" || strings.ContainsAny(host, "/@ \t") {
			return invalidf("tillerAddress", "%q must be host:port", spec.TillerAddress)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return invalidf("tillerAddress", "%q: the port must be 1-65535", spec.TillerAddress)
		}
	}
	return nil
}

// initTiller is the Helm 2 part of registration (docs/n2vc.md#init_env, N2VC's Helm 2 _cluster_init). It reports
// whether kdu installed Tiller.
func (m *Manager) initTiller(ctx context.Context, conn *cluster.Conn, rec store.Cluster) (bool, error) {
	if rec.TillerAddress != "" {
		e := tiller.New(conn, tiller.Options{Namespace: rec.TillerNamespace, Address: rec.TillerAddress})
		defer e.Close()
		if _, err := e.Version(ctx); err != nil {
			return false, &FieldError{Field: "tillerAddress", Reason: err.Error(), Err: translate(err)}
		}
		return false, nil
	}
	present, err := tiller.Detect(ctx, conn, rec.TillerNamespace)
	if err != nil {
		return false, translate(err)
	}
	if present {
		return false, nil
	}
	if err := tiller.Install(ctx, conn, rec.TillerNamespace, "", m.opts.MaxHistory); err != nil {
		return false, translate(err)
	}
	m.log.Info("tiller installed", "cluster", rec.ID, "namespace", rec.TillerNamespace, "image", tiller.DefaultImage)
	return true, nil
}
