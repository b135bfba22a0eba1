package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string ("90s", "5m") or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return &DurationError{fmt.Sprintf("%q is not a duration such as \"90s\" or \"5m\"", s)}
		}
		*d = Duration(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return &DurationError{fmt.Sprintf("%s is not a duration: give a string such as \"90s\" or a number of seconds", b)}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > float64(math.MaxInt64/int64(time.Second)) {
		return &DurationError{fmt.Sprintf("%s seconds is out of range", b)}
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// Std returns the time.Duration, or def if d is nil.
func (d *Duration) Std(def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return time.Duration(*d)
}

// DurationError is a timeout that is not a duration. Every duration of the API is a field named "timeout".
type DurationError struct{ msg string }

func (e *DurationError) Error() string { return e.msg }
