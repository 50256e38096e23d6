// Package scale names the CSS classes of the detection scale's levels.
// Their colours come from the database, and the CSP forbids inline
// styles, so they reach the page through a small generated stylesheet
// (GET Path, linked once in the layout) holding one class per level; views
// put Class(levelID) on a badge or a cell to colour it.
package scale

import (
	"github.com/google/uuid"

	"violet/internal/paths"
)

// Path is where the generated stylesheet of the scale's colours is served.
const Path = paths.ScaleCSS

// Class is the CSS class colouring an element with a level's colour (its
// background and border, with a readable text colour).
func Class(levelID uuid.UUID) string { return "level-" + levelID.String() }
