// Package auth renders the sign-in page.
package auth

import "violet/views/components"

// LoginForm is what the sign-in page shows: the email and the page to go
// back to are kept; the password never is.
type LoginForm struct {
	Email  string
	Next   string
	Errors components.Errors
	SSO    []SSOButton // one per configured identity provider
}

// SecondFactorForm is the second step of a sign-in: the code, never kept,
// and the page to go back to.
type SecondFactorForm struct {
	Next   string
	Errors components.Errors
}
