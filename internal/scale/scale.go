// Package scale is the detection scale: the levels a blue team rates a
// mission test with, in the order the scale shows them. Its workflows
// (create, update, move, retire, delete) each run in one transaction under
// the scale's advisory lock with their audit event; its read models are
// the admin's list (with each level's number of uses) and the stylesheet
// of the levels' colours (views/scale).
package scale

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"unicode/utf8"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/detectionlevel"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/database"
	"violet/views/admin"
)

// lockKey serialises changes to the detection scale ("violet-l"):
// positions are renumbered and names checked for uniqueness across rows,
// and a delete must see every use of the level it removes.
const lockKey int64 = 0x76696f6c65742d6c

// ErrInUse is a delete of a level some mission test is rated with: it can
// be retired instead.
var ErrInUse = fmt.Errorf("%w: the level is in use", app.ErrConflict)

// hexColourRE is a colour as the scale stores it (#rrggbb). The database
// refuses anything else; the stylesheet checks again, so that nothing but
// a colour can ever reach CSS.
var hexColourRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Service runs the scale's workflows and read models. The *sql.DB counts
// uses over every mission test, past the mission privacy rules (see
// uses).
type Service struct {
	client *ent.Client
	db     *sql.DB
}

// NewService returns the scale's service over client and db (the same
// database).
func NewService(client *ent.Client, db *sql.DB) *Service {
	return &Service{client: client, db: db}
}

// Input is a level's create or edit form, trimmed: not the position
// (moved with Move), not the retired flag (Retire).
type Input struct {
	Name             string
	Description      string
	Score            string
	Colour           string // #rrggbb
	CountsAsDetected bool
}

// values are a checked form's values, ready to save.
type values struct {
	name, description, colour string
	score                     int
	counts                    bool
}

// check validates a level's form; the name must be unique among the other
// levels than self (ignoring case, so the scale never shows two levels
// that read the same). A refused form is an *app.Invalid.
func (s *Service) check(ctx context.Context, in Input, self uuid.UUID) (values, error) {
	errs := &app.Invalid{}
	v := values{name: in.Name, description: in.Description, colour: in.Colour, counts: in.CountsAsDetected}
	switch {
	case in.Name == "":
		errs.Add("name", "form.required")
	case len(in.Name) > admin.DetectionNameMax:
		errs.Add("name", "admin.detection.name_too_long")
	default:
		q := s.client.DetectionLevel.Query().Where(detectionlevel.NameEqualFold(in.Name))
		if self != uuid.Nil {
			q.Where(detectionlevel.IDNEQ(self))
		}
		taken, err := q.Exist(ctx)
		if err != nil {
			return v, fmt.Errorf("check level name: %w", err)
		}
		if taken {
			errs.Add("name", "admin.detection.name_taken")
		}
	}
	if utf8.RuneCountInString(in.Description) > admin.DetectionDescriptionMax {
		errs.Add("description", "admin.detection.description_too_long")
	}
	score, err := strconv.Atoi(in.Score)
	switch {
	case in.Score == "":
		errs.Add("score", "form.required")
	case err != nil || score < 0 || score > 100:
		errs.Add("score", "admin.detection.score_invalid")
	}
	v.score = score
	if !hexColourRE.MatchString(in.Colour) {
		errs.Add("colour", "admin.detection.colour_invalid")
	}
	return v, errs.Err()
}

// List loads the scale in order with each level's number of uses: two
// queries whatever the number of levels.
func (s *Service) List(ctx context.Context) (admin.DetectionLevelList, error) {
	var l admin.DetectionLevelList
	levels, err := s.client.DetectionLevel.Query().
		Order(detectionlevel.ByPosition(), detectionlevel.ByName()).
		All(ctx)
	if err != nil {
		return l, fmt.Errorf("list detection levels: %w", err)
	}
	uses, err := s.uses(ctx)
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

// uses counts, per level, the mission tests rated with it, as their
// overall result or in one of their outcomes per tool, deleted ones
// included (they still hold the reference). It is a count over every
// mission, which the scale's admin may not otherwise read, so it is plain
// SQL past the mission privacy rules: no test is shown.
func (s *Service) uses(ctx context.Context) (map[uuid.UUID]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT detection_level_id, count(DISTINCT test_id) FROM (
			SELECT detection_level_id, id AS test_id FROM mission_tests
			UNION ALL SELECT detection_level_id, mission_test_id FROM mission_test_outcomes) u
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

// Form is a level's edit form filled with its saved values.
func (s *Service) Form(ctx context.Context, id uuid.UUID) (admin.DetectionLevelForm, error) {
	lv, err := s.client.DetectionLevel.Get(ctx, id)
	if err != nil {
		return admin.DetectionLevelForm{}, err
	}
	return admin.DetectionLevelForm{
		ID: lv.ID.String(), Name: lv.Name, Description: lv.Description, Score: strconv.Itoa(lv.Score),
		Colour: lv.Colour, ColourWas: lv.Colour, CountsAsDetected: lv.CountsAsDetected,
	}, nil
}

// lock takes the scale's transaction lock.
func lock(ctx context.Context, tx *ent.Tx) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("lock the scale: %w", err)
	}
	return nil
}

