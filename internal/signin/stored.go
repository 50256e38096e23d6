// Package signin is the list of identity providers people may sign in
// with: the OpenID Connect provider of the environment (OIDC_*) and the
// providers an admin set up on Administration → Sign-in (the
// sign_in_providers table), OpenID Connect or SAML. The Registry builds
// and keeps each provider's relying party (sso.Provider, samlsp.Provider)
// until its row changes; the administration workflows keep the rows.
package signin

import (
	"encoding/json"
	"fmt"

	"violet/ent"
	"violet/ent/signinprovider"
	"violet/internal/config"
	"violet/internal/factor"
)

// OIDCSettings are the stored settings of an OpenID Connect provider (the
// settings column of a kind=oidc row); the client secret is sealed apart.
type OIDCSettings struct {
	Issuer         string              `json:"issuer"`
	ClientID       string              `json:"client_id"`
	Scopes         []string            `json:"scopes"` // openid always included
	GroupsClaim    string              `json:"groups_claim"`
	GroupMap       map[string]string   `json:"group_map,omitempty"`
	AllowedDomains map[string][]string `json:"allowed_domains,omitempty"`
}

// SAMLSettings are the stored settings of a SAML identity provider (the
// settings column of a kind=saml row).
type SAMLSettings struct {
	MetadataURL     string              `json:"metadata_url,omitempty"`
	MetadataXML     string              `json:"metadata_xml,omitempty"`
	EmailAttribute  string              `json:"email_attribute,omitempty"`
	NameAttribute   string              `json:"name_attribute,omitempty"`
	GroupsAttribute string              `json:"groups_attribute,omitempty"`
	GroupMap        map[string]string   `json:"group_map,omitempty"`
	AllowedDomains  map[string][]string `json:"allowed_domains,omitempty"`
}

// secretAD binds a sealed client secret to its provider's key: a secret
// copied onto another row does not open.
func secretAD(key string) []byte { return []byte("violet sso client secret\x00" + key) }

// SealSecret seals an OpenID Connect client secret for the row of key.
func SealSecret(s *factor.Sealer, key, secret string) string {
	return s.Seal([]byte(secret), secretAD(key))
}

// OIDCConfig is the relying party configuration of a kind=oidc row;
// redirect is the callback URL (the same for every provider: the state
// cookie says which one the browser started with).
func OIDCConfig(row *ent.SignInProvider, sealer *factor.Sealer, redirect string) (config.OIDC, error) {
	if row.Kind != signinprovider.KindOidc {
		return config.OIDC{}, fmt.Errorf("provider %s is not OpenID Connect", row.Key)
	}
	var st OIDCSettings
	if err := json.Unmarshal(row.Settings, &st); err != nil {
		return config.OIDC{}, fmt.Errorf("provider %s: read settings: %w", row.Key, err)
	}
	secret := ""
	if row.Secret != "" {
		b, err := sealer.Open(row.Secret, secretAD(row.Key))
		if err != nil {
			return config.OIDC{}, fmt.Errorf("provider %s: the client secret does not open (was SESSION_KEY changed?): %w", row.Key, err)
		}
		secret = string(b)
	}
	return config.OIDC{
		Key: row.Key, Name: row.Name, Issuer: st.Issuer, ClientID: st.ClientID, ClientSecret: secret,
		Scopes: st.Scopes, RedirectURL: redirect, GroupsClaim: st.GroupsClaim,
		GroupMap: st.GroupMap, AllowedDomains: st.AllowedDomains,
	}, nil
}

// SAMLConfig is the service provider configuration of a kind=saml row.
func SAMLConfig(row *ent.SignInProvider) (config.SAML, error) {
	if row.Kind != signinprovider.KindSaml {
		return config.SAML{}, fmt.Errorf("provider %s is not SAML", row.Key)
	}
	var st SAMLSettings
	if err := json.Unmarshal(row.Settings, &st); err != nil {
		return config.SAML{}, fmt.Errorf("provider %s: read settings: %w", row.Key, err)
	}
	return config.SAML{
		Key: row.Key, Name: row.Name, MetadataURL: st.MetadataURL, MetadataXML: st.MetadataXML,
		EmailAttribute: st.EmailAttribute, NameAttribute: st.NameAttribute, GroupsAttribute: st.GroupsAttribute,
		GroupMap: st.GroupMap, AllowedDomains: st.AllowedDomains,
	}, nil
}
