package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openvex/go-vex/pkg/vex"
)

// ExceptionRequest is what `cssc exception add` asks for.
type ExceptionRequest struct {
	// Vulnerability is the ID, e.g. "CVE-2024-1234".
	Vulnerability string `json:"vulnerability"`
	// Image is a repository ("library/nginx", "golden/library/nginx") or
	// a digest ("sha256:…", "repo@sha256:…").
	Image    string    `json:"image"`
	Reason   string    `json:"reason"`
	Approver string    `json:"approver"`
	Expires  time.Time `json:"expires"`
}

// NewExceptionDocument writes r as an OpenVEX document (status
// not_affected, the reason as impact statement, approver and expiry in
// the "cssc" extension), with id and author, and checks that
// ParseExceptions reads it back as one exception.
func NewExceptionDocument(id, author string, r ExceptionRequest, now time.Time) ([]byte, error) {
	switch {
	case strings.TrimSpace(r.Vulnerability) == "":
		return nil, errors.New("no vulnerability ID")
	case strings.TrimSpace(r.Image) == "":
		return nil, errors.New("no image: give a repository or a digest (--image)")
	case strings.TrimSpace(r.Reason) == "":
		return nil, errors.New("no reason (--reason): an auditor will ask why")
	case strings.TrimSpace(r.Approver) == "":
		return nil, errors.New("no approver (--approver)")
	case !r.Expires.After(now):
		return nil, fmt.Errorf("expiry %s is not in the future", r.Expires.Format(time.RFC3339))
	}
	doc := vex.New()
	doc.ID, doc.Author, doc.Version = id, author, 1
	ts := now.UTC()
	doc.Timestamp = &ts
	doc.Statements = []vex.Statement{{
		Vulnerability:   vex.Vulnerability{Name: vex.VulnerabilityID(strings.TrimSpace(r.Vulnerability))},
		Products:        []vex.Product{{Component: vex.Component{ID: strings.TrimSpace(r.Image)}}},
		Status:          vex.StatusNotAffected,
		ImpactStatement: r.Reason,
		Timestamp:       &ts,
	}}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode exception: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	st := m["statements"].([]any)[0].(map[string]any)
	st["cssc"] = extension{Approver: r.Approver, Expires: r.Expires.UTC().Format(time.RFC3339)}
	if b, err = json.MarshalIndent(m, "", "  "); err != nil {
		return nil, err
	}
	if ex, err := ParseExceptions(b); err != nil || len(ex) != 1 {
		return nil, fmt.Errorf("exception does not read back: %v", err)
	}
	return b, nil
}
