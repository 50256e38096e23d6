package mission

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Figures are a mission's headline numbers.
type Figures struct {
	Total     int
	ByState   map[string]int
	Executed  int // executed or reviewed
	Reviewed  int
	Rated     int // tests with a detection level recorded
	Detected  int // rated with a level that counts as detected
	PerTactic []TacticFigure
	// MedianTimeToDetect is the median of detected_at − started_at over
	// detected tests that have both; zero when there are none.
	MedianTimeToDetect time.Duration
	TimedDetections    int
}

// TacticFigure is the detection rate of one tactic's tests.
type TacticFigure struct {
	ID       string
	Name     string
	Rated    int
	Detected int
}

// Rate is Detected/Rated as a percentage, -1 with nothing rated.
func (t TacticFigure) Rate() int { return rate(t.Detected, t.Rated) }

// Rate is the mission's detection rate as a percentage, -1 with nothing
// rated.
func (f Figures) Rate() int { return rate(f.Detected, f.Rated) }

// Percent returns n of the total as a percentage.
func (f Figures) Percent(n int) int {
	if f.Total == 0 {
		return 0
	}
	return 100 * n / f.Total
}

func rate(n, of int) int {
	if of == 0 {
		return -1
	}
	return (100*n + of/2) / of
}

// ComputeFigures reads a mission's figures in three queries whatever its
// size. releasedOnly restricts them to the tests released to the blue team
// (what a blue member may see).
func ComputeFigures(ctx context.Context, db *sql.DB, missionID uuid.UUID, releasedOnly bool) (Figures, error) {
	f := Figures{ByState: map[string]int{}}
	filter := ""
	if releasedOnly {
		filter = " AND mt.released_to_blue"
	}
	rows, err := db.QueryContext(ctx, `SELECT mt.state, count(*),
		count(*) FILTER (WHERE mt.detection_level_id IS NOT NULL),
		count(*) FILTER (WHERE dl.counts_as_detected)
		FROM mission_tests mt LEFT JOIN detection_levels dl ON dl.id = mt.detection_level_id
		WHERE mt.mission_id = $1 AND mt.deleted_at IS NULL`+filter+` GROUP BY mt.state`, missionID)
	if err != nil {
		return f, fmt.Errorf("mission figures: %w", err)
	}
	for rows.Next() {
		var state string
		var n, rated, detected int
		if err := rows.Scan(&state, &n, &rated, &detected); err != nil {
			rows.Close()
			return f, err
		}
		f.ByState[state] = n
		f.Total += n
		f.Rated += rated
		f.Detected += detected
	}
	rows.Close()
	f.Reviewed = f.ByState["reviewed"]
	f.Executed = f.ByState["executed"] + f.Reviewed

	// Per tactic: a technique's tactics were copied with its tag; a tactic
	// tag counts for its own tactic.
	rows, err = db.QueryContext(ctx, `WITH t AS (
			SELECT mt.id, mt.detection_level_id IS NOT NULL AS rated, coalesce(dl.counts_as_detected, false) AS det
			FROM mission_tests mt LEFT JOIN detection_levels dl ON dl.id = mt.detection_level_id
			WHERE mt.mission_id = $1 AND mt.deleted_at IS NULL`+filter+`
		), tac AS (
			SELECT DISTINCT g.mission_test_id AS id, x->>'id' AS tid, x->>'name' AS tname
			FROM mission_test_mitre_tags g, jsonb_array_elements(coalesce(g.tactics, '[]'::jsonb)) x
			WHERE g.mission_test_id IN (SELECT id FROM t)
			UNION
			SELECT g.mission_test_id, g.external_id, g.name FROM mission_test_mitre_tags g
			WHERE g.kind = 'tactic' AND g.mission_test_id IN (SELECT id FROM t)
		)
		SELECT tac.tid, min(tac.tname), count(*) FILTER (WHERE t.rated), count(*) FILTER (WHERE t.det)
		FROM tac JOIN t ON t.id = tac.id GROUP BY tac.tid ORDER BY tac.tid`, missionID)
	if err != nil {
		return f, fmt.Errorf("mission figures per tactic: %w", err)
	}
	for rows.Next() {
		var tf TacticFigure
		if err := rows.Scan(&tf.ID, &tf.Name, &tf.Rated, &tf.Detected); err != nil {
			rows.Close()
			return f, err
		}
		f.PerTactic = append(f.PerTactic, tf)
	}
	rows.Close()

	var seconds sql.NullFloat64
	err = db.QueryRowContext(ctx, `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM mt.detected_at - mt.started_at)),
		count(*)
		FROM mission_tests mt JOIN detection_levels dl ON dl.id = mt.detection_level_id
		WHERE mt.mission_id = $1 AND mt.deleted_at IS NULL AND dl.counts_as_detected
		AND mt.detected_at IS NOT NULL AND mt.started_at IS NOT NULL AND mt.detected_at >= mt.started_at`+filter,
		missionID).Scan(&seconds, &f.TimedDetections)
	if err != nil {
		return f, fmt.Errorf("time to detect: %w", err)
	}
	if seconds.Valid {
		f.MedianTimeToDetect = time.Duration(seconds.Float64 * float64(time.Second)).Round(time.Second)
	}
	return f, nil
}

