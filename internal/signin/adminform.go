package signin

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/crewjam/saml"

	"violet/internal/config"
	"violet/views/admin"
	"violet/views/components"
)

// keyPattern is the rule of a provider's key (the table's check): it is
// part of URLs (/saml/<key>/acs) and of the method sessions record.
var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// domainLabel is one label of an e-mail domain (letters, digits, hyphens
// inside; punycode for international names).
var domainLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// formErrors collects a form's refusals: a message key per field, with
// the arguments of its message (the group a map names, the line).
type formErrors struct {
	errs components.Errors
	args map[string][]any
}

func newFormErrors() *formErrors {
	return &formErrors{errs: components.Errors{}, args: map[string][]any{}}
}

// add keeps the first refusal of a field: the one to fix first.
func (e *formErrors) add(field, key string, args ...any) {
	if e.errs.Has(field) {
		return
	}
	e.errs[field] = key
	if len(args) > 0 {
		e.args[field] = args
	}
}

func (e *formErrors) any() bool { return len(e.errs) > 0 }

// checkURL refuses what single sign-on may not trust: anything but https,
// or http to this machine's loopback (config.SecureURL), with a host, no
// credentials and no fragment.
func checkURL(e *formErrors, field, raw string) {
	if len(raw) > admin.SignInURLMax {
		e.add(field, "signin.form.too_long")
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || !config.SecureURL(u) {
		e.add(field, "signin.form.url_invalid")
	}
}

// checkLen refuses a value longer than max bytes.
func checkLen(e *formErrors, field, v string, max int) {
	if len(v) > max {
		e.add(field, "signin.form.too_long")
	}
}

// lines are the non-blank lines of a textarea, trimmed, each with its
// number (from 1) for the messages.
func lines(text string) (out []struct {
	n    int
	text string
}) {
	for i, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, struct {
				n    int
				text string
			}{i + 1, l})
		}
	}
	return out
}

// groupRule is what a map may name: the groups that exist, and those the
// viewer may grant (a map grants its groups to whoever the provider
// vouches for, so nobody maps to a group they could not give by hand).
type groupRule struct {
	known, grantable map[string]bool
}

// check refuses a group that does not exist or that the viewer may not
// grant, naming it and the line.
func (r groupRule) check(e *formErrors, field, g string, line int) bool {
	switch {
	case !r.known[g]:
		e.add(field, "signin.form.unknown_group", "Group", g, "Line", line)
	case !r.grantable[g]:
		e.add(field, "signin.form.not_grantable", "Group", g, "Line", line)
	default:
		return true
	}
	return false
}

// parseGroupMap reads "claim value = Violet group" lines. The value is
// cut at the last "=", as group values often hold some themselves (the
// distinguished names ADFS and LDAP-backed providers send:
// CN=soc,OU=groups,DC=example,DC=org); group names never do. Every group
// must exist and be one the viewer may grant (known).
func parseGroupMap(e *formErrors, field, text string, known groupRule) map[string]string {
	out := map[string]string{}
	for _, l := range lines(text) {
		i := strings.LastIndex(l.text, "=")
		if i < 0 {
			e.add(field, "signin.form.map_syntax", "Line", l.n)
			continue
		}
		k, g := strings.TrimSpace(l.text[:i]), strings.TrimSpace(l.text[i+1:])
		switch {
		case k == "" || g == "":
			e.add(field, "signin.form.map_syntax", "Line", l.n)
		case !known.check(e, field, g, l.n):
		default:
			if _, dup := out[k]; dup {
				e.add(field, "signin.form.map_twice", "Value", k, "Line", l.n)
			}
			out[k] = g
		}
	}
	return out
}

// parseDomains reads "domain = group, group" lines: verified e-mails of
// the domain get an account at their first sign-in, in those groups
// (which must exist and be grantable by the viewer; none is allowed: an
// account without groups).
func parseDomains(e *formErrors, field, text string, known groupRule) map[string][]string {
	out := map[string][]string{}
	for _, l := range lines(text) {
		d, gs, _ := strings.Cut(l.text, "=")
		d = strings.ToLower(strings.TrimSpace(d))
		if !validDomain(d) {
			e.add(field, "signin.form.domain_invalid", "Value", d, "Line", l.n)
			continue
		}
		if _, dup := out[d]; dup {
			e.add(field, "signin.form.map_twice", "Value", d, "Line", l.n)
			continue
		}
		groups := []string{}
		for _, g := range strings.Split(gs, ",") {
			if g = strings.TrimSpace(g); g == "" {
				continue
			}
			known.check(e, field, g, l.n)
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
		out[d] = groups
	}
	return out
}

// validDomain reports whether d is a domain name an e-mail address may
// end with: at least two labels, each of letters, digits and inner
// hyphens, the last not all digits, 253 bytes at most.
func validDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	labels := strings.Split(d, ".")
	for _, l := range labels {
		if !domainLabel.MatchString(l) {
			return false
		}
	}
	_, err := strconv.Atoi(labels[len(labels)-1])
	return err != nil
}

// scopes reads the scopes field: separated by spaces, openid always first.
func scopes(text string) []string {
	out := []string{"openid"}
	for _, s := range strings.Fields(text) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// groupMapText and domainsText show stored maps in their textareas, one
// line each, sorted so the form reads the same every time.
func groupMapText(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%s = %s\n", k, m[k])
	}
	return b.String()
}

func domainsText(m map[string][]string) string {
	var b strings.Builder
	for _, d := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%s = %s\n", d, strings.Join(m[d], ", "))
	}
	return b.String()
}

// checkMetadata refuses pasted metadata that is not one identity
// provider's: a SAML EntityDescriptor (crewjam's type, read with
// encoding/xml, size bounded first) with an IDPSSODescriptor holding at
// least one signing certificate that parses. Without one, no assertion
// could ever be checked.
func checkMetadata(e *formErrors, field, text string) {
	if len(text) > admin.SignInMetadataMax {
		e.add(field, "signin.form.too_long")
		return
	}
	var ed saml.EntityDescriptor
	if err := xml.NewDecoder(bytes.NewReader([]byte(text))).Decode(&ed); err != nil || ed.EntityID == "" {
		e.add(field, "signin.form.metadata_invalid")
		return
	}
	if len(ed.IDPSSODescriptors) == 0 {
		e.add(field, "signin.form.metadata_not_idp")
		return
	}
	for _, idp := range ed.IDPSSODescriptors {
		for _, kd := range idp.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, c := range kd.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Data), ""))
				if err != nil {
					continue
				}
				if _, err := x509.ParseCertificate(der); err == nil {
					return
				}
			}
		}
	}
	e.add(field, "signin.form.metadata_no_certificate")
}
