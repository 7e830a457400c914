package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/cssc-project/cssc/internal/auth"
)

// The acquire pipeline runs in the server's process and speaks to the
// server's own registry through the ordinary registry handler (so every
// rule, check and audit record applies), but in memory: no socket, no TLS,
// no credential to keep. Bodies stream through a pipe both ways, so a
// large layer is never held whole.

type inprocKey struct{}

// inprocPrincipal is the caller an in-process request was made as; only
// the in-process transport sets it (a network request's context never
// carries it).
func inprocPrincipal(ctx context.Context) *auth.Principal {
	p, _ := ctx.Value(inprocKey{}).(*auth.Principal)
	return p
}

// handlerTransport is an http.RoundTripper that serves each request with
// h, as p.
type handlerTransport struct {
	h http.Handler
	p *auth.Principal
}

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(context.WithValue(req.Context(), inprocKey{}, t.p))
	r.RequestURI = req.URL.RequestURI()
	r.RemoteAddr = "in-process"
	r.Host = req.URL.Host
	if r.Body == nil {
		r.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	// The request body is closed (as a RoundTripper must) when the
	// handler answers, before RoundTrip returns: the caller may close it
	// too once it has the answer, and bodies are not safe to close from
	// two goroutines at once. Registry handlers read the body before they
	// answer.
	var closeOnce sync.Once
	closeBody := func() { closeOnce.Do(func() { _ = r.Body.Close() }) }
	w := &pipeResponse{header: http.Header{}, body: pw, ready: make(chan struct{}), answered: closeBody}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				w.fail(fmt.Errorf("in-process %s %s: handler panic: %v", req.Method, req.URL.Path, v))
				return
			}
			w.WriteHeader(http.StatusOK) // a handler that wrote nothing
			_ = pw.Close()
		}()
		t.h.ServeHTTP(w, r)
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		_ = pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	if w.err != nil {
		return nil, w.err
	}
	resp := &http.Response{
		Status: fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.sent, Body: pr, Request: req, ContentLength: -1,
	}
	if n, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil {
		resp.ContentLength = n
	}
	if req.Method == http.MethodHead {
		_ = pr.Close()
		resp.Body = http.NoBody
	}
	return resp, nil
}

// pipeResponse is the handler's side: headers are handed over on the
// first write, the body streams through the pipe.
type pipeResponse struct {
	header http.Header
	sent   http.Header
	body   *io.PipeWriter
	status int
	once   sync.Once
	ready  chan struct{}
	err    error
	// answered runs once the answer is decided, before RoundTrip returns.
	answered func()
}

func (w *pipeResponse) Header() http.Header { return w.header }

func (w *pipeResponse) WriteHeader(status int) {
	w.once.Do(func() {
		w.status, w.sent = status, w.header.Clone()
		w.answered()
		close(w.ready)
	})
}

func (w *pipeResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

func (w *pipeResponse) fail(err error) {
	w.once.Do(func() {
		w.err = err
		w.answered()
		close(w.ready)
	})
	_ = w.body.CloseWithError(err)
}

// PipelineTransport reaches this server's registry in process as the
// acquire pipeline's identity: it may write quarantine/ and golden/, and
// what it changes is audited under its name.
func (s *Server) PipelineTransport() http.RoundTripper {
	return handlerTransport{h: s.registryHandler, p: &auth.Principal{Name: PipelineActor, Kind: auth.KindRobot, Pipeline: true}}
}

// PipelineActor is the acquire pipeline's name in the audit trail.
const PipelineActor = "cssc-pipeline"
