package client

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ProblemTypePrefix starts the type URI of every problem the admin API
// answers with; Error.Kind is the rest.
const ProblemTypePrefix = "urn:tenantkit:problem:"

// Error is an answer other than 2xx: the RFC 9457 problem details the
// server sent. Get it with errors.As:
//
//	var e *client.Error
//	if errors.As(err, &e) && e.Kind() == "tenant-not-found" { … }
type Error struct {
	// Type is a URI naming the kind of problem, ProblemTypePrefix + kind
	// for the admin API's; "about:blank" when the answer held no problem
	// details (a proxy's error page, say).
	Type string `json:"type"`
	// Title is a short summary of the kind of problem.
	Title string `json:"title"`
	// Status is the HTTP status of the answer.
	Status int `json:"status"`
	// Detail explains this occurrence, for people.
	Detail string `json:"detail,omitempty"`
	// Instance is the path of the request the problem is about.
	Instance string `json:"instance,omitempty"`
	// Errors name every invalid field, for kinds invalid-fields and
	// invalid-settings (422) among others.
	Errors []FieldError `json:"errors,omitempty"`
	// Violations are the limits a change would break, for kind
	// limit-exceeded (409).
	Violations []Violation `json:"violations,omitempty"`
	// Record and Found are, for kind domain-proof-missing (422), the DNS
	// record a domain's proof was looked up at and the values it holds.
	Record string   `json:"record,omitempty"`
	Found  []string `json:"found,omitempty"`
	// RetryAfter is the wait the answer's Retry-After header asked for;
	// zero without one.
	RetryAfter time.Duration `json:"-"`
}

// FieldError is one invalid field: named by Field with a Message (kind
// invalid-fields), or by an RFC 6901 JSON Pointer with a Detail (kind
// invalid-settings, whose Pointer is "" for the whole document).
type FieldError struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message,omitempty"`
	Pointer string `json:"pointer,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// Violation is one limit a tenant's current usage exceeds.
type Violation struct {
	Limit   string `json:"limit"`
	Usage   string `json:"usage"`
	Current int64  `json:"current"`
	Allowed int64  `json:"allowed"`
}

// String is the field error in words.
func (f FieldError) String() string {
	if f.Field == "" && f.Message == "" {
		p := f.Pointer
		if p == "" {
			p = "(root)"
		}
		return p + ": " + f.Detail
	}
	return f.Field + " " + f.Message
}

// Kind is the problem's type without ProblemTypePrefix, such as
// "tenant-not-found" or "invalid-fields".
func (e *Error) Kind() string { return strings.TrimPrefix(e.Type, ProblemTypePrefix) }

// Error renders the problem on one line: its detail, each field error,
// and its status and kind.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("admin API: ")
	b.WriteString(cmp.Or(e.Detail, e.Title, http.StatusText(e.Status), "error"))
	for i, f := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	fmt.Fprintf(&b, " (%d %s)", e.Status, e.Kind())
	return b.String()
}

// maxProblem bounds the problem document read from an answer.
const maxProblem = 1 << 20

// readError reads the problem details of an answer other than 2xx. An
// answer without them (not JSON, or JSON of something else) is a problem of
// type about:blank with the status's title.
func readError(resp *http.Response, now time.Time) *Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblem))
	e := &Error{}
	if json.Unmarshal(b, e) != nil || (e.Type == "" && e.Title == "" && e.Status == 0) {
		e = &Error{}
	}
	if e.Type == "" {
		e.Type = "about:blank"
	}
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	// The answer's status is the truth; the document's only repeats it.
	e.Status = resp.StatusCode
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	return e
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an
// HTTP-date (RFC 9110 §10.2.3). Zero when absent, invalid or past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		// Beyond a day is "not soon" for any caller; bounding it also
		// keeps the multiplication from overflowing.
		return time.Duration(min(n, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
