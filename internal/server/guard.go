package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cssc-project/cssc/internal/audit"
	"github.com/cssc-project/cssc/internal/auth"
	"github.com/cssc-project/cssc/internal/registry"
	"github.com/cssc-project/cssc/internal/tlsutil"
)

// auditTrail is where the server records what happens.
type auditTrail interface {
	Record(ctx context.Context, e audit.Event) (audit.Event, error)
	RecordAsync(e audit.Event)
}

// requestIDs numbers requests: a per-process prefix and a counter, cheap
// enough for the hot path and unique across restarts.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	return &requestIDs{prefix: strconv.FormatInt(time.Now().UnixNano()/1e6, 36)}
}

func (ids *requestIDs) next() string {
	return ids.prefix + "-" + strconv.FormatUint(ids.n.Add(1), 36)
}

type requestIDKey struct{}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestID gives every request an id (echoed in X-Request-Id) that
// logs and audit events carry.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := s.ids.next()
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// event starts an audit event about r by p.
func event(r *http.Request, p *auth.Principal, action string) audit.Event {
	e := audit.Event{Time: time.Now(), Source: r.RemoteAddr, RequestID: requestID(r.Context()), Action: action}
	if p != nil {
		e.Actor, e.ActorKind, e.ClientCert = p.Name, p.Kind, p.ClientCert
		if p.Open {
			e.ActorKind = "open-mode"
		}
	}
	return e
}

// authenticate identifies the caller of r, or answers it (401, 429) and
// records the failure.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, answer func(status int, code, msg string)) (*auth.Principal, bool) {
	cert := tlsutil.ClientSubject(r.TLS)
	p, err := s.auth.Authenticate(r.Context(), auth.RequestOf(r, cert))
	if err == nil {
		return p, true
	}
	e := event(r, nil, "login")
	e.Actor, e.ActorKind, e.ClientCert = attemptedName(r), "unknown", cert
	e.Decision, e.Reason = audit.Deny, err.Error()
	switch {
	case errors.Is(err, auth.ErrRateLimited):
		s.audit.RecordAsync(e)
		w.Header().Set("Retry-After", "60")
		answer(http.StatusTooManyRequests, registry.CodeTooManyRequests, err.Error())
	case errors.Is(err, auth.ErrBadCredentials):
		s.audit.RecordAsync(e)
		s.challenge(w, r, "")
		answer(http.StatusUnauthorized, registry.CodeUnauthorized, "authentication required: "+err.Error())
	default:
		s.log.ErrorContext(r.Context(), "authenticate", "err", err)
		answer(http.StatusInternalServerError, "UNAVAILABLE", "authentication is unavailable")
	}
	return nil, false
}

// attemptedName is the account a failed request tried, for the audit trail.
func attemptedName(r *http.Request) string {
	if name, _, ok := r.BasicAuth(); ok {
		return name
	}
	if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		return "(token)"
	}
	return "(certificate)"
}

// challenge sets the Docker token-flow challenge: where to get a token,
// for which service and scope.
func (s *Server) challenge(w http.ResponseWriter, r *http.Request, scope string) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	realm := scheme + "://" + r.Host + "/token"
	if s.cfg.ExternalURL != "" {
		realm = strings.TrimRight(s.cfg.ExternalURL, "/") + "/token"
	}
	v := fmt.Sprintf(`Bearer realm=%q,service=%q`, realm, s.auth.ServiceName())
	if scope != "" {
		v += fmt.Sprintf(`,scope=%q`, scope)
	}
	w.Header().Set("WWW-Authenticate", v)
}

// requiredAction is what a registry request does to its repository.
func requiredAction(rt registry.Route, method string) auth.Action {
	switch {
	case method == http.MethodDelete && rt.Kind != registry.RouteUpload:
		return auth.ActionDelete
	case rt.Kind == registry.RouteUpload, method == http.MethodPut, method == http.MethodPost, method == http.MethodPatch:
		return auth.ActionPush
	}
	return auth.ActionPull
}

