package mongotest_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kdu-io/kdu/internal/testkit/mongotest"
)

func TestNew(t *testing.T) {
	start := time.Now()
	uri := mongotest.New(t)
	t.Logf("FerretDB started in %v at %s", time.Since(start), uri)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) }) // runs before the server stops
	coll := client.Database("osm").Collection("nsrs")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	var got struct{ X int }
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&got); err != nil || got.X != 1 {
		t.Fatalf("FindOne = %+v, %v", got, err)
	}
}

func TestStartErrors(t *testing.T) {
	if _, _, err := mongotest.Start(""); err == nil {
		t.Error("Start(\"\") succeeded")
	}
	if _, _, err := mongotest.Start(t.TempDir() + "/missing"); err == nil {
		t.Error("Start(missing dir) succeeded")
	}
}

func TestStopTwice(t *testing.T) {
	_, stop, err := mongotest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stop()
	stop()
}
