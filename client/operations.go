package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kdu-io/kdu/api"
)

// SubmitOptions apply to the submission of a mutating call.
type SubmitOptions struct {
	// IdempotencyKey makes a retried submission return the operation of the first.
	IdempotencyKey string
}

// Submit sends a mutating KDU request and returns its operation at once (202 Accepted). path is relative to
// /v1/clusters/{cluster}/kdus, for example "" (install), "/web:upgrade" or "/web" with DELETE.
func (c *Client) Submit(ctx context.Context, method, cluster, path string, body any, opts SubmitOptions) (*api.Operation, error) {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	r := request{method: method, path: "/v1/clusters/" + id + "/kdus" + path, body: body}
	if opts.IdempotencyKey != "" {
		r.header = http.Header{"Idempotency-Key": {opts.IdempotencyKey}}
	}
	var op api.Operation
	if _, err := c.do(ctx, r, &op); err != nil {
		return nil, err
	}
	return &op, nil
}

// Watch follows an operation's events until it ends and returns its final state, calling fn (if not nil)
// with every change. A dropped stream is resumed. If ctx ends first, Watch returns ctx's error and the
// operation's newest known state.
func (c *Client) Watch(ctx context.Context, id string, fn func(api.Operation)) (*api.Operation, error) {
	var last *api.Operation
	backoff := 200 * time.Millisecond
	for {
		done, err := c.watchOnce(ctx, id, func(op api.Operation) {
			if last != nil && op.Version <= last.Version {
				return
			}
			o := op
			last = &o
			if fn != nil {
				fn(op)
			}
		})
		if done {
			return last, nil
		}
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		var ce *Error
		if errors.As(err, &ce) && ce.Status != 0 && ce.Status < 500 {
			return last, err // not found, forbidden: retrying does not help
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

// watchOnce reads one event stream; it reports whether a terminal state was seen.
func (c *Client) watchOnce(ctx context.Context, id string, fn func(api.Operation)) (bool, error) {
	req, err := c.newRequest(ctx, request{method: http.MethodGet, path: "/v1/operations/" + id + "/events"})
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.stream.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, decodeError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var data strings.Builder
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event == "operation" && data.Len() > 0 {
				var op api.Operation
				if err := json.Unmarshal([]byte(data.String()), &op); err != nil {
					return false, fmt.Errorf("reading an event: %w", err)
				}
				fn(op)
				if op.State.Terminal() {
					return true, nil
				}
			}
			data.Reset()
			event = ""
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	return false, io.ErrUnexpectedEOF
}

// OperationError is the error of an operation that failed or was cancelled. It unwraps to the library's
// sentinel for its code (api.ErrTimeout, ...).
type OperationError struct {
	Op api.Operation
}

func (e *OperationError) Error() string {
	if e.Op.Error == nil {
		return fmt.Sprintf("operation %s %s", e.Op.ID, e.Op.State)
	}
	msg := e.Op.Error.Message
	if e.Op.Error.Field != "" && !strings.HasPrefix(msg, e.Op.Error.Field) {
		msg = e.Op.Error.Field + ": " + msg
	}
	return msg
}

// Unwrap returns the API error, which unwraps to the sentinel.
func (e *OperationError) Unwrap() error {
	if e.Op.Error == nil {
		return nil
	}
	return errorOf(0, *e.Op.Error)
}

// ProgressFunc receives the progress of an operation as it runs.
type ProgressFunc func(api.Progress)

// run submits a request and follows it to its end, reporting progress; cancelling ctx cancels the
// operation (as interrupting helm does).
func (c *Client) run(ctx context.Context, method, cluster, path string, body any, progress ProgressFunc) (*api.Release, error) {
	op, err := c.Submit(ctx, method, cluster, path, body, SubmitOptions{})
	if err != nil {
		return nil, err
	}
	final, err := c.Watch(ctx, op.ID, func(o api.Operation) {
		if progress != nil && o.Progress != nil {
			progress(*o.Progress)
		}
	})
	if err != nil {
		if ctx.Err() != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_, _ = c.CancelOperation(cctx, op.ID)
			cancel()
		}
		return nil, fmt.Errorf("operation %s: %w", op.ID, err)
	}
	if final.State != api.Succeeded {
		return final.Release, &OperationError{Op: *final}
	}
	return final.Release, nil
}

// Install installs a chart on a cluster (a cluster id, or the legacy "namespace:id") and waits for the
// operation to end. A chart on the caller's disk must be sent packaged, in ChartArchive.
func (c *Client) Install(ctx context.Context, cluster string, req api.InstallRequest, progress ProgressFunc) (*api.Release, error) {
	_, ns, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	if req.Namespace == "" {
		req.Namespace = ns
	}
	return c.run(ctx, http.MethodPost, cluster, "", req, progress)
}

// Upgrade upgrades a release and waits for the operation to end. The target's namespace, if any, is used
// when the request names none.
func (c *Client) Upgrade(ctx context.Context, t api.Target, req api.UpgradeRequest, progress ProgressFunc) (*api.Release, error) {
	path, err := c.kduAction(t, &req.Namespace)
	if err != nil {
		return nil, err
	}
	return c.run(ctx, http.MethodPost, t.Cluster, path+":upgrade", req, progress)
}

// Scale sets a release's replica count and waits for the operation to end.
func (c *Client) Scale(ctx context.Context, t api.Target, req api.ScaleRequest, progress ProgressFunc) (*api.Release, error) {
	path, err := c.kduAction(t, &req.Namespace)
	if err != nil {
		return nil, err
	}
	return c.run(ctx, http.MethodPost, t.Cluster, path+":scale", req, progress)
}

// Migrate moves a release to the nodes the request's nodeSelector selects (an atomic upgrade of its current
// chart and values with forceReplace) and waits for the operation to end.
func (c *Client) Migrate(ctx context.Context, t api.Target, req api.MigrateRequest, progress ProgressFunc) (*api.Release, error) {
	path, err := c.kduAction(t, &req.Namespace)
	if err != nil {
		return nil, err
	}
	return c.run(ctx, http.MethodPost, t.Cluster, path+":migrate", req, progress)
}

// ExecPrimitive is N2VC's exec_primitive: Helm KDUs support none, so it always returns an error matching
// api.ErrUnsupported (or the error about the cluster or release).
func (c *Client) ExecPrimitive(ctx context.Context, t api.Target, primitive string, params map[string]any) error {
	req := api.PrimitiveRequest{Primitive: primitive, Params: params}
	path, err := c.kduAction(t, &req.Namespace)
	if err != nil {
		return err
	}
	id, _, err := clusterPath(t.Cluster)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters/" + id + "/kdus" + path + ":execPrimitive", body: req}, nil)
	return err
}

// UpgradeCharm is N2VC's upgrade_charm: Helm KDUs have no charm, so it always returns an error matching
// api.ErrUnsupported (or the error about the cluster or release).
func (c *Client) UpgradeCharm(ctx context.Context, t api.Target) error {
	var ns string
	path, err := c.kduAction(t, &ns)
	if err != nil {
		return err
	}
	id, _, err := clusterPath(t.Cluster)
	if err != nil {
		return err
	}
	r := request{method: http.MethodPost, path: "/v1/clusters/" + id + "/kdus" + path + ":upgradeCharm"}
	if ns != "" {
		r.query = url.Values{"namespace": {ns}}
	}
	_, err = c.do(ctx, r, nil)
	return err
}

// Rollback rolls a release back and waits for the operation to end.
func (c *Client) Rollback(ctx context.Context, t api.Target, req api.RollbackRequest, progress ProgressFunc) (*api.Release, error) {
	path, err := c.kduAction(t, &req.Namespace)
	if err != nil {
		return nil, err
	}
	return c.run(ctx, http.MethodPost, t.Cluster, path+":rollback", req, progress)
}

// Uninstall uninstalls a release and waits for the operation to end. A release that does not exist gives
// (nil, nil), as in the library.
func (c *Client) Uninstall(ctx context.Context, t api.Target, req api.UninstallRequest, progress ProgressFunc) (*api.Release, error) {
	path, err := c.kduAction(t, &req.Namespace)
	if err != nil {
		return nil, err
	}
	return c.run(ctx, http.MethodDelete, t.Cluster, path, req, progress)
}

// kduAction returns the path of t relative to its cluster's kdus, and fills in *ns from the target.
func (c *Client) kduAction(t api.Target, ns *string) (string, error) {
	path, q, err := kduPath(t)
	if err != nil {
		return "", err
	}
	if *ns == "" {
		*ns = q.Get("namespace")
	}
	return path[strings.LastIndex(path, "/"):], nil
}
