// Package diag renders the diagnostics page and the Database card that the
// home page also shows and refreshes.
package diag

import (
	"strings"
	"time"
)

// DBCardProps is what the Database card shows.
type DBCardProps struct {
	Reachable     bool
	Revision      string
	TableCount    int
	ServerVersion string
	Latency       time.Duration
	CheckedAt     time.Time // UTC
}

// latency renders a probe duration to a tenth of a millisecond.
func latency(d time.Duration) string {
	return d.Round(100 * time.Microsecond).String()
}

// shortVersion keeps the version number of a server_version such as
// "15.18 (Debian 15.18-0+deb12u1)"; the whole string is the title.
func shortVersion(v string) string {
	number, _, _ := strings.Cut(v, " ")
	return number
}
