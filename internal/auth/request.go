package auth

import "context"

type requestInfoKey struct{}

// RequestInfo is what is known about the client of a request, for session
// records and the audit log.
type RequestInfo struct {
	IP        string
	UserAgent string
	RequestID string
	// Token is the name of the API token the request came with, "" for
	// a session: the audit log names it beside the token's owner.
	Token string
}

// WithRequestInfo returns ctx carrying info.
func WithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// RequestInfoFrom returns the request information carried by ctx.
func RequestInfoFrom(ctx context.Context) RequestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return info
}