// Create adds a level at the end of the scale, with its audit event.
func (s *Service) Create(ctx context.Context, in Input) (*ent.DetectionLevel, error) {
	vals, err := s.check(ctx, in, uuid.Nil)
	if err != nil {
		return nil, err
	}
	var lv *ent.DetectionLevel
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := lock(ctx, tx); err != nil {
			return err
		}
		last, err := tx.DetectionLevel.Query().Order(detectionlevel.ByPosition(entsql.OrderDesc())).First(ctx)
		pos := 0
		switch {
		case err == nil:
			pos = last.Position + 1
		case !ent.IsNotFound(err):
			return fmt.Errorf("read the scale: %w", err)
		}
		lv, err = tx.DetectionLevel.Create().SetName(vals.name).SetDescription(vals.description).
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
		return nil, err
	}
	return lv, nil
}

// Update saves a level's edit form, auditing what changed; a form that
// changes nothing writes nothing. A missing level is ent's not found.
func (s *Service) Update(ctx context.Context, id uuid.UUID, in Input) error {
	if _, err := s.client.DetectionLevel.Get(ctx, id); err != nil {
		return err
	}
	vals, err := s.check(ctx, in, id)
	if err != nil {
		return err
	}
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := lock(ctx, tx); err != nil {
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
		if old.Score != vals.score {
			n, err := rederive(ctx, tx)
			if err != nil {
				return err
			}
			if n > 0 {
				changes["tests_rederived"] = n
			}
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.DetectionLevelUpdated, TargetType: "detection_level", TargetID: id.String(), TargetLabel: vals.name,
			Details: changes,
		})
	})
}

// Move moves a level one step up (towards the first) or down the scale.
// The positions are renumbered densely in the same transaction, so gaps or
// ties left by older data cannot make a move do nothing. Moving the first
// level up or the last down does nothing.
func (s *Service) Move(ctx context.Context, id uuid.UUID, up bool) error {
	step := 1
	if up {
		step = -1
	}
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := lock(ctx, tx); err != nil {
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
		details := map[string]any{"position": map[string]any{"old": i, "new": j}}
		if n, err := rederive(ctx, tx); err != nil {
			return err
		} else if n > 0 {
			details["tests_rederived"] = n
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.DetectionLevelUpdated, TargetType: "detection_level", TargetID: id.String(), TargetLabel: levels[j].Name,
			Details: details,
		})
	})
}

// rederive takes each test's overall result again from its best outcome
// (internal/mission outcomes.go: highest score, then the first position,
// then the earliest time, the outcome without a tool, the oldest), in the
// scale change's transaction: a new score or order can change which
// outcome is best, and the figures, queues, report and exports read the
// overall result. Only tests whose result changes are written, their
// version bumped so that an open form is refused as stale. It returns how
// many.
func rederive(ctx context.Context, tx *ent.Tx) (int64, error) {
	res, err := tx.ExecContext(ctx, `UPDATE mission_tests t
		SET detection_level_id = b.detection_level_id, detected_at = b.detected_at, alert_name = b.alert_name,
			log_source = b.log_source, blue_notes = b.notes, version = t.version + 1, updated_at = now()
		FROM (SELECT DISTINCT ON (o.mission_test_id) o.mission_test_id, o.detection_level_id, o.detected_at,
				o.alert_name, o.log_source, o.notes
			FROM mission_test_outcomes o LEFT JOIN detection_levels dl ON dl.id = o.detection_level_id
			ORDER BY o.mission_test_id, dl.id IS NULL, dl.score DESC, dl.position, o.detected_at IS NULL,
				o.detected_at, o.tool_id IS NOT NULL, o.created_at, o.id) b
		WHERE t.id = b.mission_test_id
			AND (t.detection_level_id, t.detected_at, t.alert_name, t.log_source, t.blue_notes)
				IS DISTINCT FROM (b.detection_level_id, b.detected_at, b.alert_name, b.log_source, b.notes)`)
	if err != nil {
		return 0, fmt.Errorf("derive the tests' results again: %w", err)
	}
	return res.RowsAffected()
}

// Retire stops (retired) or starts again (!retired) offering a level to
// blue teams; tests rated with it keep their rating. Setting the flag it
// already has does nothing.
func (s *Service) Retire(ctx context.Context, id uuid.UUID, retired bool) error {
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := lock(ctx, tx); err != nil {
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
}

// Delete deletes a level no mission test uses (nor any outcome of one); a
// level in use is ErrInUse
// (it can be retired instead). The level's row is locked first: a test
// being rated with it at the same moment waits for the delete or makes it
// fail, never dangles.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	return database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if err := lock(ctx, tx); err != nil {
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
		urows, err := tx.QueryContext(ctx, `SELECT (SELECT count(*) FROM mission_tests WHERE detection_level_id = $1)
			+ (SELECT count(*) FROM mission_test_outcomes WHERE detection_level_id = $1)`, id)
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
			return ErrInUse
		}
		if err := tx.DetectionLevel.DeleteOneID(id).Exec(ctx); err != nil {
			return fmt.Errorf("delete level: %w", err)
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.DetectionLevelDeleted, TargetType: "detection_level", TargetID: id.String(), TargetLabel: name,
		})
	})
}
