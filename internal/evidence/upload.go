package evidence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"violet/ent"
	"violet/ent/evidencefile"
	"violet/ent/schema"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/database"
	"violet/internal/live"
	"violet/internal/mission"
	"violet/internal/textrule"
	mtviews "violet/views/missiontest"
)

// MaxFiles bounds the files of one upload.
const MaxFiles = 20

// ErrTooManyFiles is an upload of more than MaxFiles files (422).
var ErrTooManyFiles = fmt.Errorf("%w: more than %d files in one upload", app.ErrInvalid, MaxFiles)

// Upload is one upload in progress: files attached to a test, several at
// once, a caption each, on the side the viewer's role gives (red members
// and leads: red; blue members: blue, on released tests; a lead may pick
// blue once the test is released). The caller streams the request body:
// each file goes through Add (checked, hashed and stored as it arrives, by
// Ingest), the captions through AddCaption, the side through SetSide; then
// Commit writes every row, its audit record and the live update in one
// transaction. All or nothing: Discard, deferred by the caller, removes
// what was stored unless Commit succeeded.
type Upload struct {
	Test     *Test
	MaxBytes int64 // the size limit of one file

	s         *Service
	sides     []string
	side      string
	captions  []string
	stored    []*Stored
	refused   []mtviews.EvidenceRefusal
	committed bool
}

// BeginUpload checks that the viewer may attach files to the test of ref
// (a side to attach to, a mission not archived) and reads the size limit,
// before a byte of the body is read.
func (s *Service) BeginUpload(ctx context.Context, ref Ref) (*Upload, error) {
	t, err := s.Load(ctx, ref)
	if err != nil {
		return nil, err
	}
	allowed := sides(t.Access, t.Test)
	if len(allowed) == 0 {
		return nil, mission.ErrForbidden
	}
	if t.Access.Archived() {
		return nil, mission.ErrReadOnly
	}
	max, err := s.MaxBytes(ctx)
	if err != nil {
		return nil, err
	}
	return &Upload{Test: t, MaxBytes: max, s: s, sides: allowed}, nil
}

// ReadError is a failure to read an uploaded file (a client gone
// mid-upload, a body over its limit), told apart from the store's.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "evidence: read the upload: " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// readRecorder remembers the error reading r failed with.
type readRecorder struct {
	r   io.Reader
	err error
}

func (rr *readRecorder) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		rr.err = err
	}
	return n, err
}

// Add checks and stores one file read from r (see Ingest). A file over the
// size limit is ErrTooLarge; a failure to read r is a *ReadError; a file
// refused for what it is is listed (Refused) and its *Refusal returned.
func (u *Upload) Add(ctx context.Context, name string, r io.Reader) error {
	if len(u.stored)+len(u.refused) >= MaxFiles {
		return ErrTooManyFiles
	}
	rr := &readRecorder{r: r}
	st, err := Ingest(ctx, u.s.d.Store, name, rr, Limits{
		MaxBytes: u.MaxBytes, Decodes: u.s.d.Decodes, DecodeWait: u.s.d.DecodeWait})
	var refusal *Refusal
	switch {
	case err == nil:
		u.stored = append(u.stored, st)
	case errors.Is(err, ErrTooLarge):
	case rr.err != nil:
		return &ReadError{Err: rr.err}
	case errors.As(err, &refusal):
		u.refused = append(u.refused, mtviews.EvidenceRefusal{Name: SanitizeName(name), Reason: refusal.Reason})
	}
	return err
}

// AddCaption records the caption of the next file.
func (u *Upload) AddCaption(c string) { u.captions = append(u.captions, strings.TrimSpace(c)) }

// SetSide records the side the form asks for; a side the viewer may not
// attach to is ignored.
func (u *Upload) SetSide(side string) { u.side = strings.TrimSpace(side) }

// Refused lists the files refused and why.
func (u *Upload) Refused() []mtviews.EvidenceRefusal { return u.refused }

// Captions are the captions typed, to keep in a refused form.
func (u *Upload) Captions() []string { return u.captions }

// caption is the i-th caption, "" when there are fewer.
func (u *Upload) caption(i int) string {
	if i < len(u.captions) {
		return u.captions[i]
	}
	return ""
}

// Discard removes what was stored, unless the upload was committed.
func (u *Upload) Discard(ctx context.Context) {
	if u.committed {
		return
	}
	for _, st := range u.stored {
		Discard(ctx, u.s.d.Store, st)
	}
}

// Committed is what an upload wrote.
type Committed struct {
	Files []*ent.EvidenceFile
	Bytes int64 // of every file
}

// Commit writes a row per stored file with its audit record, and the live
// update of the test, in one transaction. An upload without any file
// (evidence.no_file) or with a refused one (evidence.refused_all, the
// refusals in Refused) is an *app.Invalid and writes nothing.
func (u *Upload) Commit(ctx context.Context) (*Committed, error) {
	a, t := u.Test.Access, u.Test.Test
	side := u.sides[0]
	if slices.Contains(u.sides, u.side) {
		side = u.side
	}
	// The caption column's own length (bytes, from the schema).
	rule := textrule.For(schema.EvidenceFile{}, "caption")
	for i, st := range u.stored {
		if rule.Len(u.caption(i)) > rule.Max {
			u.refused = append(u.refused, mtviews.EvidenceRefusal{Name: st.Name, Reason: "evidence.refused.caption"})
		}
	}
	switch {
	case len(u.stored) == 0 && len(u.refused) == 0:
		return nil, &app.Invalid{Key: "evidence.no_file"}
	case len(u.refused) > 0:
		return nil, &app.Invalid{Key: "evidence.refused_all"}
	}
	res := &Committed{}
	err := database.WithTx(ctx, u.s.d.Ent, func(tx *ent.Tx) error {
		for i, st := range u.stored {
			f, err := tx.EvidenceFile.Create().
				SetMissionTestID(t.ID).SetSide(evidencefile.Side(side)).SetUploadedByID(a.Viewer.UserID).
				SetOriginalName(st.Name).SetStoredKey(st.Key).SetContentType(st.Kind.ContentType).
				SetSize(st.Size).SetSha256(st.SHA256).SetCaption(u.caption(i)).
				Save(ctx)
			if err != nil {
				return fmt.Errorf("save evidence: %w", err)
			}
			if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
				Action: audit.EvidenceUploaded, TargetType: Target, TargetID: f.ID.String(), TargetLabel: f.OriginalName,
				Details: map[string]any{
					"mission_id": a.Mission.ID.String(), "mission_test_id": t.ID.String(), "test": t.Name,
					"side": side, "size": st.Size, "sha256": st.SHA256, "content_type": st.Kind.ContentType,
				},
			}); err != nil {
				return err
			}
			res.Files = append(res.Files, f)
		}
		return live.PublishTest(ctx, tx, t.ID, a.Viewer.UserID)
	})
	if err != nil {
		return nil, err
	}
	u.committed = true
	for _, st := range u.stored {
		res.Bytes += st.Size
	}
	return res, nil
}
