package auth

import "context"

type principalKey struct{}

// WithPrincipal returns ctx carrying the authenticated caller.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller of ctx (nil if none was set).
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// CanPull reports whether the caller of ctx may pull repo; a context
// without a caller may not.
func CanPull(ctx context.Context, repo string) bool {
	p := FromContext(ctx)
	return p != nil && p.Decide(ActionPull, repo).Allowed
}
