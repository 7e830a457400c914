package registry

import (
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Grammar of the OCI distribution spec.
var (
	namePattern = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagPattern  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// maxNameLength keeps host + "/" + name within the 255 characters many
// clients allow for a whole reference.
const maxNameLength = 255

func validName(name string) bool {
	return len(name) <= maxNameLength && namePattern.MatchString(name)
}

func validTag(tag string) bool { return tagPattern.MatchString(tag) }

// parseDigest accepts a digest of an algorithm this registry can compute.
func parseDigest(s string) (digest.Digest, bool) {
	d, err := digest.Parse(s)
	if err != nil || !d.Algorithm().Available() {
		return "", false
	}
	return d, true
}

// isDigestRef tells a digest reference from a tag (tags cannot hold ':').
func isDigestRef(ref string) bool { return strings.Contains(ref, ":") }
