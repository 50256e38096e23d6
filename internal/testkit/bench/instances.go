package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"

	"violet/internal/paths"
)

// InstancesResult compares one `violet serve` process with two on the
// same database, both behind the same round-robin proxy.
type InstancesResult struct {
	Rows []InstancesRow `json:"rows"`
}

// InstancesRow is one page at one concurrency with n instances.
type InstancesRow struct {
	Instances int    `json:"instances"`
	Page      string `json:"page"`
	Stats     Stats  `json:"stats"`
}

// roundRobin is a reverse proxy sending each request to the next backend
// in turn, as a load balancer without sticky sessions does.
func roundRobin(backends []*url.URL) http.Handler {
	var next atomic.Uint64
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(backends[next.Add(1)%uint64(len(backends))])
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxIdleConns: 256, DisableCompression: true},
	}
}

// measureInstances starts one, then two `violet serve` processes on the
// dataset's database behind a round-robin proxy and drives the small
// pages through it at each concurrency above 1. On one machine the two
// processes share its cores: the result shows what a second instance
// costs or gains here, not on two machines.
func measureInstances(ctx context.Context, binary, dbURL string, d *Dataset, o Options) (*InstancesResult, error) {
	res := &InstancesResult{}
	pages := []Page{
		{Name: "home", Path: paths.Home, As: "lead"},
		{Name: fmt.Sprintf("mission %d tests", d.Scale.SmallTests), Path: paths.URL(paths.Mission, d.Small), As: "lead"},
		{Name: "test drawer (htmx)", Path: paths.URL(paths.MissionTest, d.Big, d.DrawerTest), As: "lead",
			Header: map[string]string{"HX-Request": "true"}},
	}
	key := sessionKey()
	for n := 1; n <= 2; n++ {
		var (
			procs    []*process
			backends []*url.URL
		)
		stopAll := func() {
			for _, p := range procs {
				_, _ = p.stop()
			}
		}
		for range n {
			p, _, err := startProcess(ctx, binary, dbURL, key)
			if err != nil {
				stopAll()
				return nil, err
			}
			procs = append(procs, p)
			u, _ := url.Parse(p.base)
			backends = append(backends, u)
		}
		base, stopProxy, err := listen(roundRobin(backends))
		if err != nil {
			stopAll()
			return nil, err
		}
		c := NewClient(base, maxConc(o.Concurrency))
		if err := c.Login(ctx, "lead", d.LeadEmail, Password); err != nil {
			stopProxy()
			stopAll()
			return nil, err
		}
		for _, p := range pages {
			for _, conc := range o.Concurrency {
				if conc == 1 {
					continue
				}
				Load(ctx, conc, 0, o.Warmup, c.Op(p))
				res.Rows = append(res.Rows, InstancesRow{Instances: n, Page: p.Name, Stats: Load(ctx, conc, 0, o.Duration, c.Op(p))})
			}
		}
		stopProxy()
		stopAll()
	}
	return res, nil
}
