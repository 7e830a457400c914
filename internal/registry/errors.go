package registry

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error codes of the OCI distribution spec (its "Error Codes" table), with
// the HTTP status each is answered with.
const (
	codeBlobUnknown         = "BLOB_UNKNOWN"
	codeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	codeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	codeDigestInvalid       = "DIGEST_INVALID"
	codeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	codeManifestInvalid     = "MANIFEST_INVALID"
	codeManifestUnknown     = "MANIFEST_UNKNOWN"
	codeNameInvalid         = "NAME_INVALID"
	codeNameUnknown         = "NAME_UNKNOWN"
	codeSizeInvalid         = "SIZE_INVALID"
	codeDenied              = "DENIED"
	codeUnsupported         = "UNSUPPORTED"
	codeRangeInvalid        = "RANGE_INVALID" // distribution's code for an out-of-order chunk (416)
	codeTooManyRequests     = "TOOMANYREQUESTS"
)

// apiError is one error of a response body.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newError(status int, code, message string, detail any) *apiError {
	return &apiError{Status: status, Code: code, Message: message, Detail: detail}
}

// writeError answers with the spec's error body. HEAD responses carry no
// body, as HTTP requires.
func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	body, _ := json.Marshal(struct {
		Errors []*apiError `json:"errors"`
	}{[]*apiError{e}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// Error codes a front (authentication, authorization) answers with.
const (
	CodeUnauthorized    = "UNAUTHORIZED"
	CodeDenied          = codeDenied
	CodeTooManyRequests = codeTooManyRequests
)

// WriteError answers r with the spec's error body.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	writeError(w, r, newError(status, code, message, nil))
}
