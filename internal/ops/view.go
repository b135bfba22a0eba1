package ops

import (
	"encoding/json"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/store"
)

// View turns a stored operation into its API form. Request and targets (which may hold secrets) are never
// part of it.
func View(o store.Operation) api.Operation {
	out := api.Operation{
		ID: o.ID, Kind: o.Kind, Project: o.Project,
		Target: kdu.Target{Cluster: o.Cluster, Namespace: o.Namespace, Name: o.Release},
		State:  o.State, Revision: o.Revision, CancelRequested: o.CancelRequested,
		Attempts: o.Attempts, Version: o.Version, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}
	if len(o.Progress) > 0 {
		var p kdu.Progress
		if json.Unmarshal(o.Progress, &p) == nil {
			out.Progress = &p
		}
	}
	if len(o.Result) > 0 {
		var r kdu.Release
		if json.Unmarshal(o.Result, &r) == nil {
			out.Release = &r
		}
	}
	if len(o.TargetResults) > 0 {
		var tr []api.TargetResult
		if json.Unmarshal(o.TargetResults, &tr) == nil {
			out.StatusTargets = tr
		}
	}
	if o.ErrorCode != "" || o.ErrorMessage != "" {
		out.Error = &api.Error{Code: o.ErrorCode, Message: o.ErrorMessage, Field: o.ErrorField}
	}
	if !o.StartedAt.IsZero() {
		t := o.StartedAt
		out.StartedAt = &t
	}
	if !o.FinishedAt.IsZero() {
		t := o.FinishedAt
		out.FinishedAt = &t
	}
	return out
}
