package scale

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"

	"violet/ent/detectionlevel"
	"violet/internal/auth/rule"
	scaleview "violet/views/scale"
)

// Version is the ETag of the scale's stylesheet: the number of levels and
// their latest change, read in one aggregate query, so a revalidation
// answered 304 loads no level. Any create, edit, move, retire or delete
// changes one or the other.
func (s *Service) Version(ctx context.Context) (string, error) {
	var (
		n      int
		latest sql.NullTime
	)
	err := s.db.QueryRowContext(ctx, `SELECT count(*), max(updated_at) FROM detection_levels`).Scan(&n, &latest)
	if err != nil {
		return "", fmt.Errorf("scale stylesheet version: %w", err)
	}
	var at int64
	if latest.Valid {
		at = latest.Time.UTC().UnixMicro()
	}
	return `"levels-` + strconv.Itoa(n) + "-" + strconv.FormatInt(at, 36) + `"`, nil
}

// Stylesheet is the detection scale's colours as CSS: one class per level
// (views/scale.Class) with its colour as background and border and a
// readable text colour. The CSP forbids inline styles, so this is how
// colours chosen by an admin reach the page.
func (s *Service) Stylesheet(ctx context.Context) ([]byte, error) {
	// The colours are public (the sign-in page links the stylesheet),
	// so they are read as the system, viewer or none.
	levels, err := s.client.DetectionLevel.Query().
		Order(detectionlevel.ByPosition(), detectionlevel.ByName()).
		Select(detectionlevel.FieldColour).
		All(rule.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("scale stylesheet: %w", err)
	}
	var b bytes.Buffer
	b.WriteString("/* Violet: the detection scale's colours, generated from the database. */\n")
	for _, l := range levels {
		if !hexColourRE.MatchString(l.Colour) {
			continue
		}
		colour := strings.ToLower(l.Colour)
		fmt.Fprintf(&b, ".%s { --level-colour: %s; background-color: %s; border-color: %s; color: %s; print-color-adjust: exact; -webkit-print-color-adjust: exact; }\n",
			scaleview.Class(l.ID), colour, colour, colour, textColourOn(colour))
	}
	return b.Bytes(), nil
}

// textColourOn picks black or white text for a #rrggbb background: the one
// with the higher WCAG contrast ratio against the colour's relative
// luminance.
func textColourOn(hex string) string {
	if luminance(hex) > math.Sqrt(1.05*0.05)-0.05 {
		return "#000000"
	}
	return "#ffffff"
}

// luminance is the WCAG 2 relative luminance of a #rrggbb colour.
func luminance(hex string) float64 {
	channel := func(i int) float64 {
		v, _ := strconv.ParseUint(hex[i:i+2], 16, 8)
		c := float64(v) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*channel(1) + 0.7152*channel(3) + 0.0722*channel(5)
}
