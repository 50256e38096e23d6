// Package attack keeps Violet's copy of the MITRE ATT&CK Enterprise
// catalogue: it reads STIX 2.1 bundles as a stream, syncs them into the
// mitre_* tables (an idempotent upsert keyed on the STIX id that flags
// revoked and deprecated entries and never deletes one), records each sync,
// and fetches bundles from a URL.
package attack

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"violet/internal/attackid"
	"violet/internal/parselimit"
)

// Entry is what every catalogue entry keeps from its STIX object.
type Entry struct {
	StixID      string
	ExternalID  string
	Name        string
	Description string
	URL         string
	Platforms   []string
	Revoked     bool
	Deprecated  bool
	RevokedBy   string // STIX id of the replacement named by a revoked-by relationship
	Modified    *time.Time
}

// Tactic is a column of the matrix.
type Tactic struct {
	Entry
	Shortname string
	Position  int
}

// Technique belongs to one or more tactics (STIX ids).
type Technique struct {
	Entry
	Tactics []string
}

// Subtechnique belongs to its parent technique (STIX id) and takes its
// tactics.
type Subtechnique struct {
	Entry
	Parent string
}

// Bundle is the catalogue read from one STIX bundle.
type Bundle struct {
	Version       string // ATT&CK release, e.g. "16.1"; "" when the bundle does not say
	Tactics       []Tactic
	Techniques    []Technique
	Subtechniques []Subtechnique
}

// Size is the number of catalogue entries in the bundle.
func (b *Bundle) Size() int { return len(b.Tactics) + len(b.Techniques) + len(b.Subtechniques) }

// ReadError is a bundle that cannot be used, with what is wrong with it.
type ReadError struct{ Reason string }

func (e *ReadError) Error() string { return "invalid ATT&CK bundle: " + e.Reason }

func invalid(format string, args ...any) error {
	return &ReadError{Reason: fmt.Sprintf(format, args...)}
}

// stixObject holds the fields Violet reads from the objects it uses.
type stixObject struct {
	Type        string   `json:"type"`
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Modified    string   `json:"modified"`
	Revoked     bool     `json:"revoked"`
	Deprecated  bool     `json:"x_mitre_deprecated"`
	IsSub       bool     `json:"x_mitre_is_subtechnique"`
	Platforms   []string `json:"x_mitre_platforms"`
	Shortname   string   `json:"x_mitre_shortname"`
	Version     string   `json:"x_mitre_version"`
	References  []struct {
		SourceName string `json:"source_name"`
		ExternalID string `json:"external_id"`
		URL        string `json:"url"`
	} `json:"external_references"`
	KillChain []struct {
		Name  string `json:"kill_chain_name"`
		Phase string `json:"phase_name"`
	} `json:"kill_chain_phases"`
	TacticRefs       []string `json:"tactic_refs"`
	RelationshipType string   `json:"relationship_type"`
	SourceRef        string   `json:"source_ref"`
	TargetRef        string   `json:"target_ref"`
}

// head is read first from every object (peekHead), to skip those Violet ignores
// without caring about their other fields.
type head struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// ReadOptions tune Read.
type ReadOptions struct {
	// Version is the ATT&CK release to record when the bundle has no
	// x-mitre-collection naming it (for example taken from the file name).
	Version string
	// Progress, when set, is called now and then with the bytes read.
	Progress func(bytesRead int64)
}

// Read decodes a STIX 2.1 ATT&CK Enterprise bundle from r. It streams: one
// object at a time is decoded and only what the catalogue keeps is held.
// Any problem (not JSON, not a bundle, malformed objects, missing ids or
// ATT&CK IDs, duplicate ids, relationships to unknown objects) is a
// *ReadError naming it.
func Read(r io.Reader, opts ReadOptions) (*Bundle, error) {
	// Checked as the bytes go by: a bundle is never held whole.
	lim := &limitReader{r: parselimit.NewJSONReader(r, parselimit.Limits{MaxBytes: MaxBundleBytes, MaxDepth: MaxBundleDepth})}
	b, err := read(lim, opts)
	if err != nil && lim.err != nil {
		return nil, &ReadError{Reason: lim.err.Error()}
	}
	return b, err
}

