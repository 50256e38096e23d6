package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/detectionlevel"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/views/admin"
	"violet/views/components"
)

// scaleLockKey serialises changes to the detection scale ("violet-l"):
// positions are renumbered and names checked for uniqueness across rows,
// and a delete must see every use of the level it removes.
const scaleLockKey int64 = 0x76696f6c65742d6c

// errLevelInUse is a delete of a level some mission test is rated with.
var errLevelInUse = errors.New("the level is in use")

// detectionLevelForm is what the create and edit forms may set: not the
// position (moved with up and down), not the retired flag (its own
// buttons).
type detectionLevelForm struct {
	Name             string `form:"name"`
	Description      string `form:"description"`
	Score            string `form:"score"`
	Colour           string `form:"colour"`
	ColourPicker     string `form:"colour_picker"`
	ColourWas        string `form:"colour_was"`
	CountsAsDetected string `form:"counts_as_detected"`
}

// detectionMoveForm is the up or down button of a level.
type detectionMoveForm struct {
	Direction string `form:"direction"`
}

// view turns the submitted form into the form shown again, with the
// colour the save will use: the text field when it was changed, else the
// picker.
func (f detectionLevelForm) view(id string) admin.DetectionLevelForm {
	colour := strings.TrimSpace(f.Colour)
	if colour == strings.TrimSpace(f.ColourWas) && f.ColourPicker != "" {
		colour = strings.TrimSpace(f.ColourPicker)
	}
	return admin.DetectionLevelForm{
		ID: id, Name: strings.TrimSpace(f.Name), Description: strings.TrimSpace(f.Description),
		Score: strings.TrimSpace(f.Score), Colour: strings.ToLower(colour), ColourWas: strings.ToLower(colour),
		CountsAsDetected: f.CountsAsDetected != "",
	}
}

// levelValues are a checked form's values, ready to save.
type levelValues struct {
	name, description, colour string
	score                     int
	counts                    bool
}

// checkDetectionLevel validates a level's form; the name must be unique
// among the other levels (ignoring case, so the scale never shows two
// levels that read the same).
func (s *Server) checkDetectionLevel(ctx context.Context, f *admin.DetectionLevelForm, self uuid.UUID) (levelValues, error) {
	errs := components.Errors{}
	v := levelValues{name: f.Name, description: f.Description, colour: f.Colour, counts: f.CountsAsDetected}
	switch {
	case f.Name == "":
		errs["name"] = "form.required"
	case len(f.Name) > admin.DetectionNameMax:
		errs["name"] = "admin.detection.name_too_long"
	default:
		q := s.Ent.DetectionLevel.Query().Where(detectionlevel.NameEqualFold(f.Name))
		if self != uuid.Nil {
			q.Where(detectionlevel.IDNEQ(self))
		}
		taken, err := q.Exist(ctx)
		if err != nil {
			return v, fmt.Errorf("check level name: %w", err)
		}
		if taken {
			errs["name"] = "admin.detection.name_taken"
		}
	}
	if utf8.RuneCountInString(f.Description) > admin.DetectionDescriptionMax {
		errs["description"] = "admin.detection.description_too_long"
	}
	score, err := strconv.Atoi(f.Score)
	switch {
	case f.Score == "":
		errs["score"] = "form.required"
	case err != nil || score < 0 || score > 100:
		errs["score"] = "admin.detection.score_invalid"
	}
	v.score = score
	if !hexColourRE.MatchString(f.Colour) {
		errs["colour"] = "admin.detection.colour_invalid"
	}
	if len(errs) > 0 {
		f.Errors = errs
	}
	return v, nil
}

