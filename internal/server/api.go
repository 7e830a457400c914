package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/cssc-project/cssc/internal/audit"
	"github.com/cssc-project/cssc/internal/auth"
	"github.com/cssc-project/cssc/internal/store"
)

// apiHandler is the REST API (/api/v1): identities, tokens, keys, garbage
// collection and the audit trail. Every call is authenticated; all but a
// caller's own tokens and whoami need admin.
func (s *Server) apiHandler(auditAPI http.Handler) http.Handler {
	mux := http.NewServeMux()
	admin := func(h func(http.ResponseWriter, *http.Request, *auth.Principal)) func(http.ResponseWriter, *http.Request, *auth.Principal) {
		return func(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
			if !p.IsAdmin() {
				e := event(r, p, "api")
				e.Target, e.Decision, e.Reason = r.Method+" "+r.URL.Path, audit.Deny, "admin only"
				s.audit.RecordAsync(e)
				writeAPIError(w, http.StatusForbidden, "DENIED", "this needs admin on ** (the caller is "+p.Name+")")
				return
			}
			h(w, r, p)
		}
	}
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request, *auth.Principal)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			p, ok := s.authenticate(w, r, func(status int, code, msg string) { writeAPIError(w, status, code, msg) })
			if !ok {
				return
			}
			if p.Kind == auth.KindAnonymous && !p.Open {
				w.Header().Set("WWW-Authenticate", `Basic realm="cssc"`)
				writeAPIError(w, http.StatusUnauthorized, "UNAUTHORIZED", "log in first (cssc login, CSSC_TOKEN or CSSC_USERNAME/CSSC_PASSWORD)")
				return
			}
			h(w, r.WithContext(auth.WithPrincipal(r.Context(), p)), p)
		})
	}
	handle("GET /api/v1/whoami", s.whoami)
	handle("GET /api/v1/users", admin(s.listUsers))
	handle("POST /api/v1/users", admin(s.createUser))
	handle("GET /api/v1/users/{name}", admin(s.getUser))
	handle("POST /api/v1/users/{name}/disable", admin(s.setDisabled(true)))
	handle("POST /api/v1/users/{name}/enable", admin(s.setDisabled(false)))
	handle("POST /api/v1/users/{name}/reset-secret", admin(s.resetSecret))
	handle("POST /api/v1/users/{name}/grants", admin(s.changeGrant(false)))
	handle("DELETE /api/v1/users/{name}/grants", admin(s.changeGrant(true)))
	handle("GET /api/v1/tokens", s.listTokens)
	handle("POST /api/v1/tokens", s.createToken)
	handle("DELETE /api/v1/tokens/{id}", s.revokeToken)
	handle("POST /api/v1/keys/token/rotate", admin(s.rotateTokenKey))
	handle("POST /api/v1/gc", admin(s.gcHandler))
	s.acquireRoutes(handle, admin)
	if auditAPI != nil {
		audited := admin(func(w http.ResponseWriter, r *http.Request, _ *auth.Principal) { auditAPI.ServeHTTP(w, r) })
		handle("/api/v1/audit", audited)
		handle("/api/v1/audit/", audited)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusNotFound, "NOT_FOUND", "no such API endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// changed records a change made through the API, then answers. If the
// audit trail cannot record it the caller gets a 500 (the change is made:
// repeating it is harmless).
func (s *Server) changed(w http.ResponseWriter, r *http.Request, p *auth.Principal, action, target string, status int, body any) {
	e := event(r, p, action)
	e.Target, e.Decision = target, audit.Allow
	if _, err := s.audit.Record(r.Context(), e); err != nil {
		s.log.ErrorContext(r.Context(), "audit trail unavailable", "action", action, "err", err)
		writeAPIError(w, http.StatusInternalServerError, "UNAVAILABLE", "the change was made but the audit trail could not record it; check the server log")
		return
	}
	writeJSON(w, status, body)
}

// apiFailure maps a library error to an answer.
func (s *Server) apiFailure(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, store.ErrPrincipalUnknown), errors.Is(err, store.ErrTokenUnknown):
		writeAPIError(w, http.StatusNotFound, "NOT_FOUND", err.Error())
	case errors.Is(err, store.ErrPrincipalExists):
		writeAPIError(w, http.StatusConflict, "CONFLICT", err.Error())
	case errors.Is(err, errBadRequest):
		writeAPIError(w, http.StatusBadRequest, "INVALID", err.Error())
	default:
		s.log.ErrorContext(r.Context(), what, "err", err)
		writeAPIError(w, http.StatusInternalServerError, "INTERNAL", what+" failed")
	}
}

var errBadRequest = errors.New("bad request")

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", errBadRequest, err)
	}
	return nil
}

func (s *Server) whoami(w http.ResponseWriter, _ *http.Request, p *auth.Principal) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name": p.Name, "kind": p.Kind, "admin": p.IsAdmin(), "pipeline": p.Pipeline,
		"grants": p.Grants, "client_cert": p.ClientCert, "open_mode": p.Open,
	})
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	ids, err := s.auth.ListIdentities(r.Context(), r.URL.Query().Get("kind"))
	if err != nil {
		s.apiFailure(w, r, "list users", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"identities": ids})
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	id, err := s.auth.GetIdentity(r.Context(), r.PathValue("name"))
	if err != nil {
		s.apiFailure(w, r, "get user", err)
		return
	}
	writeJSON(w, http.StatusOK, id)
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var n auth.NewIdentity
	if err := decodeBody(r, &n); err != nil {
		s.apiFailure(w, r, "create user", err)
		return
	}
	if n.Kind == "" {
		n.Kind = auth.KindUser
	}
	secret, err := s.auth.CreateIdentity(r.Context(), p.Name, n)
	if err != nil {
		if !errors.Is(err, store.ErrPrincipalExists) && !errors.Is(err, errBadRequest) {
			err = fmt.Errorf("%w: %v", errBadRequest, err)
		}
		s.apiFailure(w, r, "create "+n.Kind, err)
		return
	}
	target := n.Name
	for _, g := range n.Grants {
		target += " " + g.String()
	}
	if n.Pipeline {
		target += " (pipeline identity)"
	}
	body := map[string]string{"name": n.Name, "kind": n.Kind}
	if n.Password == "" {
		body["secret"] = secret
	}
	s.changed(w, r, p, n.Kind+".add", target, http.StatusCreated, body)
}