// Bounds of a bundle, checked before the JSON decoder sees its bytes. The
// full Enterprise bundle (every object, 17.1) is 44 MB: 128 MB leaves
// room for years of releases, and the stream is never held whole. A
// bundle nests 6 levels; 64 refuses only files made to hurt the decoder.
const (
	MaxBundleBytes = 128 << 20
	MaxBundleDepth = 64
)

// limitReader keeps the limit a bundle passed, which the JSON decoder
// would otherwise report as a read error among others.
type limitReader struct {
	r   io.Reader
	err *parselimit.Error
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if le := (*parselimit.Error)(nil); errors.As(err, &le) {
		l.err = le
	}
	return n, err
}

func read(r io.Reader, opts ReadOptions) (*Bundle, error) {
	cr := &countingReader{r: r, progress: opts.Progress}
	br := bufio.NewReaderSize(cr, 256<<10)
	dec := json.NewDecoder(br)
	p := newParser()
	if err := expectDelim(dec, '{', "the file does not start a JSON object"); err != nil {
		return nil, err
	}
	sawObjects, bundleType := false, ""
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, invalid("not JSON: %v", jsonError(err))
		}
		switch key {
		case "type":
			if err := dec.Decode(&bundleType); err != nil {
				return nil, invalid("the top-level type is not a string")
			}
		case "objects":
			sawObjects = true
			if err := expectDelim(dec, '[', `"objects" is not a list`); err != nil {
				return nil, err
			}
			rest, err := readObjects(io.MultiReader(dec.Buffered(), br), p)
			if err != nil {
				return nil, err
			}
			// The decoder resumes after the list: it is given a stand-in
			// start of the bundle (read at once below) and then the rest,
			// so that it reads what follows as it would have.
			dec = json.NewDecoder(io.MultiReader(strings.NewReader(`{"objects":[]`), rest))
			for range 4 {
				if _, err := dec.Token(); err != nil {
					return nil, invalid("not JSON: %v", jsonError(err))
				}
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, invalid("not JSON: %v", jsonError(err))
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, invalid("not JSON: %v", jsonError(err))
	}
	if bundleType != "bundle" {
		return nil, invalid(`the top-level object is not a STIX bundle (type %q)`, bundleType)
	}
	if !sawObjects {
		return nil, invalid(`the bundle has no "objects"`)
	}
	b, err := p.finish()
	if err != nil {
		return nil, err
	}
	if b.Version == "" {
		b.Version = opts.Version
	}
	return b, nil
}

