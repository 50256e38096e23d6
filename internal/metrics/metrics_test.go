package metrics_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"violet/internal/metrics"
)

// TestLabelsStayBounded: whatever method or status a request has, the
// label values come from a fixed set.
func TestLabelsStayBounded(t *testing.T) {
	m := metrics.New(nil, nil)
	m.ObserveRequest("BREW", "/missions/:id", 418, time.Millisecond)
	m.ObserveRequest("brew", "/missions/:id", 999, time.Millisecond)
	m.ObserveRequest(http.MethodGet, "/missions/:id", 200, time.Millisecond)
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fams {
		if f.GetName() != "violet_http_request_duration_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			var l []string
			for _, p := range s.GetLabel() {
				l = append(l, p.GetName()+"="+p.GetValue())
			}
			got = append(got, strings.Join(l, ","))
		}
	}
	if len(got) != 3 {
		t.Errorf("series %v, want 3 (OTHER 418, OTHER other, GET 200)", got)
	}
	for _, w := range []string{
		"method=OTHER,route=/missions/:id,status=418",
		"method=OTHER,route=/missions/:id,status=other",
		"method=GET,route=/missions/:id,status=200",
	} {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("no series %s in %v", w, got)
		}
	}
}

// TestObserveRequestCost: recording a request on an existing series costs
// at most the one allocation of the label slice WithLabelValues takes.
func TestObserveRequestCost(t *testing.T) {
	m := metrics.New(nil, nil)
	m.ObserveRequest(http.MethodGet, "/missions/:id", 200, time.Millisecond)
	if n := testing.AllocsPerRun(1000, func() {
		m.ObserveRequest(http.MethodGet, "/missions/:id", 200, time.Millisecond)
	}); n > 1 {
		t.Errorf("%v allocations per request, want at most 1", n)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := metrics.New(nil, nil)
	routes := []string{"/", "/missions", "/missions/:id", "/missions/:id/tests/:test"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.ObserveRequest(http.MethodGet, routes[i%len(routes)], 200, 3*time.Millisecond)
			i++
		}
	})
}
