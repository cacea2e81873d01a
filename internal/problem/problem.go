package problem

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
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
	// LimitExceeded refuses a plan or limit change the tenant's current
	// usage violates; Problem.Violations lists how.
	LimitExceeded = "limit-exceeded"
	PlanNotFound  = "plan-not-found"
	PlanExists    = "plan-exists"
	PlanInUse     = "plan-in-use"
	FlagNotFound  = "flag-not-found"
	FlagExists    = "flag-exists"
	// PreconditionFailed refuses a write whose If-Match no longer matches.
	PreconditionFailed = "precondition-failed"
	// InvalidSettings lists, in Problem.Errors, every way a settings
	// document breaks its schema, each with a JSON pointer.
	InvalidSettings = "invalid-settings"
	// BadETag refuses an If-Match that is not an entity tag of the resource.
	BadETag = "bad-etag"
	// Integrations (issue 6).
	InvalidIntegration    = "invalid-integration"
	NoIntegration         = "no-integration"
	IntegrationTestFailed = "integration-test-failed"
	// Jobs.
	JobNotFound = "job-not-found"
	// JobState refuses what a job's state does not allow (retrying a
	// pending job).
	JobState = "job-state"
	// BadSignature refuses a webhook whose signature does not verify.
	BadSignature = "bad-signature"
	// BillingNotReady refuses a Stripe page for a tenant billing has not
	// synced yet.
	BillingNotReady = "billing-not-ready"
	// DomainProofMissing refuses to verify a domain whose DNS proof
	// record is absent or holds another value.
	DomainProofMissing = "domain-proof-missing"
	// DNSUnavailable answers a verify the resolver did not answer.
	DNSUnavailable = "dns-unavailable"
	// InvalidImage refuses an uploaded logo or favicon whose bytes are not
	// an image of the type it was sent as.
	InvalidImage = "invalid-image"
	// NoStorage refuses an upload for a tenant with no storage of its own
	// and no platform default.
	NoStorage = "no-storage"
)

// FieldError names one invalid field: by name with a message (problems of
// kind InvalidFields), or by RFC 6901 JSON pointer with a detail (kind
// InvalidSettings).
type FieldError struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message,omitempty"`
	// Pointer is "" for the document itself, so it is written whenever
	// Detail is.
	Pointer string `json:"pointer,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// MarshalJSON writes a field error in one of its two forms: {"field",
// "message"} or {"pointer", "detail"}.
func (f FieldError) MarshalJSON() ([]byte, error) {
	if f.Detail != "" {
		return json.Marshal(struct {
			Pointer string `json:"pointer"`
			Detail  string `json:"detail"`
		}{f.Pointer, f.Detail})
	}
	return json.Marshal(struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	}{f.Field, f.Message})
}

func (f FieldError) String() string {
	if f.Detail != "" {
		p := f.Pointer
		if p == "" {
			p = "(root)"
		}
		return p + ": " + f.Detail
	}
	return f.Field + " " + f.Message
}

// Violation is one limit a tenant's current usage exceeds.
type Violation struct {
	Limit   string `json:"limit"`
	Usage   string `json:"usage"`
	Current int64  `json:"current"`
	Allowed int64  `json:"allowed"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s is %d but %s allows %d", v.Usage, v.Current, v.Limit, v.Allowed)
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
	// Violations are the limits a change would break, for LimitExceeded.
	Violations []Violation `json:"violations,omitempty"`
	// Record and Found are the DNS record a domain proof was looked up at
	// and the values it holds, for DomainProofMissing.
	Record string   `json:"record,omitempty"`
	Found  []string `json:"found,omitempty"`
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
	parts := make([]string, len(p.Errors))
	for i, f := range p.Errors {
		parts[i] = f.String()
	}
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, "; ")
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
