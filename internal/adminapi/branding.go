package adminapi

import (
	"net/http"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/problem"
	"github.com/tenantkit/tenantkit/internal/settings"
)

func (a *API) getBranding(w http.ResponseWriter, r *http.Request) {
	b, err := a.store.GetBranding(r.Context(), r.PathValue("ref"))
	a.respondBranding(w, r, b, err)
}

func (a *API) respondBranding(w http.ResponseWriter, r *http.Request, b catalog.Branding, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", settings.ETag(b.Version))
	writeJSON(w, http.StatusOK, b)
}

// putBranding replaces a tenant's branding, under If-Match when given
// ("v0" for a branding never written). What is stored is the canonical
// form: colours in hex, font names quoted, custom CSS sanitized.
func (a *API) putBranding(w http.ResponseWriter, r *http.Request) {
	var ifVersion *int64
	if h := r.Header.Get("If-Match"); h != "" && h != "*" {
		v, ok := settings.ParseETag(h)
		if !ok {
			problem.Write(w, r, problem.New(http.StatusBadRequest, problem.BadETag,
				`If-Match must hold the branding's entity tag, as its ETag gives it, such as "v3"; weak tags never match`))
			return
		}
		ifVersion = &v
	}
	var b catalog.Branding
	if !a.decode(w, r, &b) {
		return
	}
	b.Version = 0
	out, err := a.store.ReplaceBranding(r.Context(), actor(r), r.PathValue("ref"), b, ifVersion)
	a.respondBranding(w, r, out, err)
}
