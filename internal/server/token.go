package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/cssc-project/cssc/internal/audit"
	"github.com/cssc-project/cssc/internal/auth"
)

// tokenHandler is the token endpoint of the Docker registry token flow:
// GET with Basic credentials (or none: an anonymous token), or the OAuth2
// POST form (grant_type password or refresh_token). It issues a
// short-lived token for the subset of the requested scopes the caller holds.
func (s *Server) tokenHandler(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, msg string) { writeAPIError(w, status, code, msg) }
	if s.auth.Open() {
		fail(http.StatusNotFound, "UNSUPPORTED", "open mode: this server needs no tokens (run `cssc admin init` to turn authentication on)")
		return
	}
	var (
		p       *auth.Principal
		err     error
		scopes  []string
		refresh bool
		login   bool
	)
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		scopes = q["scope"]
		refresh, _ = strconv.ParseBool(q.Get("offline_token"))
		var ok bool
		if p, ok = s.authenticate(w, r, fail); !ok {
			return
		}
		login = r.Header.Get("Authorization") != ""
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			fail(http.StatusBadRequest, "UNSUPPORTED", "token request: "+err.Error())
			return
		}
		scopes = r.PostForm["scope"]
		refresh = r.PostForm.Get("access_type") == "offline"
		switch r.PostForm.Get("grant_type") {
		case "password":
			p, err = s.auth.Login(r.Context(), r.PostForm.Get("username"), r.PostForm.Get("password"), r.RemoteAddr)
		case "refresh_token":
			p, err = s.auth.Refresh(r.Context(), r.PostForm.Get("refresh_token"))
		default:
			fail(http.StatusBadRequest, "UNSUPPORTED", "grant_type must be password or refresh_token")
			return
		}
		if err != nil {
			e := event(r, nil, "login")
			e.Actor, e.ActorKind, e.Decision, e.Reason = r.PostForm.Get("username"), "unknown", audit.Deny, err.Error()
			s.audit.RecordAsync(e)
			status := http.StatusUnauthorized
			if errors.Is(err, auth.ErrRateLimited) {
				status = http.StatusTooManyRequests
			} else if !errors.Is(err, auth.ErrBadCredentials) {
				s.log.ErrorContext(r.Context(), "token login", "err", err)
				status = http.StatusInternalServerError
			}
			fail(status, "UNAUTHORIZED", err.Error())
			return
		}
		login = true
	default:
		fail(http.StatusMethodNotAllowed, "UNSUPPORTED", "use GET or POST")
		return
	}
	if svc := r.FormValue("service"); svc != "" && svc != s.auth.ServiceName() {
		fail(http.StatusBadRequest, "UNSUPPORTED", "this token service is "+strconv.Quote(s.auth.ServiceName()))
		return
	}
	requested, err := auth.ParseScopes(scopes)
	if err != nil {
		fail(http.StatusBadRequest, "UNSUPPORTED", err.Error())
		return
	}
	granted := s.auth.Grant(p, requested)
	resp, err := s.auth.Issue(p, granted, refresh)
	if err != nil {
		s.log.ErrorContext(r.Context(), "issue token", "err", err)
		fail(http.StatusInternalServerError, "UNAVAILABLE", "could not issue a token")
		return
	}
	if login {
		e := event(r, p, "login")
		e.Decision, e.Target = audit.Allow, resp.Scope
		if _, err := s.audit.Record(r.Context(), e); err != nil {
			s.log.ErrorContext(r.Context(), "audit trail unavailable: refusing the login", "err", err)
			fail(http.StatusInternalServerError, "UNAVAILABLE", "the audit trail could not record this login; retry")
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// writeAPIError answers with an error body both API clients ({"error"})
// and registry clients ({"errors":[{code,message}]}) understand.
func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{
		"error":  msg,
		"errors": []map[string]string{{"code": code, "message": msg}},
	})
}
