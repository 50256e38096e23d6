package handlers

import (
	"bytes"
	"database/sql"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"violet/ent/detectionlevel"
	"violet/views/scale"
)

// hexColourRE is a colour as the scale stores it (#rrggbb). The database
// refuses anything else; the stylesheet checks again, so that nothing but
// a colour can ever reach CSS.
var hexColourRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// scaleCSSTag is the ETag of the scale's stylesheet: the number of levels
// and their latest change, read in one aggregate query, so a revalidation
// answered 304 loads no level. Any create, edit, move, retire or delete
// changes one or the other.
func (s *Server) scaleCSSTag(c echo.Context) (string, error) {
	var (
		n      int
		latest sql.NullTime
	)
	err := s.DB.QueryRowContext(c.Request().Context(),
		`SELECT count(*), max(updated_at) FROM detection_levels`).Scan(&n, &latest)
	if err != nil {
		return "", fmt.Errorf("scale stylesheet version: %w", err)
	}
	var at int64
	if latest.Valid {
		at = latest.Time.UTC().UnixMicro()
	}
	return `"levels-` + strconv.Itoa(n) + "-" + strconv.FormatInt(at, 36) + `"`, nil
}

// etagMatches reports whether an If-None-Match header names tag (weak
// comparison, as RFC 9110 asks for If-None-Match), or is "*".
func etagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == tag || t == "*" {
			return true
		}
	}
	return false
}

// showScaleCSS serves the detection scale's colours as a stylesheet: one
// class per level (scale.Class) with its colour as background and border
// and a readable text colour. The CSP forbids inline styles, so this is
// how colours chosen by an admin reach the page. Browsers revalidate it on
// every use (no-cache) and get a 304 while the scale is unchanged.
func (s *Server) showScaleCSS(c echo.Context) error {
	tag, err := s.scaleCSSTag(c)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("ETag", tag)
	h.Set("Cache-Control", "no-cache")
	if etagMatches(c.Request().Header.Get("If-None-Match"), tag) {
		return c.NoContent(http.StatusNotModified)
	}
	levels, err := s.Ent.DetectionLevel.Query().
		Order(detectionlevel.ByPosition(), detectionlevel.ByName()).
		Select(detectionlevel.FieldColour).
		All(c.Request().Context())
	if err != nil {
		return fmt.Errorf("scale stylesheet: %w", err)
	}
	var b bytes.Buffer
	b.WriteString("/* Violet: the detection scale's colours, generated from the database. */\n")
	for _, l := range levels {
		if !hexColourRE.MatchString(l.Colour) {
			continue
		}
		colour := strings.ToLower(l.Colour)
		fmt.Fprintf(&b, ".%s { --level-colour: %s; background-color: %s; border-color: %s; color: %s; print-color-adjust: exact; -webkit-print-color-adjust: exact; }\n",
			scale.Class(l.ID), colour, colour, colour, textColourOn(colour))
	}
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", b.Bytes())
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
