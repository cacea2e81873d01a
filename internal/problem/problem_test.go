package problem_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tenantkit/tenantkit/internal/problem"
)

func TestErrorIsOneLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		p    *problem.Problem
		want string
	}{
		{"detail only", problem.New(http.StatusNotFound, problem.PlanNotFound, "no such plan"), "no such plan"},
		{"title without detail", problem.New(http.StatusConflict, problem.PlanInUse, ""), "Conflict"},
		{"fields", &problem.Problem{Detail: "some fields are invalid", Errors: []problem.FieldError{
			{Field: "slug", Message: "is required"}, {Field: "plan", Message: "must be a known plan"},
		}}, "some fields are invalid: slug is required; plan must be a known plan"},
		{"pointers", &problem.Problem{Detail: "invalid settings", Errors: []problem.FieldError{
			{Pointer: "/tax_rate", Detail: "must be number, got string"}, {Pointer: "", Detail: "must have at least 1 properties, got 0"},
		}}, "invalid settings: /tax_rate: must be number, got string; (root): must have at least 1 properties, got 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.p.Error(); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestFieldErrorsKeepTheirForm(t *testing.T) {
	t.Parallel()
	p := problem.New(http.StatusUnprocessableEntity, problem.InvalidSettings, "invalid settings")
	p.Errors = []problem.FieldError{{Pointer: "/notifications/email_digest", Detail: "must be one of"}, {Pointer: "", Detail: "is wrong"}}
	p.Violations = []problem.Violation{{Limit: "max_users", Usage: "users", Current: 12, Allowed: 5}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	// The root pointer "" is written: it names the document.
	const wantErrors = `[{"pointer":"/notifications/email_digest","detail":"must be one of"},{"pointer":"","detail":"is wrong"}]`
	if string(raw["errors"]) != wantErrors {
		t.Fatalf("errors %s, want %s", raw["errors"], wantErrors)
	}
	if string(raw["violations"]) != `[{"limit":"max_users","usage":"users","current":12,"allowed":5}]` {
		t.Fatalf("violations %s", raw["violations"])
	}
	if raw["type"] == nil || string(raw["type"]) != `"urn:tenantkit:problem:invalid-settings"` {
		t.Fatalf("type %s", raw["type"])
	}

	fields := problem.New(http.StatusUnprocessableEntity, problem.InvalidFields, "some fields are invalid")
	fields.Errors = []problem.FieldError{{Field: "slug", Message: "is required"}}
	b, _ = json.Marshal(fields)
	raw = nil
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw["errors"]) != `[{"field":"slug","message":"is required"}]` {
		t.Fatalf("field errors %s", raw["errors"])
	}
	if _, ok := raw["violations"]; ok {
		t.Fatal("violations written without any")
	}

	// A client reads both forms back.
	var back problem.Problem
	if err := json.Unmarshal([]byte(`{"errors":[{"pointer":"","detail":"x"},{"field":"f","message":"m"}]}`), &back); err != nil {
		t.Fatal(err)
	}
	if back.Errors[0] != (problem.FieldError{Detail: "x"}) || back.Errors[1] != (problem.FieldError{Field: "f", Message: "m"}) {
		t.Fatalf("decoded %+v", back.Errors)
	}
}