func scopeFor(repo string, a auth.Action) string {
	if a == auth.ActionPush {
		return "repository:" + repo + ":pull,push"
	}
	return "repository:" + repo + ":" + string(a)
}

// guardRegistry authenticates and authorizes every registry request, and
// records what it changes (before answering) and what it pulls.
func (s *Server) guardRegistry(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer := func(status int, code, msg string) { registry.WriteError(w, r, status, code, msg) }
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		p := inprocPrincipal(r.Context())
		if p == nil {
			var ok bool
			if p, ok = s.authenticate(w, r, answer); !ok {
				return
			}
		}
		if p.Open {
			s.openModeNotice(r)
		}
		rt, known := registry.ParseRoute(r.URL.Path)
		anonymous := p.Kind == auth.KindAnonymous && !p.Open
		switch {
		case !known || rt.Kind == registry.RouteBase:
			// The base endpoint tells a client whether it is logged in.
			if anonymous {
				s.challenge(w, r, "")
				answer(http.StatusUnauthorized, registry.CodeUnauthorized, "authentication required")
				return
			}
		case rt.Kind == registry.RouteCatalog:
			view, covered := p.CatalogView()
			if !covered || (anonymous && len(p.Grants) == 0) {
				s.challenge(w, r, "registry:catalog:*")
				answer(http.StatusUnauthorized, registry.CodeUnauthorized, "authentication required")
				return
			}
			p = view
		default:
			if rt.Name != "" && !registry.ValidName(rt.Name) {
				break // the registry answers NAME_INVALID
			}
			action := requiredAction(rt, r.Method)
			d := p.Decide(action, rt.Name)
			if !d.Allowed {
				s.deny(w, r, p, rt, action, d.Reason, answer)
				return
			}
			if s.mountNeedsScope(w, r, p, rt, answer) {
				return
			}
			if d.BreakGlass {
				s.log.WarnContext(r.Context(), "break-glass write to golden/ by an admin", "actor", p.Name,
					"method", r.Method, "repo", rt.Name, "ref", rt.Ref)
			}
			w = &auditWriter{ResponseWriter: w, s: s, r: r, p: p, rt: rt, breakGlass: d.BreakGlass}
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// deny answers a refused registry request: 401 with a challenge when other
// credentials (or a token with more scope) could be allowed, 403 DENIED
// when this caller may never do it. Either way it is recorded.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, p *auth.Principal, rt registry.Route, action auth.Action, reason string, answer func(int, string, string)) {
	e := event(r, p, "registry."+string(action))
	e.Repo, e.Decision, e.Reason = rt.Name, audit.Deny, reason
	setRef(&e, rt.Ref)
	s.audit.RecordAsync(e)
	full := *p
	full.Limit = nil
	if p.Kind == auth.KindAnonymous || (p.Limit != nil && full.Decide(action, rt.Name).Allowed) {
		s.challenge(w, r, scopeFor(rt.Name, action))
		answer(http.StatusUnauthorized, registry.CodeUnauthorized, "authentication required for "+string(action)+" on "+rt.Name)
		return
	}
	answer(http.StatusForbidden, registry.CodeDenied, "requested access to the resource is denied: "+reason)
}

// mountNeedsScope asks a token holder for pull on a mount's source
// repository when their credentials would allow it but the token was not
// issued for it (as distribution does): the client fetches a token for
// both and retries. Someone who may not read the source gets no
// challenge: the registry answers with a plain upload session.
func (s *Server) mountNeedsScope(w http.ResponseWriter, r *http.Request, p *auth.Principal, rt registry.Route, answer func(int, string, string)) bool {
	if rt.Kind != registry.RouteUpload || r.Method != http.MethodPost || p.Limit == nil {
		return false
	}
	q := r.URL.Query()
	from := q.Get("from")
	if from == "" || q.Get("mount") == "" || !registry.ValidName(from) || p.Decide(auth.ActionPull, from).Allowed {
		return false
	}
	full := *p
	full.Limit = nil
	if !full.Decide(auth.ActionPull, from).Allowed {
		return false
	}
	s.challenge(w, r, scopeFor(rt.Name, auth.ActionPush)+" "+scopeFor(from, auth.ActionPull))
	answer(http.StatusUnauthorized, registry.CodeUnauthorized, "authentication required for pull on "+from+" to mount from it")
	return true
}

func setRef(e *audit.Event, ref string) {
	if strings.Contains(ref, ":") {
		e.Digest = ref
	} else if ref != "" {
		e.Tag = ref
	}
}

// openModeNotice warns, at most once a minute, that the registry is open.
func (s *Server) openModeNotice(r *http.Request) {
	now := time.Now().Unix()
	last := s.openWarned.Load()
	if now-last < 60 || !s.openWarned.CompareAndSwap(last, now) {
		return
	}
	s.log.WarnContext(r.Context(), "OPEN MODE: anyone on this host may pull and push; run `cssc admin init` to turn authentication on",
		"remote", r.RemoteAddr)
}

// auditWriter records a registry request's audit event when its answer's
// status is written: state changes synchronously, before the client hears
// of them (if that fails the client gets a 500, never an unrecorded
// success); pulls asynchronously.
type auditWriter struct {
	http.ResponseWriter
	s          *Server
	r          *http.Request
	p          *auth.Principal
	rt         registry.Route
	breakGlass bool
	wrote      bool
	failed     bool
}

func (a *auditWriter) WriteHeader(status int) {
	if a.wrote {
		return
	}
	a.wrote = true
	e, sync := a.eventFor(status)
	switch {
	case e == nil:
	case sync:
		if _, err := a.s.audit.Record(a.r.Context(), *e); err != nil {
			a.s.log.ErrorContext(a.r.Context(), "audit trail unavailable: answering 500 for a change that was made", "err", err,
				"action", e.Action, "repo", e.Repo)
			a.failed = true
			h := a.Header()
			h.Del("Location")
			h.Del("Content-Length")
			registry.WriteError(a.ResponseWriter, a.r, http.StatusInternalServerError, "UNAVAILABLE", "the audit trail could not record this change; retry")
			return
		}
	default:
		a.s.audit.RecordAsync(*e)
	}
	a.ResponseWriter.WriteHeader(status)
}

func (a *auditWriter) Write(b []byte) (int, error) {
	if !a.wrote {
		a.WriteHeader(http.StatusOK)
	}
	if a.failed {
		return len(b), nil
	}
	return a.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (a *auditWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// eventFor names the event of an answered request; sync for state changes.
func (a *auditWriter) eventFor(status int) (*audit.Event, bool) {
	method, kind := a.r.Method, a.rt.Kind
	var action string
	switch {
	case status >= 300:
		return nil, false
	case kind == registry.RouteManifest && method == http.MethodGet:
		e := event(a.r, a.p, "pull")
		e.Repo, e.Decision = a.rt.Name, audit.Allow
		setRef(&e, a.rt.Ref)
		if e.Digest == "" {
			e.Digest = a.Header().Get("Docker-Content-Digest")
		}
		return &e, false
	case kind == registry.RouteManifest && method == http.MethodPut:
		action = "manifest.push"
	case kind == registry.RouteManifest && method == http.MethodDelete:
		action = "manifest.delete"
		if !strings.Contains(a.rt.Ref, ":") {
			action = "tag.delete"
		}
	case kind == registry.RouteBlob && method == http.MethodDelete:
		action = "blob.delete"
	case kind == registry.RouteUpload && status == http.StatusCreated:
		action = "blob.push"
		if a.r.URL.Query().Get("mount") != "" {
			action = "blob.mount"
		}
	default:
		return nil, false
	}
	e := event(a.r, a.p, action)
	e.Repo, e.Decision = a.rt.Name, audit.Allow
	if kind != registry.RouteUpload {
		setRef(&e, a.rt.Ref)
	}
	if d := a.Header().Get("Docker-Content-Digest"); d != "" {
		e.Digest = d
	}
	if a.breakGlass {
		e.Severity = "warning"
		e.Reason = "admin break-glass: bypassed the pipeline for golden/"
	}
	return &e, true
}
