package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/cssc-project/cssc/internal/store"
)

// genesisHash is the prev_hash of the first event and of the first
// checkpoint.
var genesisHash = strings.Repeat("0", 64)

const (
	eventDomain      = "cssc-audit-event-v1\n"
	checkpointDomain = "cssc-audit-checkpoint-v1\n"
)

// hasher computes event hashes reusing one buffer; it is not safe for
// concurrent use.
type hasher struct{ buf []byte }

// eventHash is the hash of rec as if it had sequence number seq:
//
//	hex(SHA-256("cssc-audit-event-v1\n" || u64 seq || i64 time ||
//	    u64 count || i64 last_time ||
//	    for each of actor, actor_kind, client_cert, source, request_id,
//	    action, repo, digest, tag, target, decision, reason, severity,
//	    prev_hash: u32 length || bytes))
//
// with integers big-endian. Every stored column but the hash itself is
// covered.
func (h *hasher) eventHash(rec *store.AuditRecord, seq int64) string {
	b := append(h.buf[:0], eventDomain...)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = binary.BigEndian.AppendUint64(b, uint64(rec.Time))
	b = binary.BigEndian.AppendUint64(b, uint64(rec.Count))
	b = binary.BigEndian.AppendUint64(b, uint64(rec.LastTime))
	for _, s := range [...]string{rec.Actor, rec.ActorKind, rec.ClientCert, rec.Source, rec.RequestID, rec.Action,
		rec.Repo, rec.Digest, rec.Tag, rec.Target, rec.Decision, rec.Reason, rec.Severity, rec.PrevHash} {
		b = appendString(b, s)
	}
	h.buf = b
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// checkpointPayload is what a checkpoint's signature covers:
//
//	"cssc-audit-checkpoint-v1\n" || u64 id || u64 seq || i64 time ||
//	for each of kind, head_hash, prev_hash, key_id: u32 length || bytes
func checkpointPayload(cp *store.AuditCheckpoint) []byte {
	b := make([]byte, 0, 256)
	b = append(b, checkpointDomain...)
	b = binary.BigEndian.AppendUint64(b, uint64(cp.ID))
	b = binary.BigEndian.AppendUint64(b, uint64(cp.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(cp.Time))
	b = appendString(b, cp.Kind)
	b = appendString(b, cp.HeadHash)
	b = appendString(b, cp.PrevHash)
	b = appendString(b, cp.KeyID)
	return b
}

// checkpointHash is the hash the next checkpoint names as its prev_hash.
func checkpointHash(cp *store.AuditCheckpoint) string {
	sum := sha256.Sum256(checkpointPayload(cp))
	return hex.EncodeToString(sum[:])
}

// signCheckpoint fills cp.KeyID and cp.Signature.
func signCheckpoint(cp *store.AuditCheckpoint, key ed25519.PrivateKey) {
	cp.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	cp.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, checkpointPayload(cp)))
}

var errWrongKey = errors.New("signed by another key")

// verifyCheckpoint checks cp's signature with pub.
func verifyCheckpoint(cp *store.AuditCheckpoint, pub ed25519.PublicKey) error {
	if want := KeyID(pub); cp.KeyID != want {
		return fmt.Errorf("%w (key id %q, the public key's is %q)", errWrongKey, cp.KeyID, want)
	}
	sig, err := base64.StdEncoding.DecodeString(cp.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("signature is not a base64 Ed25519 signature")
	}
	if !ed25519.Verify(pub, checkpointPayload(cp), sig) {
		return errors.New("signature does not match the checkpoint")
	}
	return nil
}

// KeyID names a public key: the first 16 hex digits of the SHA-256 of
// its 32 bytes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}
