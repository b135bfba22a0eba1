package statustarget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/testkit/mongotest"
)

// One FerretDB for the package, started on first use.
var (
	ferretOnce  sync.Once
	ferretURI   string
	ferretStop  func()
	ferretErr   error
	ferretStart time.Duration
)

func TestMain(m *testing.M) {
	code := m.Run()
	if ferretStop != nil {
		ferretStop()
	}
	os.Exit(code)
}

func ferret(t *testing.T) string {
	t.Helper()
	ferretOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kdu-status-ferret-")
		if err != nil {
			ferretErr = err
			return
		}
		start := time.Now()
		var stop func()
		ferretURI, stop, ferretErr = mongotest.Start(dir)
		ferretStart = time.Since(start)
		if ferretErr == nil {
			ferretStop = func() { stop(); _ = os.RemoveAll(dir) }
		}
	})
	if ferretErr != nil {
		t.Fatalf("start FerretDB: %v", ferretErr)
	}
	return ferretURI
}

// testMongo connects to the package's FerretDB, in a database of its own, and returns the writer.
func testMongo(t *testing.T) *Mongo {
	t.Helper()
	uri := ferret(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := "t" + strconv.FormatInt(time.Now().UnixNano(), 36)
	m, err := Connect(ctx, uri, db)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.db.Drop(ctx)
		if err := m.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

const nsrID = "5f0c6a1e-3b7d-4c2a-9e7f-1d2c3b4a5e6f"

// insertNSR inserts an OSM-shaped nsrs document with two deployed KDUs.
func insertNSR(t *testing.T, m *Mongo, id string) {
	t.Helper()
	doc := bson.D{
		{Key: "_id", Value: id},
		{Key: "name", Value: "ldap-ns"},
		{Key: "nsState", Value: "READY"},
		{Key: "_admin", Value: bson.D{
			{Key: "nsState", Value: "INSTANTIATED"},
			{Key: "deployed", Value: bson.D{
				{Key: "K8s", Value: bson.A{
					bson.D{{Key: "member-vnf-index", Value: "1"}, {Key: "kdu-name", Value: "ldap"}, {Key: "kdu-instance", Value: "ldap-0012"}},
					bson.D{{Key: "member-vnf-index", Value: "2"}, {Key: "kdu-name", Value: "mongo"}, {Key: "kdu-instance", Value: "mongo-0034"}},
				}},
				{Key: "VCA", Value: bson.A{}},
			}},
		}},
	}
	if _, err := m.db.Collection("nsrs").InsertOne(context.Background(), doc); err != nil {
		t.Fatalf("insert nsr: %v", err)
	}
}

// readNSR reads the nsr back as nested maps.
func readNSR(t *testing.T, m *Mongo, id string) map[string]any {
	t.Helper()
	var raw bson.Raw
	if err := m.db.Collection("nsrs").FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&raw); err != nil {
		t.Fatalf("find nsr: %v", err)
	}
	// Go through extended JSON to get plain maps and slices.
	js, err := bson.MarshalExtJSON(raw, false, false)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func k8s(t *testing.T, doc map[string]any) []map[string]any {
	t.Helper()
	list := doc["_admin"].(map[string]any)["deployed"].(map[string]any)["K8s"].([]any)
	out := make([]map[string]any, len(list))
	for i, e := range list {
		out[i] = e.(map[string]any)
	}
	return out
}

func detailedFixture(desc string) map[string]any {
	return map[string]any{
		"name":      "ldap-0012",
		"namespace": "osm",
		"info":      map[string]any{"status": "deployed", "description": desc, "notes": "<a&b>"},
		"version":   2,
	}
}

func TestMongoWrite(t *testing.T) {
	for _, path := range []string{"_admin.deployed.K8s.1", "_admin.deployed.K8s.1."} {
		t.Run(path, func(t *testing.T) {
			m := testMongo(t)
			insertNSR(t, m, nsrID)
			insertNSR(t, m, "other-nsr")
			ctx := context.Background()
			target := api.MongoTarget{Collection: "nsrs", Filter: map[string]any{"_id": nsrID}, Path: path}

			when := time.Unix(1700000000, 250000000)
			start := time.Now()
			err := m.Write(ctx, target, Update{Operation: api.KindInstall, Status: "Install complete", Detailed: detailedFixture("Install complete"), Time: when})
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			t.Logf("write round trip: %v (FerretDB started in %v)", time.Since(start), ferretStart)

			doc := readNSR(t, m, nsrID)
			entries := k8s(t, doc)
			if len(entries) != 2 {
				t.Fatalf("K8s has %d entries", len(entries))
			}
			want0 := map[string]any{"member-vnf-index": "1", "kdu-name": "ldap", "kdu-instance": "ldap-0012"}
			if fmt.Sprint(entries[0]) != fmt.Sprint(want0) {
				t.Errorf("K8s.0 changed: %v", entries[0])
			}
			e1 := entries[1]
			if len(e1) != 7 {
				t.Errorf("K8s.1 has %d fields, want 3 + 4: %v", len(e1), e1)
			}
			for k, v := range map[string]string{"member-vnf-index": "2", "kdu-name": "mongo", "kdu-instance": "mongo-0034", "operation": "install", "status": "Install complete", "status-time": "1700000000.25"} {
				if e1[k] != v {
					t.Errorf("K8s.1.%s = %#v, want %q", k, e1[k], v)
				}
			}
			ds, ok := e1["detailed-status"].(string)
			if !ok {
				t.Fatalf("detailed-status is %T, want a string", e1["detailed-status"])
			}
			if strings.Contains(ds, "\n") || strings.Contains(ds, ": ") || !strings.Contains(ds, "<a&b>") {
				t.Errorf("detailed-status is not compact JSON without HTML escapes: %s", ds)
			}
			var det map[string]any
			if err := json.Unmarshal([]byte(ds), &det); err != nil {
				t.Fatalf("detailed-status is not JSON: %v: %s", err, ds)
			}
			if det["name"] != "ldap-0012" || det["info"].(map[string]any)["description"] != "Install complete" || det["version"] != 2.0 {
				t.Errorf("detailed-status content = %v", det)
			}
			// Other fields untouched.
			if doc["name"] != "ldap-ns" || doc["nsState"] != "READY" || doc["_admin"].(map[string]any)["nsState"] != "INSTANTIATED" {
				t.Errorf("other fields changed: %v", doc)
			}
			if vca := doc["_admin"].(map[string]any)["deployed"].(map[string]any)["VCA"]; fmt.Sprint(vca) != "[]" {
				t.Errorf("VCA changed: %v", vca)
			}
			// The other nsr is untouched.
			if e := k8s(t, readNSR(t, m, "other-nsr"))[1]; len(e) != 3 {
				t.Errorf("other nsr changed: %v", e)
			}

			// A second write overwrites; a zero Time means now.
			before := float64(time.Now().UnixMicro()) / 1e6
			err = m.Write(ctx, target, Update{Operation: api.KindUpgrade, Status: "Upgrade complete", Detailed: detailedFixture("Upgrade complete")})
			if err != nil {
				t.Fatalf("second Write: %v", err)
			}
			after := float64(time.Now().UnixMicro()) / 1e6
			e1 = k8s(t, readNSR(t, m, nsrID))[1]
			if e1["operation"] != "upgrade" || e1["status"] != "Upgrade complete" || len(e1) != 7 {
				t.Errorf("after second write K8s.1 = %v", e1)
			}
			if !strings.Contains(e1["detailed-status"].(string), `"description":"Upgrade complete"`) {
				t.Errorf("detailed-status not overwritten: %v", e1["detailed-status"])
			}
			st, err := strconv.ParseFloat(e1["status-time"].(string), 64)
			if err != nil {
				t.Fatalf("status-time %q: %v", e1["status-time"], err)
			}
			if st < before || st > after {
				t.Errorf("status-time %f not within [%f, %f]", st, before, after)
			}
		})
	}
}

func TestMongoWriteNoDocument(t *testing.T) {
	m := testMongo(t)
	insertNSR(t, m, nsrID)
	ctx := context.Background()
	target := api.MongoTarget{Collection: "nsrs", Filter: map[string]any{"_id": "no-such-nsr"}, Path: "_admin.deployed.K8s.0"}
	err := m.Write(ctx, target, Update{Operation: api.KindInstall, Status: "Install complete"})
	if !errors.Is(err, ErrNoDocument) {
		t.Fatalf("Write = %v, want ErrNoDocument", err)
	}
	if !strings.Contains(err.Error(), `"nsrs"`) {
		t.Errorf("error %q does not name the collection", err)
	}
	n, err := m.db.Collection("nsrs").CountDocuments(ctx, bson.D{})
	if err != nil || n != 1 {
		t.Fatalf("documents = %d, %v; want 1 (no upsert)", n, err)
	}
	// Also for a collection that does not exist.
	target.Collection = "nope"
	if err := m.Write(ctx, target, Update{}); !errors.Is(err, ErrNoDocument) {
		t.Fatalf("Write to missing collection = %v, want ErrNoDocument", err)
	}
}

func TestMongoWriteFilterTypes(t *testing.T) {
	m := testMongo(t)
	ctx := context.Background()
	_, err := m.db.Collection("nsrs").InsertOne(ctx, bson.D{{Key: "_id", Value: "n1"}, {Key: "n", Value: int32(7)}, {Key: "ok", Value: true}, {Key: "_admin", Value: bson.D{{Key: "x", Value: "y"}}}})
	if err != nil {
		t.Fatal(err)
	}
	target := api.MongoTarget{Collection: "nsrs", Filter: map[string]any{"n": json.Number("7"), "ok": true, "_admin.x": "y"}, Path: "st"}
	if err := m.Write(ctx, target, Update{Operation: "scale", Status: "s"}); err != nil {
		t.Fatalf("Write with json.Number/bool/dotted filter: %v", err)
	}
	target.Filter = map[string]any{"n": 7.0}
	if err := m.Write(ctx, target, Update{Operation: "scale", Status: "s"}); err != nil {
		t.Fatalf("Write with float filter: %v", err)
	}
}

func TestMongoWriteRefusesInvalidTarget(t *testing.T) {
	m := testMongo(t)
	insertNSR(t, m, nsrID)
	for _, target := range []api.MongoTarget{
		{Collection: "nsrs", Filter: map[string]any{"_id": map[string]any{"$ne": nil}}, Path: "a"},
		{Collection: "nsrs", Filter: map[string]any{"$where": "true"}, Path: "a"},
		{Collection: "nsrs", Filter: map[string]any{"_id": nsrID}, Path: "_admin.deployed.K8s.$"},
	} {
		if err := m.Write(context.Background(), target, Update{}); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("Write(%v) = %v, want ErrInvalidTarget", target, err)
		}
	}
}

func TestConnectRedactsURI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, uri := range []string{
		// Nothing listens on port 1: ping fails after the (short) selection timeout.
		"mongodb://kdu:pa55w0rd-xyz@127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200&authSource=pa55w0rd-xyz",
		"mongodb://kdu:pa55w0rd-xyz@127.0.0.1:1,127.0.0.1:2/?serverSelectionTimeoutMS=200&replicaSet=rs",
		"mongodb://kdu:pa55w0rd-xyz@@/bad", // invalid
		"nonsense-pa55w0rd-xyz",
	} {
		m, err := Connect(ctx, uri, "osm")
		if err == nil {
			_ = m.Close(ctx)
			t.Fatalf("Connect(%q) succeeded", RedactURI(uri))
		}
		if strings.Contains(err.Error(), "pa55w0rd") {
			t.Errorf("error shows the password: %v", err)
		}
		t.Logf("redacted error: %v", err)
	}
}

