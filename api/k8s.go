package api

// Kubernetes helpers: the calls an orchestrator's execution-environment connector makes on a cluster besides
// Helm (N2VC's create_namespace, delete_namespace, create_certificate, delete_certificate, copy_secret_data and
// setup_default_rbac). They are synchronous: each answers when the API server has answered.

// Result says what a Kubernetes helper did to an object.
type Result string

// Results.
const (
	// ResultCreated: the object did not exist and was created.
	ResultCreated Result = "created"
	// ResultUpdated: the object existed and was changed to what the request asked for.
	ResultUpdated Result = "updated"
	// ResultUnchanged: the object existed and already was what the request asked for.
	ResultUnchanged Result = "unchanged"
)

// NamespaceRequest is the body of PUT /v1/clusters/{cluster}/namespaces/{name}: create the namespace with
// these labels, or merge them into the labels of an existing one (nothing else of it changes).
type NamespaceRequest struct {
	Labels map[string]string `json:"labels,omitempty"`
}

// Namespace is a namespace as a helper left it.
type Namespace struct {
	Name string `json:"name"`
	// Labels are all the namespace's labels (those Kubernetes sets included).
	Labels map[string]string `json:"labels,omitempty"`
	// Phase is Kubernetes' phase of the namespace (Active).
	Phase  string `json:"phase,omitempty"`
	Result Result `json:"result"`
}

// Certificate issuer kinds (cert-manager's issuerRef.kind).
const (
	IssuerKindClusterIssuer = "ClusterIssuer"
	IssuerKindIssuer        = "Issuer"
)

// Certificate defaults, N2VC's (its duration and renewal are one year, "8760h", and "2208h").
const (
	DefaultIssuerName = "ca-issuer"
	DefaultIssuerKind = IssuerKindClusterIssuer
)

// CertificateRequest is the body of PUT /v1/clusters/{cluster}/namespaces/{namespace}/certificates/{name}: a
// cert-manager Certificate (cert-manager.io/v1) for the names "<dnsPrefix>.<namespace>",
// "<dnsPrefix>.<namespace>.svc", "<dnsPrefix>.<namespace>.svc.cluster" and
// "<dnsPrefix>.<namespace>.svc.cluster.local", as N2VC's create_certificate made it.
type CertificateRequest struct {
	// DNSPrefix is the first part of every DNS name: a service name, or "*" for every service of the
	// namespace (what OSM asks for). Required.
	DNSPrefix string `json:"dnsPrefix"`
	// SecretName is the Secret cert-manager writes the certificate and key to; default the certificate's name.
	SecretName string `json:"secretName,omitempty"`
	// IssuerName is the cert-manager issuer that signs it; default "ca-issuer".
	IssuerName string `json:"issuerName,omitempty"`
	// IssuerKind is ClusterIssuer (default) or Issuer (an issuer in the certificate's namespace).
	IssuerKind string `json:"issuerKind,omitempty"`
	// Usages are X.509 key usages as cert-manager names them ("server auth", "client auth", "digital
	// signature", ...); none means cert-manager's default (digital signature, key encipherment).
	Usages []string `json:"usages,omitempty"`
	// Duration is the certificate's lifetime as a Go duration ("8760h", the default); at least 1h.
	Duration string `json:"duration,omitempty"`
	// RenewBefore is how long before expiry cert-manager renews it ("2208h", the default); at least 5m and
	// less than Duration.
	RenewBefore string `json:"renewBefore,omitempty"`
}

// Certificate is a cert-manager Certificate as a helper left it.
type Certificate struct {
	Namespace   string   `json:"namespace"`
	Name        string   `json:"name"`
	SecretName  string   `json:"secretName"`
	DNSNames    []string `json:"dnsNames"`
	IssuerName  string   `json:"issuerName"`
	IssuerKind  string   `json:"issuerKind"`
	Usages      []string `json:"usages,omitempty"`
	Duration    string   `json:"duration"`
	RenewBefore string   `json:"renewBefore"`
	Result      Result   `json:"result"`
}

// SecretKeyRef names one key of a Secret.
type SecretKeyRef struct {
	// Namespace defaults to the cluster's default namespace.
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Key is a key of the Secret's data; a copy's target key defaults to its source key.
	Key string `json:"key,omitempty"`
}

// SecretCopyRequest is the body of POST /v1/clusters/{cluster}/secrets:copy: copy one key of a Secret into
// a new Opaque Secret holding only that key (N2VC's copy_secret_data).
type SecretCopyRequest struct {
	Source SecretKeyRef `json:"source"`
	Target SecretKeyRef `json:"target"`
}

// SecretCopy reports a copy: where from, where to, and whether the target was created (or already held
// exactly that key and value). The value itself is never returned.
type SecretCopy struct {
	Source SecretKeyRef `json:"source"`
	Target SecretKeyRef `json:"target"`
	Result Result       `json:"result"`
}

// PolicyRule is one rule of a Role: the verbs allowed on the resources of the API groups ("" is the core
// group, "*" every group).
type PolicyRule struct {
	APIGroups []string `json:"apiGroups"`
	Resources []string `json:"resources"`
	Verbs     []string `json:"verbs"`
}

// RBACRequest is the body of PUT /v1/clusters/{cluster}/namespaces/{namespace}/rbac/{name}: a Role of that
// name with these rules and a RoleBinding of the same name granting it to a service account of the
// namespace (N2VC's setup_default_rbac).
type RBACRequest struct {
	ServiceAccount string       `json:"serviceAccount"`
	Rules          []PolicyRule `json:"rules"`
}

// RBAC reports a Role and its RoleBinding as a helper left them.
type RBAC struct {
	Namespace      string       `json:"namespace"`
	Name           string       `json:"name"`
	ServiceAccount string       `json:"serviceAccount"`
	Rules          []PolicyRule `json:"rules"`
	Role           Result       `json:"role"`
	RoleBinding    Result       `json:"roleBinding"`
}
