package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// ContentType is the media type of a problem document.
const ContentType = "application/problem+json"

// TypePrefix starts every tenantkit problem type URI.
const TypePrefix = "urn:tenantkit:problem:"

// Kinds of problems. Each has a stable type URI: TypePrefix + kind.
const (
	MalformedJSON    = "malformed-json"
	InvalidFields    = "invalid-fields"
	TenantNotFound   = "tenant-not-found"
	TenantSuspended  = "tenant-suspended"
	TenantConflict   = "tenant-conflict"
	TenantDeleted    = "tenant-deleted"
	SlugTaken        = "slug-taken"
	DomainTaken      = "domain-taken"
	DomainNotFound   = "domain-not-found"
	Unauthorized     = "unauthorized"
	InvalidToken     = "invalid-token"
	NotFound         = "not-found"
	MethodNotAllowed = "method-not-allowed"
	UnsupportedMedia = "unsupported-media-type"
	Internal         = "internal"
	Unavailable      = "unavailable"
	RequestTooLarge  = "request-too-large"
	NotImplemented   = "not-implemented"
	ClusterNotFound  = "cluster-not-found"
	ClusterExists    = "cluster-exists"
	ClusterInUse     = "cluster-in-use"
	NoCluster        = "no-cluster"
	AlreadyPlaced    = "already-placed"
	NotPlaced        = "not-placed"
	MoveNotFound     = "move-not-found"
	MoveInProgress   = "move-in-progress"
	SamePlacement    = "same-placement"
	MoveState        = "move-state"
)

// FieldError names one invalid field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem details document.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
	// Reason is a suspension reason, for TenantSuspended.
	Reason string `json:"reason,omitempty"`
}

// New returns a problem of kind with an HTTP status and a human detail.
func New(status int, kind, detail string) *Problem {
	return &Problem{Type: TypePrefix + kind, Title: http.StatusText(status), Status: status, Detail: detail}
}

// Write sends p as the response.
func Write(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	b, err := json.Marshal(p)
	if err != nil {
		b = []byte(`{"type":"` + TypePrefix + Internal + `","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(b, '\n'))
}

// Error renders the problem as one line: the detail and each field error.
func (p *Problem) Error() string {
	s := p.Detail
	if s == "" {
		s = p.Title
	}
	for i, f := range p.Errors {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		s += sep + f.Field + " " + f.Message
	}
	return s
}

// Kind is the problem's kind: its type without TypePrefix.
func (p *Problem) Kind() string {
	if len(p.Type) > len(TypePrefix) && p.Type[:len(TypePrefix)] == TypePrefix {
		return p.Type[len(TypePrefix):]
	}
	return p.Type
}
