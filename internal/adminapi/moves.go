package adminapi

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// createMove records a move of a tenant; a runner works it. The answer is
// 202: the move has only been asked for.
func (a *API) createMove(w http.ResponseWriter, r *http.Request) {
	if a.prov == nil {
		// Without the application's migrations this server runs no moves,
		// and a move asked of it would wait for a runner forever.
		a.noProvisioner(w, r)
		return
	}
	var p catalog.MoveParams
	if !a.decode(w, r, &p) {
		return
	}
	m, err := a.store.CreateMove(r.Context(), actor(r), r.PathValue("ref"), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/moves/"+m.ID.String())
	writeJSON(w, http.StatusAccepted, MoveView(m))
}

// listMoves lists the newest moves first, of one tenant with ?tenant=.
func (a *API) listMoves(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			a.fail(w, r, &catalog.ValidationError{Fields: []catalog.FieldError{{Field: "limit", Message: "must be a whole number between 1 and 500"}}})
			return
		}
		limit = n
	}
	ms, err := a.store.ListMoves(r.Context(), q.Get("tenant"), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]catalog.Move, len(ms))
	for i, m := range ms {
		out[i] = MoveView(m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"moves": out})
}

func (a *API) getMove(w http.ResponseWriter, r *http.Request) {
	id, ok := a.moveID(w, r)
	if !ok {
		return
	}
	m, err := a.store.GetMove(r.Context(), id)
	a.respondMove(w, r, http.StatusOK, m, err)
}

func (a *API) cancelMove(w http.ResponseWriter, r *http.Request) {
	id, ok := a.moveID(w, r)
	if !ok {
		return
	}
	m, err := a.store.RequestMoveCancel(r.Context(), actor(r), id)
	a.respondMove(w, r, http.StatusAccepted, m, err)
}

func (a *API) rollbackMove(w http.ResponseWriter, r *http.Request) {
	id, ok := a.moveID(w, r)
	if !ok {
		return
	}
	m, err := a.store.RequestMoveRollback(r.Context(), actor(r), id)
	a.respondMove(w, r, http.StatusAccepted, m, err)
}

// moveID reads the path's move id. One that is not a uuid names no move:
// 404, as an unknown tenant reference is.
func (a *API) moveID(w http.ResponseWriter, r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		a.fail(w, r, catalog.ErrMoveNotFound)
		return uuid.Nil, false
	}
	return id, true
}

func (a *API) respondMove(w http.ResponseWriter, r *http.Request, status int, m catalog.Move, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, status, MoveView(m))
}

// MoveView is a move as people see it: its last error without the
// passwords a connection error may quote.
func MoveView(m catalog.Move) catalog.Move {
	m.LastError = RedactText(m.LastError)
	return m
}

var (
	urlPassword = regexp.MustCompile(`(?i)(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@`)
	kvPassword  = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|[^\s&'"]+)`)
)

// RedactText masks the passwords of connection strings quoted in free
// text, URLs and key=value forms alike.
func RedactText(s string) string {
	if !strings.Contains(strings.ToLower(s), "password") && !strings.Contains(s, "@") {
		return s
	}
	s = urlPassword.ReplaceAllString(s, "${1}xxxxx@")
	return kvPassword.ReplaceAllString(s, "${1}xxxxx")
}
