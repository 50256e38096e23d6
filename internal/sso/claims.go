package sso

import (
	"context"
	"fmt"
	"violet/internal/admission"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// claims reads the ID token's claims, completed by the user info endpoint
// for the e-mail and groups when the token does not carry them (many
// providers keep the ID token small). User info about another subject
// than the token's is ignored (OpenID Connect Core 5.3.2).
func (s *Service) claims(ctx context.Context, d *discovered, idt *oidc.IDToken, tok *oauth2.Token) (admission.Claims, error) {
	token := map[string]any{}
	if err := idt.Claims(&token); err != nil {
		return admission.Claims{}, fmt.Errorf("read ID token claims: %w", err)
	}
	_, hasEmail := token["email"]
	_, hasGroups := groupsOf(token, s.p.cfg.GroupsClaim)
	var info map[string]any // nil: no user info
	if (!hasEmail || !hasGroups) && d.oidc.UserInfoEndpoint() != "" {
		ui, err := d.oidc.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err == nil && ui.Subject == idt.Subject {
			more := map[string]any{}
			if ui.Claims(&more) == nil {
				info = more
			}
		}
		// A user info endpoint that fails leaves the token's claims: the
		// person may then lack an e-mail, which the admission explains.
	}
	return readClaims(idt.Issuer, idt.Subject, token, info, s.p.cfg.GroupsClaim), nil
}

// readClaims is the person of the ID token's claims (token) and the user
// info's (info, nil without), groupsClaim naming the groups claim.
func readClaims(issuer, subject string, token, info map[string]any, groupsClaim string) admission.Claims {
	c := admission.Claims{Issuer: issuer, Subject: subject}
	c.Groups, c.HasGroups = groupsOf(token, groupsClaim)
	if !c.HasGroups && info != nil {
		c.Groups, c.HasGroups = groupsOf(info, groupsClaim)
	}
	// The e-mail and what vouches for it come from one source: the ID
	// token when it has an e-mail, else user info. Taken key by key, user
	// info's email_verified could vouch for another address than the
	// token's.
	src := token
	if _, hasEmail := token["email"]; !hasEmail && info != nil {
		src = info
	}
	// Entra ID sends no email_verified; its xms_edov (the domain's owner
	// verified the address) says as much.
	if email, _ := src["email"].(string); email != "" && (verified(src["email_verified"]) || verified(src["xms_edov"])) {
		c.Email = email
	}
	for _, m := range []map[string]any{token, info} {
		for _, k := range []string{"name", "preferred_username"} {
			if n, _ := m[k].(string); n != "" && c.Name == "" {
				c.Name = n
			}
		}
	}
	return c
}

// groupsOf reads the groups claim name of m; present is false when m
// lacks it, or names it in _claim_names: a distributed claim, what Entra
// ID sends instead of the groups when a person has too many (overage),
// which Violet does not fetch.
func groupsOf(m map[string]any, name string) (groups []string, present bool) {
	if names, ok := m["_claim_names"].(map[string]any); ok {
		if _, distributed := names[name]; distributed {
			return nil, false
		}
	}
	v, ok := m[name]
	if !ok || v == nil {
		return nil, false
	}
	return stringList(v), true
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
