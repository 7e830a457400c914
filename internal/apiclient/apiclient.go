// Package apiclient talks to a running cssc server's REST API (/api/v1) on
// behalf of the CLI: it finds the server and the caller's credentials and
// turns error answers into readable errors.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Credentials authenticate a caller: an API token, or a name and secret.
type Credentials struct {
	Token    string
	Username string
	Password string
}

// Client is a REST API client for one server.
type Client struct {
	Server string // base URL, e.g. http://127.0.0.1:5000
	Creds  Credentials
	HTTP   *http.Client
}

// Error is an error answer of the API.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// ErrUnauthorized is wrapped by errors for 401 answers.
var ErrUnauthorized = errors.New("not logged in or wrong credentials")

// Do sends a JSON request (in may be nil) and decodes a JSON answer into out
// (which may be nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.Raw(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return nil
}

// Raw sends a request and returns the answer of a 2xx status for the caller
// to read (and close); other statuses become an *Error.
func (c *Client) Raw(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	u := strings.TrimRight(c.Server, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c.Creds.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.Creds.Token)
	case c.Creds.Username != "":
		req.SetBasicAuth(c.Creds.Username, c.Creds.Password)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer func() { _ = resp.Body.Close() }()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	apiErr := &Error{Status: resp.StatusCode, Message: errorMessage(msg)}
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, fmt.Errorf("%s %s: %w (%w)", method, path, apiErr, ErrUnauthorized)
	}
	return nil, fmt.Errorf("%s %s: %w", method, path, apiErr)
}

// errorMessage reads {"error": "..."} answers, or returns the text as is.
func errorMessage(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(string(b))
}