func expectDelim(dec *json.Decoder, want json.Delim, msg string) error {
	tok, err := dec.Token()
	if err != nil {
		return invalid("not JSON: %v", jsonError(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return invalid("%s", msg)
	}
	return nil
}

// jsonError keeps the decoder's own words, which say where it stopped.
func jsonError(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "the file ends too early"
	}
	return err.Error()
}

// parser accumulates what Read keeps from the objects, in any order.
type parser struct {
	ids           map[string]bool
	version       string
	matrixTactics []string
	tactics       map[string]*Tactic
	tacticOrder   []string
	techniques    map[string]*Technique
	subs          map[string]*Subtechnique
	order         []string            // attack-pattern ids in bundle order
	phases        map[string][]string // technique id -> tactic shortnames
	subOf         []relationship
	revokedBy     []relationship
}

type relationship struct {
	index          int
	source, target string
}

func newParser() *parser {
	return &parser{
		ids: map[string]bool{}, tactics: map[string]*Tactic{}, techniques: map[string]*Technique{},
		subs: map[string]*Subtechnique{}, phases: map[string][]string{},
	}
}

func (p *parser) add(index int, raw json.RawMessage) error {
	h, relType, ok := peekHead(raw)
	if !ok {
		// The slow way, which peekHead leaves the inputs it is not sure of.
		var rel struct {
			RelationshipType string `json:"relationship_type"`
		}
		if err := json.Unmarshal(raw, &h); err != nil {
			return invalid("object %d: %v", index, err)
		}
		if h.Type == "relationship" && json.Unmarshal(raw, &rel) == nil {
			relType = rel.RelationshipType
		} else {
			relType = "subtechnique-of" // decoded below, as before, to report its error
		}
	}
	if h.Type == "" || h.ID == "" {
		return invalid("object %d has no type or no id", index)
	}
	if !isStixID(h.ID, h.Type) {
		return invalid("object %d: id %q is not a STIX id of type %q", index, h.ID, h.Type)
	}
	if p.ids[h.ID] {
		return invalid("object %d: duplicate id %s", index, h.ID)
	}
	p.ids[h.ID] = true
	switch h.Type {
	case "x-mitre-tactic", "attack-pattern", "x-mitre-matrix", "x-mitre-collection":
	case "relationship":
		// Only two kinds of relationship link the entries Violet keeps;
		// the thousands of others (uses, mitigates, detects) are skipped
		// unread.
		if relType != "subtechnique-of" && relType != "revoked-by" {
			return nil
		}
	default:
		return nil
	}
	var o stixObject
	if err := json.Unmarshal(raw, &o); err != nil {
		return invalid("object %d (%s): %v", index, h.ID, err)
	}
	switch o.Type {
	case "x-mitre-collection":
		p.version = o.Version
	case "x-mitre-matrix":
		if p.matrixTactics == nil {
			p.matrixTactics = o.TacticRefs
		}
	case "relationship":
		switch o.RelationshipType {
		case "subtechnique-of":
			p.subOf = append(p.subOf, relationship{index, o.SourceRef, o.TargetRef})
		case "revoked-by":
			p.revokedBy = append(p.revokedBy, relationship{index, o.SourceRef, o.TargetRef})
		}
	case "x-mitre-tactic":
		e, err := entry(index, &o, attackid.IsTactic)
		if err != nil {
			return err
		}
		if o.Shortname == "" {
			return invalid("tactic %s (%s) has no x_mitre_shortname", e.ExternalID, o.ID)
		}
		p.tactics[o.ID] = &Tactic{Entry: e, Shortname: o.Shortname}
		p.tacticOrder = append(p.tacticOrder, o.ID)
	case "attack-pattern":
		isID := attackid.IsTechnique
		if o.IsSub {
			isID = attackid.IsSubtechnique
		}
		e, err := entry(index, &o, isID)
		if err != nil {
			return err
		}
		if o.IsSub {
			p.subs[o.ID] = &Subtechnique{Entry: e}
		} else {
			p.techniques[o.ID] = &Technique{Entry: e}
		}
		p.order = append(p.order, o.ID)
		for _, k := range o.KillChain {
			if k.Name == "mitre-attack" {
				p.phases[o.ID] = append(p.phases[o.ID], k.Phase)
			}
		}
	}
	return nil
}

// entry takes the common fields of a tactic or attack pattern, requiring
// a name and an ATT&CK ID of the right shape.
func entry(index int, o *stixObject, isID func(string) bool) (Entry, error) {
	e := Entry{
		StixID: o.ID, Name: strings.TrimSpace(o.Name), Description: o.Description,
		Platforms: o.Platforms, Revoked: o.Revoked, Deprecated: o.Deprecated,
	}
	for _, r := range o.References {
		if r.SourceName == "mitre-attack" {
			e.ExternalID, e.URL = r.ExternalID, r.URL
			break
		}
	}
	if e.ExternalID == "" {
		return e, invalid("object %d (%s %q) has no ATT&CK ID (external reference mitre-attack)", index, o.ID, o.Name)
	}
	if !isID(e.ExternalID) {
		return e, invalid("object %d (%s): ATT&CK ID %q is not one of a %s", index, o.ID, e.ExternalID, kindOf(o))
	}
	if e.Name == "" {
		return e, invalid("%s (%s) has no name", e.ExternalID, o.ID)
	}
	if o.Modified != "" {
		t, err := time.Parse(time.RFC3339Nano, o.Modified)
		if err != nil {
			return e, invalid("%s (%s): modified %q is not a timestamp", e.ExternalID, o.ID, o.Modified)
		}
		e.Modified = &t
	}
	if e.Platforms == nil {
		e.Platforms = []string{}
	}
	return e, nil
}

func kindOf(o *stixObject) string {
	switch {
	case o.Type == "x-mitre-tactic":
		return "tactic (TA0000)"
	case o.IsSub:
		return "sub-technique (T0000.000)"
	default:
		return "technique (T0000)"
	}
}

// finish resolves the references between objects once all are read.
func (p *parser) finish() (*Bundle, error) {
	if len(p.techniques) == 0 {
		return nil, invalid("the bundle holds no ATT&CK techniques (attack-pattern objects)")
	}
	if len(p.tactics) == 0 {
		return nil, invalid("the bundle holds no ATT&CK tactics (x-mitre-tactic objects)")
	}
	if p.matrixTactics == nil {
		return nil, invalid("the bundle has no x-mitre-matrix: it is not an ATT&CK matrix")
	}
	b := &Bundle{Version: p.version}

	// Tactics in matrix order, then any the matrix does not list.
	byShort := map[string]string{}
	placed := map[string]bool{}
	for _, id := range p.matrixTactics {
		t, ok := p.tactics[id]
		if !ok {
			return nil, invalid("the matrix lists tactic %s, which the bundle does not have", id)
		}
		if placed[id] {
			continue
		}
		placed[id] = true
		t.Position = len(b.Tactics)
		b.Tactics = append(b.Tactics, *t)
	}
	for _, id := range p.tacticOrder {
		if !placed[id] {
			t := p.tactics[id]
			t.Position = len(b.Tactics)
			b.Tactics = append(b.Tactics, *t)
		}
	}
	for _, t := range b.Tactics {
		byShort[t.Shortname] = t.StixID
	}

	// Relationships between the objects Violet keeps must point at objects
	// the bundle has; relationships between other objects are not ours.
	ours := func(id string) bool { return p.techniques[id] != nil || p.subs[id] != nil || p.tactics[id] != nil }
	for _, r := range p.revokedBy {
		if !ours(r.source) {
			continue
		}
		if !p.ids[r.target] {
			return nil, invalid("relationship %d: %s is revoked by %s, which the bundle does not have", r.index, r.source, r.target)
		}
		switch {
		case p.techniques[r.source] != nil:
			p.techniques[r.source].RevokedBy = r.target
		case p.subs[r.source] != nil:
			p.subs[r.source].RevokedBy = r.target
		case p.tactics[r.source] != nil:
			for i := range b.Tactics {
				if b.Tactics[i].StixID == r.source {
					b.Tactics[i].RevokedBy = r.target
				}
			}
		}
	}
	for _, r := range p.subOf {
		if !ours(r.source) && !ours(r.target) {
			continue
		}
		sub, parent := p.subs[r.source], p.techniques[r.target]
		switch {
		case !p.ids[r.source] || !p.ids[r.target]:
			return nil, invalid("relationship %d: subtechnique-of between %s and %s names an object the bundle does not have", r.index, r.source, r.target)
		case sub == nil || parent == nil:
			return nil, invalid("relationship %d: subtechnique-of must link a sub-technique to a technique (%s → %s)", r.index, r.source, r.target)
		}
		sub.Parent = r.target
	}

	// Techniques' tactics from their kill chain phases.
	byExternal := map[string]string{}
	for id, t := range p.techniques {
		if prev, ok := byExternal[t.ExternalID]; !ok || p.techniques[prev].Revoked || p.techniques[prev].Deprecated {
			byExternal[t.ExternalID] = id
		}
	}
	for _, id := range p.order {
		if t, ok := p.techniques[id]; ok {
			seen := map[string]bool{}
			for _, phase := range p.phases[id] {
				tid, ok := byShort[phase]
				if !ok {
					if t.Revoked || t.Deprecated {
						continue // a retired entry may name a retired tactic
					}
					return nil, invalid("technique %s (%s) names tactic %q, which the bundle does not have", t.ExternalID, id, phase)
				}
				if !seen[tid] {
					seen[tid] = true
					t.Tactics = append(t.Tactics, tid)
				}
			}
			b.Techniques = append(b.Techniques, *t)
			continue
		}
		s := p.subs[id]
		if s.Parent == "" {
			// Some retired sub-techniques lost their subtechnique-of link;
			// their ATT&CK ID still names the parent (T1053.001 → T1053).
			parent, ok := byExternal[attackid.Parent(s.ExternalID)]
			if !ok {
				return nil, invalid("sub-technique %s (%s) has no parent technique", s.ExternalID, id)
			}
			s.Parent = parent
		}
		b.Subtechniques = append(b.Subtechniques, *s)
	}
	return b, nil
}

// countingReader reports how many bytes went through it.
type countingReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.n)
	}
	return n, err
}