func TestRedactURI(t *testing.T) {
	tests := map[string]string{
		"mongodb://u:p@h:27017/osm?authSource=admin": "mongodb://xxxxx@h:27017/osm",
		"mongodb://h1,h2/osm":                        "mongodb://h1,h2/osm",
		"mongodb+srv://u:p@@cluster/":                "mongodb+srv://xxxxx@cluster/",
		"garbage":                                    "(unparsable URI)",
	}
	for in, want := range tests {
		if got := RedactURI(in); got != want {
			t.Errorf("RedactURI(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDispatcherMongo runs mongo targets through the Dispatcher: delivery, ErrNoDocument reported through
// OnResult, and ErrNoMongo without a writer.
func TestDispatcherMongo(t *testing.T) {
	m := testMongo(t)
	insertNSR(t, m, nsrID)
	rec := newRecorder()
	d := &Dispatcher{Mongo: m, OnResult: rec.result, Logger: discardLogger()}
	defer closeDispatcher(t, d)

	good := api.StatusTarget{Mongo: &api.MongoTarget{Collection: "nsrs", Filter: map[string]any{"_id": nsrID}, Path: "_admin.deployed.K8s.0"}}
	missing := api.StatusTarget{Mongo: &api.MongoTarget{Collection: "nsrs", Filter: map[string]any{"_id": "gone"}, Path: "_admin.deployed.K8s.0"}}
	targets := []api.StatusTarget{good, missing}
	for v := int64(1); v <= 5; v++ {
		d.Publish("op-1", targets, api.Operation{ID: "op-1", Version: v}, Update{Operation: api.KindInstall, Status: fmt.Sprintf("waiting: %d/5 ready", v), Detailed: map[string]any{"v": v}})
	}
	flush(t, d, "op-1")
	e0 := k8s(t, readNSR(t, m, nsrID))[0]
	if e0["status"] != "waiting: 5/5 ready" || e0["detailed-status"] != `{"v":5}` {
		t.Errorf("K8s.0 = %v, want the last update", e0)
	}
	if errs := rec.errs("op-1", 0); len(errs) == 0 || errs[len(errs)-1] != nil {
		t.Errorf("target 0 results = %v, want deliveries", errs)
	}
	errs := rec.errs("op-1", 1)
	if len(errs) == 0 {
		t.Fatal("target 1: no result")
	}
	for _, err := range errs {
		if !errors.Is(err, ErrNoDocument) || errors.Is(err, ErrGaveUp) {
			t.Errorf("target 1 result = %v, want ErrNoDocument without retries", err)
		}
	}

	d2 := &Dispatcher{OnResult: rec.result, Logger: discardLogger()}
	defer closeDispatcher(t, d2)
	d2.Publish("op-2", []api.StatusTarget{good}, api.Operation{ID: "op-2", Version: 1}, Update{})
	flush(t, d2, "op-2")
	if errs := rec.errs("op-2", 0); len(errs) != 1 || !errors.Is(errs[0], ErrNoMongo) {
		t.Errorf("nil Mongo results = %v, want ErrNoMongo", errs)
	}
}