func (s *Server) setDisabled(disabled bool) func(http.ResponseWriter, *http.Request, *auth.Principal) {
	return func(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
		name := r.PathValue("name")
		if disabled && name == p.Name {
			writeAPIError(w, http.StatusBadRequest, "INVALID", "you cannot disable yourself")
			return
		}
		if err := s.auth.SetDisabled(r.Context(), name, disabled); err != nil {
			s.apiFailure(w, r, "disable", err)
			return
		}
		action := "identity.enable"
		if disabled {
			action = "identity.disable"
		}
		s.changed(w, r, p, action, name, http.StatusOK, map[string]any{"name": name, "disabled": disabled})
	}
}

func (s *Server) resetSecret(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	name := r.PathValue("name")
	secret, err := s.auth.ResetSecret(r.Context(), name)
	if err != nil {
		s.apiFailure(w, r, "reset secret", err)
		return
	}
	s.changed(w, r, p, "identity.reset-secret", name, http.StatusOK, map[string]string{"name": name, "secret": secret})
}

func (s *Server) changeGrant(remove bool) func(http.ResponseWriter, *http.Request, *auth.Principal) {
	return func(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
		name := r.PathValue("name")
		var g auth.Grant
		if remove {
			g = auth.Grant{Role: auth.Role(r.URL.Query().Get("role")), Pattern: r.URL.Query().Get("scope")}
		} else if err := decodeBody(r, &g); err != nil {
			s.apiFailure(w, r, "grant", err)
			return
		}
		if err := s.auth.ChangeGrant(r.Context(), name, g, remove); err != nil {
			if !errors.Is(err, store.ErrPrincipalUnknown) {
				err = fmt.Errorf("%w: %v", errBadRequest, err)
			}
			s.apiFailure(w, r, "grant", err)
			return
		}
		action := "grant.add"
		if remove {
			action = "grant.remove"
		}
		s.changed(w, r, p, action, name+" "+g.String(), http.StatusOK, map[string]any{"name": name, "grant": g, "removed": remove})
	}
}

// Tokens: everyone manages their own; admins see and revoke anyone's.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	owner := p.Name
	if p.IsAdmin() && r.URL.Query().Get("all") == "true" {
		owner = ""
	}
	ts, err := s.auth.ListTokens(r.Context(), owner)
	if err != nil {
		s.apiFailure(w, r, "list tokens", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if p.Open || p.Kind == auth.KindAnonymous {
		writeAPIError(w, http.StatusBadRequest, "INVALID", "open mode has no identities to make tokens for")
		return
	}
	var n auth.NewToken
	if err := decodeBody(r, &n); err != nil {
		s.apiFailure(w, r, "create token", err)
		return
	}
	t, err := s.auth.CreateToken(r.Context(), p.Name, n)
	if err != nil {
		if !errors.Is(err, store.ErrPrincipalUnknown) {
			err = fmt.Errorf("%w: %v", errBadRequest, err)
		}
		s.apiFailure(w, r, "create token", err)
		return
	}
	target := t.ID + " (" + t.Name + ")"
	if t.Role != "" {
		target += " " + string(t.Role) + " on " + t.Scope
	}
	s.changed(w, r, p, "token.create", target, http.StatusCreated, t)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id := r.PathValue("id")
	owner, err := s.auth.TokenOwner(r.Context(), id)
	if err != nil || (owner != p.Name && !p.IsAdmin()) {
		// Someone else's token is as unknown as a missing one.
		s.apiFailure(w, r, "revoke token", fmt.Errorf("token %s: %w", id, store.ErrTokenUnknown))
		return
	}
	if err := s.auth.RevokeToken(r.Context(), id); err != nil {
		s.apiFailure(w, r, "revoke token", err)
		return
	}
	s.changed(w, r, p, "token.revoke", id+" of "+owner, http.StatusOK, map[string]string{"id": id, "revoked": "true"})
}

func (s *Server) rotateTokenKey(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	kid, err := s.auth.RotateKeys()
	if err != nil {
		s.apiFailure(w, r, "rotate token key", err)
		return
	}
	s.changed(w, r, p, "key.rotate", "token-signing key "+kid, http.StatusOK, map[string]string{"key_id": kid})
}

// gcHandler runs a collection now: POST /api/v1/gc[?dry_run=true].
func (s *Server) gcHandler(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	dry, _ := strconv.ParseBool(r.URL.Query().Get("dry_run"))
	rep, err := s.collector.Run(r.Context(), s.gcOptions(dry))
	if err != nil {
		s.log.Error("garbage collection", "err", err)
		writeAPIError(w, http.StatusInternalServerError, "INTERNAL", err.Error())
		return
	}
	if dry {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	s.changed(w, r, p, "gc.run", fmt.Sprintf("%d blobs, %d bytes", rep.BlobsDeleted, rep.BytesFreed), http.StatusOK, rep)
}
