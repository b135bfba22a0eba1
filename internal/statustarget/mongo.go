package statustarget

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kdu-io/kdu/api"
)

// ErrNoDocument is returned (wrapped, naming the collection) by Mongo.Write when the target's filter matches
// no document: like OSM's fail_on_empty, the write is an error and no document is created.
var ErrNoDocument = errors.New("status write matched no document")

// Default timeouts of Connect. A URI's own connectTimeoutMS, serverSelectionTimeoutMS or timeoutMS win.
const (
	DefaultMongoConnectTimeout   = 10 * time.Second
	DefaultMongoSelectTimeout    = 10 * time.Second
	DefaultMongoOperationTimeout = 15 * time.Second
)

// Mongo writes status updates to OSM-style MongoDB locations (docs/n2vc.md#write_app_status_to_db). It is
// safe for concurrent use.
type Mongo struct {
	client *mongo.Client
	db     *mongo.Database
	owned  bool
}

// NewMongo returns a writer over an existing client and database; Close does not disconnect the client.
func NewMongo(client *mongo.Client, database string) *Mongo {
	return &Mongo{client: client, db: client.Database(database)}
}

// Connect connects to the MongoDB server at uri, checks it answers a ping (bounded by ctx and
// DefaultMongoSelectTimeout) and returns a writer to database. The URI may hold a password: it is never
// logged, and errors show it only with user-info and query removed (the returned errors still unwrap to the
// driver's errors for errors.Is/As). Close disconnects.
func Connect(ctx context.Context, uri, database string) (*Mongo, error) {
	if database == "" {
		return nil, errors.New("status: mongo database name is empty")
	}
	opts := options.Client().
		SetConnectTimeout(DefaultMongoConnectTimeout).
		SetServerSelectionTimeout(DefaultMongoSelectTimeout).
		SetTimeout(DefaultMongoOperationTimeout).
		SetAppName("kdu").
		ApplyURI(uri)
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, redactErr(uri, "connect to", err)
	}
	pctx, cancel := context.WithTimeout(ctx, DefaultMongoSelectTimeout)
	defer cancel()
	if err := client.Ping(pctx, nil); err != nil {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = client.Disconnect(dctx)
		dcancel()
		return nil, redactErr(uri, "ping", err)
	}
	return &Mongo{client: client, db: client.Database(database), owned: true}, nil
}

// Close disconnects the client if Connect made it.
func (m *Mongo) Close(ctx context.Context) error {
	if !m.owned {
		return nil
	}
	return m.client.Disconnect(ctx)
}

// Write performs one UpdateOne on t.Collection, in the document matching t.Filter, with $set of
// <path>.operation, <path>.status, <path>.detailed-status (u.Detailed as compact JSON text: OSM stores a
// string there) and <path>.status-time (epoch seconds as a string, like Python's str(time.time())). One
// trailing '.' of t.Path is ignored. A filter that matches no document gives an error wrapping ErrNoDocument;
// an invalid target gives a *TargetError (Field relative to the target, as from ValidateTarget); a nil *Mongo
// gives ErrNoMongo.
func (m *Mongo) Write(ctx context.Context, t api.MongoTarget, u Update) error {
	if m == nil || m.db == nil {
		return fmt.Errorf("status: collection %q: %w", t.Collection, ErrNoMongo)
	}
	if err := validateMongo(&t); err != nil {
		return err
	}
	segs, err := ParsePath(t.Path)
	if err != nil {
		return err
	}
	detailed, err := compactJSON(u.Detailed)
	if err != nil {
		return fmt.Errorf("status: detailed status of collection %q write: %w", t.Collection, err)
	}
	when := u.Time
	if when.IsZero() {
		when = time.Now()
	}
	prefix := strings.Join(segs, ".") + "."
	set := bson.D{
		{Key: prefix + "operation", Value: u.Operation},
		{Key: prefix + "status", Value: u.Status},
		{Key: prefix + "detailed-status", Value: detailed},
		{Key: prefix + "status-time", Value: statusTime(when)},
	}
	filter := make(bson.D, 0, len(t.Filter))
	for _, k := range sortedKeys(t.Filter) {
		filter = append(filter, bson.E{Key: k, Value: bsonScalar(t.Filter[k])})
	}
	res, err := m.db.Collection(t.Collection).UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return fmt.Errorf("status: update in collection %q: %w", t.Collection, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("status: collection %q: %w", t.Collection, ErrNoDocument)
	}
	return nil
}

// compactJSON marshals v as compact JSON without HTML escaping.
func compactJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	// Encode compacts json.RawMessage and json.Marshaler output too.
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// bsonScalar turns a JSON-decoded filter value into its natural BSON value.
func bsonScalar(v any) any {
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i
		}
		f, _ := n.Float64()
		return f
	}
	return v
}

// redactedError carries a message free of the URI's secrets and unwraps to the original error.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr builds an error about uri whose text shows the URI without user-info or query and has every
// occurrence of the URI, its user-info and its password scrubbed from err's text.
func redactErr(uri, what string, err error) error {
	msg := err.Error()
	for _, s := range uriSecrets(uri) {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return &redactedError{msg: fmt.Sprintf("status: %s MongoDB at %s: %s", what, RedactURI(uri), msg), err: err}
}

// RedactURI returns a MongoDB URI without user-info, query or fragment ("mongodb://xxxxx@host:27017/db"), for
// messages. It copes with URIs that net/url cannot parse (several hosts).
func RedactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "(unparsable URI)"
	}
	rest, _, _ = strings.Cut(rest, "?")
	rest, _, _ = strings.Cut(rest, "#")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "xxxxx@" + rest[at+1:]
	}
	return scheme + "://" + rest
}

// uriSecrets lists the substrings of uri that must not appear in messages, longest first.
func uriSecrets(uri string) []string {
	out := []string{uri}
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return out
	}
	if q := strings.IndexAny(rest, "?#"); q >= 0 {
		if rest[q+1:] != "" {
			out = append(out, rest[q+1:])
		}
		rest = rest[:q]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return out
	}
	userinfo := rest[:at]
	out = append(out, userinfo)
	if _, pw, ok := strings.Cut(userinfo, ":"); ok && pw != "" {
		out = append(out, pw)
		if dec, err := url.PathUnescape(pw); err == nil && dec != pw && dec != "" {
			out = append(out, dec)
		}
	}
	return out
}
