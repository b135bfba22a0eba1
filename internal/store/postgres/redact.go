package postgres

import (
	"net/url"
	"regexp"
	"strings"
)

// redacted replaces passwords in what this package shows.
const redacted = "xxxxx"

var (
	// kvPassword matches password=... in a keyword/value connection string or a URL query, quoted or not.
	kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)`)
	// urlUserinfo matches the password part of scheme://user:password@ in a string that net/url cannot parse.
	urlUserinfo = regexp.MustCompile(`(://[^:/@\s]*:)([^@\s]*)@`)
)

// RedactURL returns the connection string with its passwords replaced, for logs and messages. It accepts
// postgres:// URLs and keyword/value strings, well-formed or not.
func RedactURL(conn string) string {
	if u, err := url.Parse(conn); err == nil && u.Scheme != "" && u.Opaque == "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
		if q := u.Query(); q.Has("password") {
			q.Set("password", redacted)
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	s := urlUserinfo.ReplaceAllString(conn, "${1}"+redacted+"@")
	return kvPassword.ReplaceAllString(s, "${1}"+redacted)
}

// passwords returns the passwords that conn carries, in every spelling an error message might quote them (raw,
// URL-decoded, unquoted), longest first.
func passwords(conn string) []string {
	var out []string
	add := func(p string) {
		if p != "" && p != redacted {
			out = append(out, p)
		}
	}
	if u, err := url.Parse(conn); err == nil {
		if p, has := u.User.Password(); has {
			add(p)
			add(url.UserPassword("", p).String()[1:]) // the escaped form
		}
		for _, p := range u.Query()["password"] {
			add(p)
		}
	}
	for _, m := range urlUserinfo.FindAllStringSubmatch(conn, -1) {
		add(m[2])
		if p, err := url.PathUnescape(m[2]); err == nil {
			add(p)
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(conn, -1) {
		add(m[2])
		add(strings.Trim(m[2], "'"))
		if p, err := url.QueryUnescape(m[2]); err == nil {
			add(p)
		}
	}
	// Longest first, so that a password containing another is replaced whole.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// scrubbedError hides passwords in an error's text and keeps the error chain for errors.Is and errors.As.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub returns err with every password in secrets replaced in its text (nil stays nil).
func scrub(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, p := range secrets {
		clean = strings.ReplaceAll(clean, p, redacted)
	}
	clean = kvPassword.ReplaceAllString(clean, "${1}"+redacted)
	clean = urlUserinfo.ReplaceAllString(clean, "${1}"+redacted+"@")
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}
