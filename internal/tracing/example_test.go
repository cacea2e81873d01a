package tracing_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/tenantkit/tenantkit/internal/tracing"
)

// A middleware opens the request's span before routing and names it after
// the matched pattern afterwards. With no endpoint configured, New returns
// a nil *Tracing and the same code runs with tracing off.
func ExampleTracing_StartRequest() {
	tr, err := tracing.New(tracing.Config{}) // no Endpoint: tracing off
	if err != nil {
		panic(err)
	}
	tenant := tracing.TenantAttributes("0192d3c4-acme", "acme", "shared", "pro")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, end := tr.StartTx(r.Context(), tenant)
		end(nil) // the transaction's error
		_, _ = io.WriteString(w, "order "+r.PathValue("id"))
	})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tr.StartRequest(r)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		mux.ServeHTTP(sw, r)
		tr.EndRequest(span, r.Pattern, sw.status, tenant) // r.Pattern is "GET /orders/{id}"
	})

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/orders/42", nil))
	fmt.Println(rec.Code, rec.Body.String(), tr == nil)
	// Output: 200 order 42 true
}

func ExampleTenantAttributes() {
	for _, kv := range tracing.TenantAttributes("0192d3c4-acme", "acme", "shared", "pro") {
		fmt.Printf("%s=%s\n", kv.Key, kv.Value.AsString())
	}
	// Output:
	// tenant.id=0192d3c4-acme
	// tenant.slug=acme
	// tenant.tier=shared
	// tenant.plan=pro
}
