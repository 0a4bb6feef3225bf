package versions

import "context"

type reasonKey struct{}

// WithReason returns ctx carrying the reason that the files an endpoint
// replaces or deletes under it are kept for: ferry reset-sync and ferry
// resolve mark their contexts so, while a pass leaves the default.
func WithReason(ctx context.Context, r Reason) context.Context {
	return context.WithValue(ctx, reasonKey{}, r)
}

// ReasonFrom is the reason WithReason put in ctx, or def.
func ReasonFrom(ctx context.Context, def Reason) Reason {
	if r, ok := ctx.Value(reasonKey{}).(Reason); ok {
		return r
	}
	return def
}