// FigureTest is one test as the figures count it, for FiguresOf.
type FigureTest struct {
	State      string
	Released   bool
	Rated      bool // a detection level is recorded
	Detected   bool // that level counts as detected
	StartedAt  *time.Time
	DetectedAt *time.Time
	// Tactics are the tactics the test's tags name, as tagged: a tactic
	// tag's own, and those copied with every tag. Repeats are allowed.
	Tactics []TacticRef
}

// TacticRef is a tactic a tag names.
type TacticRef struct{ ID, Name string }

// FiguresOf computes the figures of ComputeFigures from tests a page has
// already loaded (every test of the mission the viewer may see), so the
// page spends no statement on them. It counts exactly what the three
// queries count: releasedOnly keeps the released tests; a tactic counts
// a test once per name it is tagged with (the queries' DISTINCT on test,
// tactic and name), under the smallest name; the median time to detect
// is percentile_cont(0.5) over detected tests with both times in order,
// rounded to the second.
func FiguresOf(tests []FigureTest, releasedOnly bool) Figures {
	f := Figures{ByState: map[string]int{}}
	type tacticAgg struct {
		name            string
		rated, detected int
	}
	tactics := map[string]*tacticAgg{}
	var seconds []float64
	seen := map[TacticRef]bool{}
	for i := range tests {
		t := &tests[i]
		if releasedOnly && !t.Released {
			continue
		}
		f.ByState[t.State]++
		f.Total++
		if t.Rated {
			f.Rated++
		}
		if t.Detected {
			f.Detected++
			if t.StartedAt != nil && t.DetectedAt != nil && !t.DetectedAt.Before(*t.StartedAt) {
				seconds = append(seconds, t.DetectedAt.Sub(*t.StartedAt).Seconds())
			}
		}
		clear(seen)
		for _, ref := range t.Tactics {
			if seen[ref] {
				continue
			}
			seen[ref] = true
			agg := tactics[ref.ID]
			if agg == nil {
				agg = &tacticAgg{name: ref.Name}
				tactics[ref.ID] = agg
			} else if ref.Name < agg.name {
				agg.name = ref.Name
			}
			if t.Rated {
				agg.rated++
			}
			if t.Detected {
				agg.detected++
			}
		}
	}
	f.Reviewed = f.ByState["reviewed"]
	f.Executed = f.ByState["executed"] + f.Reviewed
	for id, agg := range tactics {
		f.PerTactic = append(f.PerTactic, TacticFigure{ID: id, Name: agg.name, Rated: agg.rated, Detected: agg.detected})
	}
	slices.SortFunc(f.PerTactic, func(a, b TacticFigure) int { return strings.Compare(a.ID, b.ID) })
	f.TimedDetections = len(seconds)
	if n := len(seconds); n > 0 {
		// percentile_cont(0.5): the middle value, or the mean of the two
		// middle ones.
		slices.Sort(seconds)
		median := seconds[(n-1)/2]
		if n%2 == 0 {
			median += (seconds[n/2] - median) / 2
		}
		f.MedianTimeToDetect = time.Duration(median * float64(time.Second)).Round(time.Second)
	}
	return f
}
