package sso

import (
	"context"
	"fmt"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// claims is what Violet takes from the provider about a person.
type claims struct {
	Issuer, Subject string
	Email           string // only when the provider says it is verified; "" otherwise
	Name            string
	Groups          []string // values of the groups claim
}

// claims reads the ID token's claims, completed by the user info endpoint
// for the e-mail and groups when the token does not carry them (many
// providers keep the ID token small). User info about another subject
// than the token's is ignored (OpenID Connect Core 5.3.2).
func (s *Service) claims(ctx context.Context, d *discovered, idt *oidc.IDToken, tok *oauth2.Token) (claims, error) {
	all := map[string]any{}
	if err := idt.Claims(&all); err != nil {
		return claims{}, fmt.Errorf("read ID token claims: %w", err)
	}
	_, hasEmail := all["email"]
	_, hasGroups := all[s.p.cfg.GroupsClaim]
	if (!hasEmail || !hasGroups) && d.oidc.UserInfoEndpoint() != "" {
		info, err := d.oidc.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err == nil && info.Subject == idt.Subject {
			more := map[string]any{}
			if info.Claims(&more) == nil {
				for k, v := range more {
					if _, ok := all[k]; !ok {
						all[k] = v
					}
				}
			}
		}
		// A user info endpoint that fails leaves the token's claims: the
		// person may then lack an e-mail, which the admission explains.
	}
	c := claims{Issuer: idt.Issuer, Subject: idt.Subject, Groups: stringList(all[s.p.cfg.GroupsClaim])}
	// Entra ID sends no email_verified; its xms_edov (the domain's owner
	// verified the address) says as much.
	if email, _ := all["email"].(string); email != "" && (verified(all["email_verified"]) || verified(all["xms_edov"])) {
		c.Email = email
	}
	for _, k := range []string{"name", "preferred_username"} {
		if n, _ := all[k].(string); n != "" {
			c.Name = n
			break
		}
	}
	return c, nil
}

// verified reads email_verified, which some providers send as a string.
func verified(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// stringList reads a claim that is a list of strings, or one string.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
