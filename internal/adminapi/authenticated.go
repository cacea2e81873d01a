package adminapi

import "net/http"

// Authenticated wraps h, served beside the API (/metrics, say), in the
// API's bearer-token check.
func (a *API) Authenticated(h http.Handler) http.Handler { return a.authenticate(h.ServeHTTP) }
