package handlers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"violet/internal/i18n"
)

// TestStreamReportMarksATruncatedReport: a report whose rendering fails
// once it has started sends what it rendered, then the visible marker
// saying it is incomplete, in the reader's language, and returns the
// error (handleError logs it: the status is sent).
func TestStreamReportMarksATruncatedReport(t *testing.T) {
	catalog, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	failing := templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		if _, err := io.WriteString(w, "<main><p>first tests</p>"); err != nil {
			return err
		}
		return boom
	})
	for lang, want := range map[string]string{"en": "This report is incomplete", "fr": "Ce rapport est incomplet"} {
		ctx := i18n.NewContext(context.Background(), catalog.Pick(lang, ""))
		var out bytes.Buffer
		if err := streamReport(ctx, &out, failing); !errors.Is(err, boom) {
			t.Errorf("%s: error %v, want boom", lang, err)
		}
		body := out.String()
		if !strings.HasPrefix(body, "<main><p>first tests</p>") || !strings.Contains(body, `data-testid="report-truncated"`) ||
			!strings.Contains(body, want) {
			t.Errorf("%s: body %q", lang, body)
		}
	}
	var out bytes.Buffer
	whole := templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, "<p>all</p>")
		return err
	})
	if err := streamReport(context.Background(), &out, whole); err != nil || out.String() != "<p>all</p>" {
		t.Errorf("a whole report: %q, %v", out.String(), err)
	}
}

// TestDocumentBudget: reports and large exports are built a few per core
// at once; one more waits, and gives up at its deadline with an error
// that statusOf shows as 503 (busy), until a place is given back.
func TestDocumentBudget(t *testing.T) {
	s := &Server{reports: newDocumentBudget()}
	places := 4 * max(1, runtime.GOMAXPROCS(0))
	var releases []func()
	for range places {
		release, err := s.holdDocument(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.holdDocument(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || statusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("one more than %d: %v (status %d), want a deadline (503)", places, err, statusOf(err))
	}
	releases[0]()
	release, err := s.holdDocument(context.Background())
	if err != nil {
		t.Fatalf("after a place was given back: %v", err)
	}
	release()
}
