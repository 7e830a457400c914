package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Handler serves the audit API, with paths relative to /api/v1/audit
// (mount it with http.StripPrefix, or as is: the prefix is tolerated).
// It does no authentication: mount it behind the admin check.
//
//	GET /?since=RFC3339&until=&actor=&target=&action=&after=SEQ&limit=N  {"events": [...], "next_after": SEQ}
//	GET /?format=jsonl&...          every matching event, one JSON line each (limit optional)
//	GET /verify                     the Report of Verify (200 even when it finds problems)
//	GET /public-key                 the public key (PKIX PEM)
func (l *Log) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", l.serveList)
	mux.HandleFunc("GET /verify", l.serveVerify)
	mux.HandleFunc("GET /public-key", l.servePublicKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/api/v1/audit")
		if p == "" {
			p = "/"
		}
		if p != r.URL.Path {
			r2 := new(http.Request)
			*r2 = *r
			u := *r.URL
			u.Path, u.RawPath = p, ""
			r2.URL = &u
			r = r2
		}
		mux.ServeHTTP(w, r)
	})
}

type listAnswer struct {
	Events    []Entry `json:"events"`
	NextAfter int64   `json:"next_after,omitempty"` // when more may follow: pass as after=
}

func (l *Log) serveList(w http.ResponseWriter, r *http.Request) {
	f, err := ParseFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch format := r.URL.Query().Get("format"); format {
	case "jsonl":
		w.Header().Set("Content-Type", "application/x-ndjson")
		if err := l.Export(r.Context(), w, f); err != nil {
			l.log.Error("audit export failed", "err", err)
		}
		return
	case "", "json":
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("format %q: want json or jsonl", format))
		return
	}
	entries, err := ListEntries(r.Context(), l.db, f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	ans := listAnswer{Events: entries}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	if len(entries) > 0 && len(entries) >= min(limit, MaxListLimit) {
		ans.NextAfter = entries[len(entries)-1].Seq
	}
	writeJSON(w, ans)
}

func (l *Log) serveVerify(w http.ResponseWriter, r *http.Request) {
	rep, err := l.Verify(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, rep)
}

func (l *Log) servePublicKey(w http.ResponseWriter, _ *http.Request) {
	b, err := MarshalPublicKey(l.pub)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(b)
}

// ParseFilter reads a Filter from query parameters: since, until
// (RFC 3339), actor, target, action, after, limit.
func ParseFilter(q url.Values) (Filter, error) {
	f := Filter{Actor: q.Get("actor"), Target: q.Get("target"), Action: q.Get("action")}
	var err error
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			if *t.dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return Filter{}, fmt.Errorf("%s: want an RFC 3339 time: %w", t.name, err)
			}
		}
	}
	if v := q.Get("after"); v != "" {
		if f.After, err = strconv.ParseInt(v, 10, 64); err != nil || f.After < 0 {
			return Filter{}, errors.New("after: want a sequence number")
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 0 {
			return Filter{}, errors.New("limit: want a number")
		}
	}
	return f, nil
}

// Query is the inverse of ParseFilter.
func (f Filter) Query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		set("until", f.Until.Format(time.RFC3339Nano))
	}
	set("actor", f.Actor)
	set("target", f.Target)
	set("action", f.Action)
	if f.After > 0 {
		set("after", strconv.FormatInt(f.After, 10))
	}
	if f.Limit > 0 {
		set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
