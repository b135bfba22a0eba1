package api

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{`"90s"`: 90 * time.Second, `"5m"`: 5 * time.Minute, `300`: 300 * time.Second, `1.5`: 1500 * time.Millisecond, `0`: 0} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s: %v %v, want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{`"soon"`, `"5"`, `true`, `1e300`, `"1h"x`} {
		var d Duration
		err := json.Unmarshal([]byte(in), &d)
		var de *DurationError
		if err == nil || (in != `"1h"x` && in != `true` && !errors.As(err, &de)) {
			t.Errorf("%s: error %v, want a DurationError", in, err)
		}
	}
	b, _ := json.Marshal(Duration(90 * time.Second))
	if string(b) != `"1m30s"` {
		t.Errorf("marshal: %s", b)
	}
	var nilD *Duration
	if nilD.Std(time.Minute) != time.Minute {
		t.Error("nil Std")
	}
}

func FuzzDuration(f *testing.F) {
	for _, s := range []string{`"90s"`, `300`, `-1`, `"-5m"`, `1e308`, `"9999999999h"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d Duration
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || back != d {
			t.Fatalf("%s → %s → %v (%v)", s, b, time.Duration(back), err)
		}
	})
}
