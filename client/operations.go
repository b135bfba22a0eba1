package client

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/chartref"
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
// sentinel for its code.
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

// run submits a request and follows it to its end, reporting progress; cancelling ctx cancels the
// operation (as interrupting helm does).
func (c *Client) run(ctx context.Context, method, cluster, path string, body any, progress kdu.ProgressFunc) (*kdu.Release, error) {
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

func values(v kdu.Values) api.Values {
	out := api.Values{Params: v.Params, Set: v.Set, SetString: v.SetString}
	for _, f := range v.Files {
		out.Files = append(out.Files, api.ValuesFile{Name: f.Name, Content: string(f.Data)})
	}
	return out
}

func wait(w kdu.Wait) api.Wait {
	out := api.Wait{Atomic: &w.Atomic, Wait: &w.Wait}
	if w.Timeout != 0 {
		d := api.Duration(w.Timeout)
		out.Timeout = &d
	}
	return out
}

// Install installs a chart and waits for the operation to end.
func (c *Client) Install(ctx context.Context, cluster string, o kdu.InstallOptions) (*kdu.Release, error) {
	src, err := chartSource(o.Chart, o.Version, o.RepoURL, o.ChartArchive)
	if err != nil {
		return nil, err
	}
	_, ns, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	if o.Namespace != "" {
		ns = o.Namespace
	}
	src.Verify = o.Verify
	req := api.InstallRequest{Name: o.Name, ChartSource: src, Namespace: ns, CreateNamespace: &o.CreateNamespace,
		Description: o.Description, Values: values(o.Values), Wait: wait(o.Wait)}
	return c.run(ctx, http.MethodPost, cluster, "", req, o.Progress)
}

func valuesMode(m kdu.ValuesMode) string {
	switch m {
	case kdu.ResetValues:
		return "reset"
	case kdu.ResetThenReuseValues:
		return "reset-then-reuse"
	}
	return "reuse"
}

// Upgrade upgrades a release and waits for the operation to end.
func (c *Client) Upgrade(ctx context.Context, t kdu.Target, o kdu.UpgradeOptions) (*kdu.Release, error) {
	var src api.ChartSource
	if o.Chart != "" || len(o.ChartArchive) > 0 {
		var err error
		if src, err = chartSource(o.Chart, o.Version, o.RepoURL, o.ChartArchive); err != nil {
			return nil, err
		}
	} else {
		src.Version = o.Version
	}
	src.Verify = o.Verify // without a chart, the server refuses it: the deployed chart is not verified again
	path, q, err := kduPath(t)
	if err != nil {
		return nil, err
	}
	req := api.UpgradeRequest{Namespace: q.Get("namespace"), ChartSource: src, ValuesMode: valuesMode(o.ValuesMode),
		ForceConflicts: o.ForceConflicts, Description: o.Description, Values: values(o.Values), Wait: wait(o.Wait)}
	return c.run(ctx, http.MethodPost, t.Cluster, path[strings.LastIndex(path, "/"):]+":upgrade", req, o.Progress)
}

// Scale sets a release's replica count and waits for the operation to end.
func (c *Client) Scale(ctx context.Context, t kdu.Target, o kdu.ScaleOptions) (*kdu.Release, error) {
	path, q, err := kduPath(t)
	if err != nil {
		return nil, err
	}
	n := o.Replicas
	req := api.ScaleRequest{Namespace: q.Get("namespace"), Replicas: &n, Resource: o.Resource, Wait: wait(o.Wait)}
	return c.run(ctx, http.MethodPost, t.Cluster, path[strings.LastIndex(path, "/"):]+":scale", req, o.Progress)
}

// Rollback rolls a release back and waits for the operation to end.
func (c *Client) Rollback(ctx context.Context, t kdu.Target, o kdu.RollbackOptions) (*kdu.Release, error) {
	path, q, err := kduPath(t)
	if err != nil {
		return nil, err
	}
	w := o.Wait.Wait || o.Atomic
	req := api.RollbackRequest{Namespace: q.Get("namespace"), Revision: o.Revision, Wait: &w}
	if o.Timeout != 0 {
		d := api.Duration(o.Timeout)
		req.Timeout = &d
	}
	return c.run(ctx, http.MethodPost, t.Cluster, path[strings.LastIndex(path, "/"):]+":rollback", req, o.Progress)
}

// Uninstall uninstalls a release and waits for the operation to end. A release that does not exist gives
// (nil, nil), as in the library.
func (c *Client) Uninstall(ctx context.Context, t kdu.Target, o kdu.UninstallOptions) (*kdu.Release, error) {
	path, q, err := kduPath(t)
	if err != nil {
		return nil, err
	}
	req := api.UninstallRequest{Namespace: q.Get("namespace"), Wait: o.Wait}
	if o.Timeout != 0 {
		d := api.Duration(o.Timeout)
		req.Timeout = &d
	}
	return c.run(ctx, http.MethodDelete, t.Cluster, path[strings.LastIndex(path, "/"):], req, nil)
}

// maxChartArchive matches the server's limit.
const maxChartArchive = 20 << 20

// chartSource turns the chart fields of library options into the API's: local paths (which the server does
// not read) are packaged and uploaded.
func chartSource(chart, version, repoURL string, archive []byte) (api.ChartSource, error) {
	if len(archive) > 0 || chart == "" {
		return api.ChartSource{Chart: chart, Version: version, RepoURL: repoURL, ChartArchive: archive}, nil
	}
	ref, err := chartref.Parse(chart)
	if err != nil {
		return api.ChartSource{}, &kdu.FieldError{Field: "chart", Reason: err.Error(), Err: err}
	}
	switch ref.Kind {
	case chartref.KindArchive:
		data, err := readLimited(ref.Path)
		if err != nil {
			return api.ChartSource{}, &kdu.FieldError{Field: "chart", Reason: err.Error(), Err: err}
		}
		return api.ChartSource{ChartArchive: data}, nil
	case chartref.KindDir:
		data, err := packageDir(ref.Path)
		if err != nil {
			return api.ChartSource{}, &kdu.FieldError{Field: "chart", Reason: err.Error(), Err: err}
		}
		return api.ChartSource{ChartArchive: data}, nil
	}
	return api.ChartSource{Chart: chart, Version: version, RepoURL: repoURL}, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxChartArchive+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxChartArchive {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxChartArchive)
	}
	return data, nil
}

// packageDir writes a chart directory as a .tgz (regular files only, under the directory's name), for upload.
func packageDir(dir string) ([]byte, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		return nil, fmt.Errorf("%s is not a chart directory (no Chart.yaml)", dir)
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	base := filepath.Base(filepath.Clean(dir))
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == ".svn") {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: base + "/" + filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		if buf.Len() > maxChartArchive {
			return fmt.Errorf("%s packages to more than %d bytes", dir, maxChartArchive)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
