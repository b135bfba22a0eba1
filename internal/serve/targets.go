package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/httpapi"
	"github.com/kdu-io/kdu/internal/ops"
	"github.com/kdu-io/kdu/internal/statustarget"
)

// targets connects the operation runner to the status dispatcher (webhooks, and MongoDB when configured).
type targets struct {
	d       *statustarget.Dispatcher
	mongo   *statustarget.Mongo
	metrics *httpapi.Metrics
	log     *slog.Logger
	kinds   sync.Map // operation id → []string, the target types, for metrics labels
}

func newTargets(ctx context.Context, o Options, metrics *httpapi.Metrics, log *slog.Logger) (*targets, error) {
	t := &targets{metrics: metrics, log: log}
	if o.MongoURI != "" {
		m, err := statustarget.Connect(ctx, o.MongoURI, o.MongoDatabase)
		if err != nil {
			return nil, fmt.Errorf("status targets: %w", err)
		}
		t.mongo = m
	}
	t.d = &statustarget.Dispatcher{Logger: log, OnResult: t.result}
	if t.mongo != nil {
		t.d.Mongo = t.mongo
	}
	return t, nil
}

// result reports a delivery that failed for good (for MongoDB, including a write that matched no document):
// it is logged with the operation and counted in kdu_status_target_errors_total.
func (t *targets) result(opID string, i int, err error) {
	if err == nil {
		return
	}
	kind := "unknown"
	if v, ok := t.kinds.Load(opID); ok {
		if ks := v.([]string); i < len(ks) {
			kind = ks[i]
		}
	}
	t.metrics.TargetError(kind)
	msg := "status target write failed"
	if errors.Is(err, statustarget.ErrNoDocument) {
		msg = "status target write matched no document"
	}
	t.log.Warn(msg, "operation_id", opID, "target", i, "type", kind, "err", err)
}

func (t *targets) sink() ops.StatusSink { return (*sink)(t) }

type sink targets

// kindsOf names the targets' types, for metrics and results.
func kindsOf(ts []api.StatusTarget) []string {
	kinds := make([]string, len(ts))
	for i, tg := range ts {
		kinds[i] = "webhook"
		if tg.Mongo != nil {
			kinds[i] = "mongo"
		}
	}
	return kinds
}

func (s *sink) Publish(op api.Operation, ts []api.StatusTarget, text string, detailed any) {
	s.kinds.Store(op.ID, kindsOf(ts))
	s.d.Publish(op.ID, ts, op, statustarget.Update{Operation: op.Kind, Status: text, Detailed: detailed, Time: time.Now()})
}

func (s *sink) Deliver(ctx context.Context, op api.Operation, ts []api.StatusTarget, text string, detailed any) []api.TargetResult {
	kinds := kindsOf(ts)
	s.kinds.Store(op.ID, kinds)
	defer s.kinds.Delete(op.ID)
	errs := s.d.Deliver(ctx, op.ID, ts, op, statustarget.Update{Operation: op.Kind, Status: text, Detailed: detailed, Time: time.Now()})
	out := make([]api.TargetResult, len(ts))
	for i, err := range errs {
		out[i] = api.TargetResult{Kind: kinds[i], Delivered: err == nil}
		if err != nil {
			out[i].Error = err.Error()
		}
	}
	return out
}

// validate checks a status target of a request; MongoDB targets need --mongo-uri.
func (t *targets) validate(i int, tg api.StatusTarget) error {
	if err := statustarget.ValidateTarget(tg); err != nil {
		var te *statustarget.TargetError
		if errors.As(err, &te) {
			return &kdu.FieldError{Field: fmt.Sprintf("statusTargets[%d].%s", i, te.Field), Reason: te.Reason, Err: err}
		}
		return &kdu.FieldError{Field: fmt.Sprintf("statusTargets[%d]", i), Reason: err.Error(), Err: err}
	}
	if tg.Mongo != nil && t.mongo == nil {
		return &kdu.FieldError{Field: fmt.Sprintf("statusTargets[%d].mongo", i), Reason: "this server has no MongoDB for status targets (kdu serve --mongo-uri)"}
	}
	return nil
}

func (t *targets) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = t.d.Close(ctx)
	if t.mongo != nil {
		_ = t.mongo.Close(ctx)
	}
}
