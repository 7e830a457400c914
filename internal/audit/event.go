// Package audit keeps cssc's audit trail: append-only, hash-chained events
// with signed checkpoints of the chain head.
package audit

import "time"

// Decisions of an event.
const (
	Allow = "allow"
	Deny  = "deny"
	Error = "error"
)

// Event is one entry of the audit trail. Every field is covered by the
// event's hash.
//
// Asynchronous events (pulls, denials) that are identical but for their
// time and request id, and meet while waiting to be written, are stored as
// one event: Count says how many there were, from Time (the first, whose
// RequestID is kept) to LastTime (the last). Count is 1 and LastTime zero
// for a single event; a caller recording an event leaves both zero.
type Event struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	Count      int64     `json:"count"`
	LastTime   time.Time `json:"last_time,omitzero"`
	Actor      string    `json:"actor"`                 // principal name, or "anonymous"
	ActorKind  string    `json:"actor_kind"`            // user, robot, anonymous, system
	ClientCert string    `json:"client_cert,omitempty"` // subject of a verified client certificate
	Source     string    `json:"source,omitempty"`      // remote address
	RequestID  string    `json:"request_id,omitempty"`
	Action     string    `json:"action"` // e.g. manifest.push, blob.delete, pull, login, user.add
	Repo       string    `json:"repo,omitempty"`
	Digest     string    `json:"digest,omitempty"`
	Tag        string    `json:"tag,omitempty"`
	Target     string    `json:"target,omitempty"` // a non-registry target: user, robot, token, key
	Decision   string    `json:"decision"`         // allow, deny, error
	Reason     string    `json:"reason,omitempty"`
	Severity   string    `json:"severity,omitempty"` // "" or "warning" (break glass, admin push to golden/)
}