// detectionLevelList loads the scale in order with each level's number of
// uses: two queries whatever the number of levels.
func (s *Server) detectionLevelList(ctx context.Context) (admin.DetectionLevelList, error) {
	var l admin.DetectionLevelList
	levels, err := s.Ent.DetectionLevel.Query().
		Order(detectionlevel.ByPosition(), detectionlevel.ByName()).
		All(ctx)
	if err != nil {
		return l, fmt.Errorf("list detection levels: %w", err)
	}
	uses, err := s.detectionLevelUses(ctx)
	if err != nil {
		return l, err
	}
	for _, lv := range levels {
		l.Rows = append(l.Rows, admin.DetectionLevelRow{
			ID: lv.ID, Name: lv.Name, Description: lv.Description, Score: lv.Score, Colour: lv.Colour,
			CountsAsDetected: lv.CountsAsDetected, Retired: lv.Retired, Uses: uses[lv.ID],
		})
	}
	return l, nil
}

// detectionLevelUses counts, per level, the mission tests rated with it,
// deleted ones included (they still hold the reference). It is a count
// over every mission, which the scale's admin may not otherwise read, so
// it is plain SQL past the mission privacy rules: no test is shown.
func (s *Server) detectionLevelUses(ctx context.Context) (map[uuid.UUID]int, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT detection_level_id, count(*) FROM mission_tests
		WHERE detection_level_id IS NOT NULL GROUP BY detection_level_id`)
	if err != nil {
		return nil, fmt.Errorf("count level uses: %w", err)
	}
	defer rows.Close()
	out := map[uuid.UUID]int{}
	for rows.Next() {
		var (
			id uuid.UUID
			n  int
		)
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count level uses: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// listDetectionLevels renders the scale's page with an empty new-level
// form.
func (s *Server) listDetectionLevels(c echo.Context) error {
	f := admin.DetectionLevelForm{Score: "0", Colour: admin.DetectionDefaultColour, ColourWas: admin.DetectionDefaultColour}
	return s.renderDetectionLevels(c, http.StatusOK, "", f)
}

// renderDetectionLevels renders the scale's page (or, for htmx, the
// table) with status; errorKey explains a refused change.
func (s *Server) renderDetectionLevels(c echo.Context, status int, errorKey string, f admin.DetectionLevelForm) error {
	ctx := c.Request().Context()
	l, err := s.detectionLevelList(ctx)
	if err != nil {
		return err
	}
	l.ErrorKey = errorKey
	fragment := admin.DetectionLevelsTable(l)
	if isPartial(c.Request()) {
		return s.render(c, status, fragment, nil)
	}
	lp := s.layoutProps(c, "admin.detection.title", "nav.admin")
	return s.render(c, status, admin.DetectionLevelsPage(lp, adminTabs(auth.FromContext(ctx), "/admin/detection-levels"), l, f), fragment)
}

// lockScale takes the scale's transaction lock.
func lockScale(ctx context.Context, tx *ent.Tx) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, scaleLockKey); err != nil {
		return fmt.Errorf("lock the scale: %w", err)
	}
	return nil
}

// createDetectionLevel adds a level at the end of the scale.
func (s *Server) createDetectionLevel(c echo.Context) error {
	var raw detectionLevelForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &raw); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	f := raw.view("")
	vals, err := s.checkDetectionLevel(ctx, &f, uuid.Nil)
	if err != nil {
		return err
	}
	if len(f.Errors) > 0 {
		return s.renderDetectionLevels(c, http.StatusUnprocessableEntity, "", f)
	}
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		if err := lockScale(ctx, tx); err != nil {
			return err
		}
		last, err := tx.DetectionLevel.Query().Order(detectionlevel.ByPosition(sql.OrderDesc())).First(ctx)
		pos := 0
		switch {
		case err == nil:
			pos = last.Position + 1
		case !ent.IsNotFound(err):
			return fmt.Errorf("read the scale: %w", err)
		}
		lv, err := tx.DetectionLevel.Create().SetName(vals.name).SetDescription(vals.description).
			SetScore(vals.score).SetColour(vals.colour).SetCountsAsDetected(vals.counts).SetPosition(pos).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("create level: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.DetectionLevelCreated, TargetType: "detection_level", TargetID: lv.ID.String(), TargetLabel: lv.Name,
			Details: map[string]any{"score": lv.Score, "colour": lv.Colour, "counts_as_detected": lv.CountsAsDetected},
		})
	})
	if err != nil {
		return err
	}
	s.flash(c, "success", "admin.detection.created")
	return c.Redirect(http.StatusSeeOther, "/admin/detection-levels")
}

// editDetectionLevel renders a level's edit form.
func (s *Server) editDetectionLevel(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	lv, err := s.Ent.DetectionLevel.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return s.renderDetectionLevelEdit(c, http.StatusOK, admin.DetectionLevelForm{
		ID: lv.ID.String(), Name: lv.Name, Description: lv.Description, Score: strconv.Itoa(lv.Score),
		Colour: lv.Colour, ColourWas: lv.Colour, CountsAsDetected: lv.CountsAsDetected,
	})
}

func (s *Server) renderDetectionLevelEdit(c echo.Context, status int, f admin.DetectionLevelForm) error {
	lp := s.layoutProps(c, "admin.detection.edit_title", "nav.admin")
	lp.Title = f.Name + " · " + lp.Title
	tabs := adminTabs(auth.FromContext(c.Request().Context()), "/admin/detection-levels")
	return s.render(c, status, admin.DetectionLevelEditPage(lp, tabs, f), nil)
}

// updateDetectionLevel saves a level's edit form, auditing what changed.
func (s *Server) updateDetectionLevel(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	var raw detectionLevelForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &raw); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	if _, err := s.Ent.DetectionLevel.Get(ctx, id); err != nil {
		return err
	}
	f := raw.view(id.String())
	vals, err := s.checkDetectionLevel(ctx, &f, id)
	if err != nil {
		return err
	}
	if len(f.Errors) > 0 {
		return s.renderDetectionLevelEdit(c, http.StatusUnprocessableEntity, f)
	}
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		if err := lockScale(ctx, tx); err != nil {
			return err
		}
		old, err := tx.DetectionLevel.Get(ctx, id)
		if err != nil {
			return err
		}
		changes := map[string]any{}
		note := func(field string, was, now any) {
			if was != now {
				changes[field] = map[string]any{"old": was, "new": now}
			}
		}
		note("name", old.Name, vals.name)
		note("description", old.Description, vals.description)
		note("score", old.Score, vals.score)
		note("colour", old.Colour, vals.colour)
		note("counts_as_detected", old.CountsAsDetected, vals.counts)
		if len(changes) == 0 {
			return nil
		}
		if err := tx.DetectionLevel.UpdateOneID(id).SetName(vals.name).SetDescription(vals.description).
			SetScore(vals.score).SetColour(vals.colour).SetCountsAsDetected(vals.counts).Exec(ctx); err != nil {
			return fmt.Errorf("update level: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.DetectionLevelUpdated, TargetType: "detection_level", TargetID: id.String(), TargetLabel: vals.name,
			Details: changes,
		})
	})
	if err != nil {
		return err
	}
	s.flash(c, "success", "admin.detection.saved")
	return c.Redirect(http.StatusSeeOther, "/admin/detection-levels")
}

// moveDetectionLevel moves a level one step up or down the scale. The
// positions are renumbered densely in the same transaction, so gaps or
// ties left by older data cannot make a move do nothing.
func (s *Server) moveDetectionLevel(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	var f detectionMoveForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	step := 0
	switch f.Direction {
	case "up":
		step = -1
	case "down":
		step = 1
	default:
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		if err := lockScale(ctx, tx); err != nil {
			return err
		}
		levels, err := tx.DetectionLevel.Query().Order(detectionlevel.ByPosition(), detectionlevel.ByName()).All(ctx)
		if err != nil {
			return fmt.Errorf("read the scale: %w", err)
		}
		i := -1
		for k, lv := range levels {
			if lv.ID == id {
				i = k
			}
		}
		if i < 0 {
			return &ent.NotFoundError{}
		}
		j := i + step
		if j < 0 || j >= len(levels) {
			return nil // already first or last
		}
		levels[i], levels[j] = levels[j], levels[i]
		for pos, lv := range levels {
			if lv.Position != pos {
				if err := tx.DetectionLevel.UpdateOneID(lv.ID).SetPosition(pos).Exec(ctx); err != nil {
					return fmt.Errorf("move level: %w", err)
				}
			}
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.DetectionLevelUpdated, TargetType: "detection_level", TargetID: id.String(), TargetLabel: levels[j].Name,
			Details: map[string]any{"position": map[string]any{"old": i, "new": j}},
		})
	})
	if err != nil {
		return err
	}
	return s.afterLevelChange(c, "admin.detection.moved")
}

// afterLevelChange answers a change made from the table: the table again
// for htmx, else a flash and the page.
func (s *Server) afterLevelChange(c echo.Context, key string) error {
	if isPartial(c.Request()) {
		ctx := c.Request().Context()
		l, err := s.detectionLevelList(ctx)
		if err != nil {
			return err
		}
		l.NoticeKey = key
		return s.render(c, http.StatusOK, admin.DetectionLevelsTable(l), nil)
	}
	s.flash(c, "success", key)
	return c.Redirect(http.StatusSeeOther, "/admin/detection-levels")
}

// retireDetectionLevel stops offering a level to blue teams; tests rated
// with it keep their rating.
func (s *Server) retireDetectionLevel(c echo.Context) error {
	return s.setLevelRetired(c, true, "admin.detection.retired_done")
}

// unretireDetectionLevel offers a retired level again.
func (s *Server) unretireDetectionLevel(c echo.Context) error {
	return s.setLevelRetired(c, false, "admin.detection.unretired_done")
}

func (s *Server) setLevelRetired(c echo.Context, retired bool, key string) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		if err := lockScale(ctx, tx); err != nil {
			return err
		}
		lv, err := tx.DetectionLevel.Get(ctx, id)
		if err != nil {
			return err
		}
		if lv.Retired == retired {
			return nil
		}
		if err := tx.DetectionLevel.UpdateOneID(id).SetRetired(retired).Exec(ctx); err != nil {
			return fmt.Errorf("retire level: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.DetectionLevelUpdated, TargetType: "detection_level", TargetID: id.String(), TargetLabel: lv.Name,
			Details: map[string]any{"retired": map[string]any{"old": lv.Retired, "new": retired}},
		})
	})
	if err != nil {
		return err
	}
	return s.afterLevelChange(c, key)
}

// deleteDetectionLevel deletes a level no mission test uses; a level in
// use gets 409 with the reason (it can be retired instead). The level's
// row is locked first: a test being rated with it at the same moment
// waits for the delete or makes it fail, never dangles.
func (s *Server) deleteDetectionLevel(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		if err := lockScale(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT name FROM detection_levels WHERE id = $1 FOR UPDATE`, id)
		if err != nil {
			return fmt.Errorf("lock level: %w", err)
		}
		var name string
		found := rows.Next()
		if found {
			err = rows.Scan(&name)
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("lock level: %w", err)
		}
		if !found {
			return &ent.NotFoundError{}
		}
		var uses int
		urows, err := tx.QueryContext(ctx, `SELECT count(*) FROM mission_tests WHERE detection_level_id = $1`, id)
		if err != nil {
			return fmt.Errorf("count level uses: %w", err)
		}
		if urows.Next() {
			err = urows.Scan(&uses)
		}
		if cerr := urows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("count level uses: %w", err)
		}
		if uses > 0 {
			return errLevelInUse
		}
		if err := tx.DetectionLevel.DeleteOneID(id).Exec(ctx); err != nil {
			return fmt.Errorf("delete level: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.DetectionLevelDeleted, TargetType: "detection_level", TargetID: id.String(), TargetLabel: name,
		})
	})
	if errors.Is(err, errLevelInUse) {
		f := admin.DetectionLevelForm{Score: "0", Colour: admin.DetectionDefaultColour, ColourWas: admin.DetectionDefaultColour}
		return s.renderDetectionLevels(c, http.StatusConflict, "admin.detection.in_use", f)
	}
	if err != nil {
		return err
	}
	return s.afterLevelChange(c, "admin.detection.deleted")
}
