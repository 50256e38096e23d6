package admin

import "violet/views/components"

// SyncForm is the "sync from URL" form as the admin left it.
type SyncForm struct {
	URL      string
	Remember bool
	Errors   components.Errors
}

// SyncRow is one sync in the history or on its own page.
type SyncRow struct {
	ID        string
	When      string // started, with its zone
	Who       string // the email of who started it, "" for the command line
	Source    string
	Version   string
	Status    string // running, succeeded, failed
	Phase     string
	Progress  int
	Error     string
	Added     int
	Updated   int
	Revoked   int
	Unchanged int
	Took      string // "" while running
}

// Running reports whether the sync has not finished.
func (r SyncRow) Running() bool { return r.Status == "running" }

// SyncPageProps is the ATT&CK sync page.
type SyncPageProps struct {
	Form        SyncForm
	UploadError string // i18n key
	History     []SyncRow
}

func syncBadge(status string) string {
	switch status {
	case "succeeded":
		return "badge badge--ok"
	case "failed":
		return "badge badge--danger"
	}
	return "badge badge--warn"
}
