package auth

// SSOButton is a provider's button on the sign-in page.
type SSOButton struct {
	Name string // OIDC_NAME, the label the instance chose
	URL  string // its start route, with the page to go on to
}

// SSOProblem is the page of a single sign-on that did not succeed: the
// provider cannot be reached (503), or Violet refuses the person (403).
type SSOProblem struct {
	TitleKey   string
	MessageKey string
}
