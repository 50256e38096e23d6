package auth

import "testing"

// BaseMethod names what signed a session in, whatever completed it: the
// sign-out reaches the provider of an SSO session completed by a code.
func TestBaseMethod(t *testing.T) {
	for in, want := range map[string]string{
		"password": "password", "password+totp": "password", "password:enrol": "password",
		"oidc:corp": "oidc:corp", "oidc:corp+totp": "oidc:corp", "oidc:corp+passkey": "oidc:corp",
		"oidc:corp:enrol": "oidc:corp", "saml:adfs+recovery": "saml:adfs", "passkey": "passkey",
	} {
		if got := BaseMethod(in); got != want {
			t.Errorf("BaseMethod(%q) = %q, want %q", in, got, want)
		}
	}
	if got := BaseMethod(FactorMethod(EnrolMethod("oidc:corp"), "totp")); got != "oidc:corp" {
		t.Errorf("BaseMethod of an upgraded enrolment = %q", got)
	}
}
