package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/problem"
	"github.com/tenantkit/tenantkit/internal/settings"
)

// MergePatchType is the media type of an RFC 7396 JSON Merge Patch.
const MergePatchType = "application/merge-patch+json"

// Settings are a tenant's settings as the API shows them: the stored
// values with the schema's defaults filled in, and the version of the
// stored document (0: never written), whose ETag If-Match takes.
type Settings struct {
	Settings json.RawMessage `json:"settings"`
	Version  int64           `json:"version"`
}

// settingsView fills in schema's defaults; without a schema, settings are
// what is stored.
func settingsView(schema *settings.Schema, st catalog.StoredSettings) (Settings, error) {
	doc := st.Doc
	if len(bytes.TrimSpace(doc)) == 0 {
		doc = json.RawMessage("{}")
	}
	if schema != nil {
		filled, err := schema.WithDefaults(doc)
		if err != nil {
			return Settings{}, err
		}
		doc = filled
	}
	return Settings{Settings: doc, Version: st.Version}, nil
}

// GetSettings returns tenant ref's settings with schema's defaults (nil:
// none) filled in.
func GetSettings(ctx context.Context, s *catalog.Store, schema *settings.Schema, ref string) (Settings, error) {
	_, st, err := s.GetSettings(ctx, ref)
	if err != nil {
		return Settings{}, err
	}
	return settingsView(schema, st)
}

// PatchSettings applies a JSON Merge Patch (RFC 7396) to tenant ref's
// stored settings, not to the defaulted ones, so a null reverts a setting
// to its default. The result must satisfy schema (nil: any JSON object),
// or the write is refused with a *settings.ValidationError naming every
// failing field. When ifVersion is not nil, the stored version must be it,
// or catalog.ErrVersionMismatch. The write is audited with its diff. It
// returns the new settings with defaults filled in.
func PatchSettings(ctx context.Context, s *catalog.Store, schema *settings.Schema, actor, ref string, ifVersion *int64, patch []byte) (Settings, error) {
	_, st, err := s.UpdateSettings(ctx, actor, ref, ifVersion, func(cur json.RawMessage) (json.RawMessage, any, error) {
		next, err := settings.MergePatch(cur, patch)
		if err != nil {
			return nil, nil, err
		}
		if schema != nil {
			if err := schema.Validate(next); err != nil {
				return nil, nil, err
			}
		}
		changes, err := settings.Diff(cur, next)
		if err != nil {
			return nil, nil, err
		}
		if changes == nil {
			changes = []settings.Change{}
		}
		return next, changes, nil
	})
	if err != nil {
		return Settings{}, err
	}
	return settingsView(schema, st)
}

// settingsProblem maps the errors of the settings package.
func settingsProblem(err error) *problem.Problem {
	var ve *settings.ValidationError
	switch {
	case errors.As(err, &ve):
		p := problem.New(http.StatusUnprocessableEntity, problem.InvalidSettings, "invalid settings")
		for _, f := range ve.Errors {
			p.Errors = append(p.Errors, problem.FieldError{Pointer: f.Pointer, Detail: f.Message})
		}
		return p
	case errors.Is(err, settings.ErrInvalidJSON), errors.Is(err, settings.ErrNotObject):
		return problem.New(http.StatusBadRequest, problem.MalformedJSON, strings.ReplaceAll(err.Error(), "settings: ", ""))
	}
	return nil
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request) {
	out, err := GetSettings(r.Context(), a.store, a.schema, r.PathValue("ref"))
	a.respondSettings(w, r, out, err)
}

func (a *API) respondSettings(w http.ResponseWriter, r *http.Request, out Settings, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", settings.ETag(out.Version))
	w.Header().Set("Accept-Patch", MergePatchType)
	writeJSON(w, http.StatusOK, out)
}

// patchSettings applies a merge patch to a tenant's settings, under
// If-Match when given.
func (a *API) patchSettings(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != MergePatchType && mt != "application/json") {
			w.Header().Set("Accept-Patch", MergePatchType)
			problem.Write(w, r, problem.New(http.StatusUnsupportedMediaType, problem.UnsupportedMedia, "send "+MergePatchType+" (or application/json)"))
			return
		}
	}
	ref := r.PathValue("ref")
	ifVersion, ok := a.ifMatch(w, r, ref)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, problem.RequestTooLarge, "request body over 1 MiB"))
		return
	case err != nil:
		problem.Write(w, r, problem.New(http.StatusBadRequest, problem.MalformedJSON, "reading the body: "+err.Error()))
		return
	case len(bytes.TrimSpace(body)) == 0:
		problem.Write(w, r, problem.New(http.StatusBadRequest, problem.MalformedJSON, "request body is empty; send a JSON merge patch"))
		return
	}
	out, err := PatchSettings(r.Context(), a.store, a.schema, actor(r), ref, ifVersion, body)
	a.respondSettings(w, r, out, err)
}

// ifMatch reads If-Match as the version the write expects: nil without
// one or with "*" (a tenant's settings always exist). Of a list, the
// stored version is expected when the list holds it. A value that is not
// a list of this API's strong entity tags is 400 bad-etag.
func (a *API) ifMatch(w http.ResponseWriter, r *http.Request, ref string) (*int64, bool) {
	h := strings.TrimSpace(strings.Join(r.Header.Values("If-Match"), ","))
	if h == "" || h == "*" {
		return nil, true
	}
	var versions []int64
	for _, tag := range strings.Split(h, ",") {
		v, ok := settings.ParseETag(tag)
		if !ok {
			problem.Write(w, r, problem.New(http.StatusBadRequest, problem.BadETag,
				`If-Match must hold entity tags of these settings, as their ETag gives them, such as "v3"; weak tags never match`))
			return nil, false
		}
		versions = append(versions, v)
	}
	if len(versions) > 1 {
		_, st, err := a.store.GetSettings(r.Context(), ref)
		if err != nil {
			a.fail(w, r, err)
			return nil, false
		}
		for _, v := range versions {
			if v == st.Version {
				return &v, true
			}
		}
	}
	return &versions[0], true
}
