package adminapi

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/tenantkit/tenantkit/internal/problem"
)

// Authenticated wraps h, served beside the API (/metrics, say), in the
// API's bearer-token check.
func (a *API) Authenticated(h http.Handler) http.Handler { return a.authenticate(h.ServeHTTP) }

// AuthenticatedBrowser wraps h, pages for people served beside the API
// (River's UI), in a check of the admin token that a browser can pass too:
// the token as a bearer token, or as the password of HTTP Basic
// authentication, whatever the user name. Without either, the answer is
// 401 with a Basic challenge, on which a browser asks for them.
func (a *API) AuthenticatedBrowser(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.browserToken(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="tenantkit"`)
			problem.Write(w, r, problem.New(http.StatusUnauthorized, problem.Unauthorized,
				"sign in with the admin token as the password"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// browserToken reports whether r carries the admin token, as a bearer
// token or as a Basic password.
func (a *API) browserToken(r *http.Request) bool {
	got, ok := "", false
	if _, pw, basic := r.BasicAuth(); basic {
		got, ok = pw, true
	} else if scheme, t, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
		got, ok = strings.TrimSpace(t), true
	}
	return ok && subtle.ConstantTimeCompare([]byte(got), a.token) == 1
}
