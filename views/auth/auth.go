// Package auth renders the sign-in page.
package auth

import "violet/views/components"

// LoginForm is what the sign-in page shows: the email and the page to go
// back to are kept; the password never is.
type LoginForm struct {
	Email  string
	Next   string
	Errors components.Errors
}
