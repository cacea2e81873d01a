package adminapi

import (
	"errors"
	"io"
	"net/http"

	"github.com/tenantkit/tenantkit/internal/brandasset"

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

// uploadAsset stores the request's body as the tenant's logo or favicon
// (see brandasset) and answers with the branding that now points at it.
func (a *API) uploadAsset(asset string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.assets.AssetHost() == "" {
			problem.Write(w, r, problem.New(http.StatusNotImplemented, problem.NotImplemented,
				"this server has no asset host: start it with --asset-host to take logos and favicons"))
			return
		}
		if !a.needRegistry(w, r) {
			return
		}
		if r.ContentLength > brandasset.MaxBytes {
			a.assetTooLarge(w, r)
			return
		}
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, brandasset.MaxBytes))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			a.assetTooLarge(w, r)
			return
		}
		if err != nil {
			problem.Write(w, r, problem.New(http.StatusBadRequest, problem.MalformedJSON, "reading the request body failed"))
			return
		}
		b, err := a.assets.Upload(r.Context(), actor(r), r.PathValue("ref"), asset, r.Header.Get("Content-Type"), data)
		a.respondBranding(w, r, b, err)
	}
}

func (a *API) assetTooLarge(w http.ResponseWriter, r *http.Request) {
	problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, problem.RequestTooLarge, "image over 1 MiB"))
}

// assetProblem maps brandasset's errors; ok is false for others.
func assetProblem(err error) (*problem.Problem, bool) {
	var ie *brandasset.ImageError
	switch {
	case errors.As(err, &ie) && ie.Unsupported:
		return problem.New(http.StatusUnsupportedMediaType, problem.UnsupportedMedia, ie.Error()), true
	case errors.As(err, &ie):
		return problem.New(http.StatusUnprocessableEntity, problem.InvalidImage, ie.Error()), true
	case errors.Is(err, brandasset.ErrTooLarge):
		return problem.New(http.StatusRequestEntityTooLarge, problem.RequestTooLarge, "image over 1 MiB"), true
	case errors.Is(err, brandasset.ErrNoAssetHost):
		return problem.New(http.StatusNotImplemented, problem.NotImplemented, userText(err)), true
	case errors.Is(err, brandasset.ErrNoRegistry):
		return problem.New(http.StatusNotImplemented, problem.NotImplemented, "this server has no integration registry: start it with a key file"), true
	case errors.Is(err, brandasset.ErrNoStorage):
		return problem.New(http.StatusConflict, problem.NoStorage,
			"the tenant has no storage integration and the platform has no default storage: set one before uploading"), true
	}
	return nil, false
}
