package navigator

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"violet/internal/attackid"
	"violet/internal/parselimit"
)

// ParseError says why a file is not a layer Violet can plan from. Reason
// is an i18n key; IDs lists the offending technique IDs, if any.
type ParseError struct {
	Reason string
	IDs    []string
}

func (e *ParseError) Error() string {
	if len(e.IDs) > 0 {
		return e.Reason + ": " + strings.Join(e.IDs, ", ")
	}
	return e.Reason
}

// Reasons of a ParseError (i18n keys).
const (
	ReasonNotJSON      = "exports.import.error.not_json"
	ReasonNotLayer     = "exports.import.error.not_layer"
	ReasonManyLayers   = "exports.import.error.many_layers"
	ReasonDomain       = "exports.import.error.domain"
	ReasonVersion      = "exports.import.error.version"
	ReasonNoTechniques = "exports.import.error.no_techniques"
	ReasonBadIDs       = "exports.import.error.bad_ids"
	ReasonUnknownIDs   = "exports.import.error.unknown_ids"
	ReasonTooMany      = "exports.import.error.too_many"
	// ReasonLimit is a layer refused before it is read; IDs holds the
	// limit passed, in words.
	ReasonLimit = "exports.import.error.limit"
)

// Bounds of a layer, checked before the JSON decoder runs. A 4 MB layer
// holds 100,000 entries, fifty times what ATT&CK has; a layer nests 5
// levels and 64 refuses only files made to hurt the decoder.
const (
	MaxLayerBytes = 4 << 20
	MaxLayerDepth = 64
)

// MaxIDs bounds the techniques one layer may select: Enterprise ATT&CK
// holds under 2,000 techniques and sub-techniques, revoked ones included.
// Beyond it a layer is not one, and the import preview's catalogue query
// would pass PostgreSQL's limit of 65,535 parameters.
const MaxIDs = 5000

// maxListed bounds the IDs an error names.
const maxListed = 10

// ImportedLayer is what the import keeps of a layer.
type ImportedLayer struct {
	Name string
	// IDs are the selected techniques and sub-techniques, unique, in the
	// layer's order.
	IDs []string
	// Platforms are the layer's filters.platforms named the way ATT&CK
	// and the library name them (Platform); empty: no filter.
	Platforms []string
}

// Domains the import reads: Enterprise ATT&CK under its name since layer
// format 4.0, and under the name of format 3.x, which the Navigator maps
// to it.
var enterpriseDomains = map[string]bool{Domain: true, "mitre-enterprise": true}

// LayerFormatsRead are the major versions of the layer format the import
// reads: those the Navigator itself still opens (3.x, whose version is
// the top-level "version", and 4.x, under "versions.layer").
var LayerFormatsRead = []string{"3", "4"}

// platformNames maps the platforms layers name (format 3.x's lower-case
// ones, ATT&CK's names before and after they were merged) to ATT&CK's
// current names, as the library stores them.
var platformNames = map[string]string{
	"windows": "Windows", "linux": "Linux", "mac": "macOS", "macos": "macOS",
	"network": "Network Devices", "network devices": "Network Devices",
	"containers": "Containers", "iaas": "IaaS", "aws": "IaaS", "gcp": "IaaS", "azure": "IaaS",
	"saas": "SaaS", "office 365": "Office Suite", "office suite": "Office Suite",
	"google workspace": "Office Suite", "azure ad": "Identity Provider",
	"identity provider": "Identity Provider", "esxi": "ESXi", "pre": "PRE",
}

// Platform names a platform the way ATT&CK does now ("mac" → "macOS",
// "Office 365" → "Office Suite"); an unknown name is kept, trimmed.
func Platform(p string) string {
	p = strings.TrimSpace(p)
	if n, ok := platformNames[strings.ToLower(p)]; ok {
		return n
	}
	return p
}

// inLayer is the part of a layer the import reads.
type inLayer struct {
	Name     *string         `json:"name"`
	Domain   *string         `json:"domain"`
	Version  json.RawMessage `json:"version"`
	Versions *struct {
		Layer json.RawMessage `json:"layer"`
	} `json:"versions"`
	Filters *struct {
		Platforms []json.RawMessage `json:"platforms"`
	} `json:"filters"`
	Techniques []struct {
		TechniqueID string            `json:"techniqueID"`
		Score       *json.Number      `json:"score"`
		Color       string            `json:"color"`
		Comment     string            `json:"comment"`
		Enabled     *bool             `json:"enabled"`
		Metadata    []json.RawMessage `json:"metadata"`
	} `json:"techniques"`
}

// Parse reads a layer (or a JSON array holding exactly one layer) and
// selects its techniques. Selection rule: an entry with "enabled": false
// is skipped; any other entry is taken when it has a score (0 included),
// a colour, a comment or metadata — what someone marked in Navigator.
// Entries carrying only display state (showSubtechniques) are skipped.
// The same technique under several tactics is taken once. The layer's
// format must be 3.x or 4.x (LayerFormatsRead) and its domain Enterprise
// ATT&CK; its filters.platforms are kept, named as Platform names them.
func Parse(data []byte) (*ImportedLayer, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if err := parselimit.JSON(data, parselimit.Limits{MaxBytes: MaxLayerBytes, MaxDepth: MaxLayerDepth}); err != nil {
		return nil, &ParseError{Reason: ReasonLimit, IDs: []string{err.Error()}}
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || !json.Valid(trimmed) {
		return nil, &ParseError{Reason: ReasonNotJSON}
	}
	if trimmed[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return nil, &ParseError{Reason: ReasonNotLayer}
		}
		if len(list) != 1 {
			return nil, &ParseError{Reason: ReasonManyLayers}
		}
		trimmed = bytes.TrimSpace(list[0])
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, &ParseError{Reason: ReasonNotLayer}
	}
	var in inLayer
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, &ParseError{Reason: ReasonNotLayer}
		}
		return nil, &ParseError{Reason: ReasonNotJSON}
	}
	if in.Name == nil || in.Domain == nil {
		return nil, &ParseError{Reason: ReasonNotLayer}
	}
	if !enterpriseDomains[strings.TrimSpace(*in.Domain)] {
		return nil, &ParseError{Reason: ReasonDomain, IDs: []string{*in.Domain}}
	}
	if err := checkVersion(in.Version, in.Versions); err != nil {
		return nil, err
	}
	out := &ImportedLayer{Name: strings.TrimSpace(*in.Name)}
	if in.Filters != nil {
		for _, raw := range in.Filters.Platforms {
			var p string
			if json.Unmarshal(raw, &p) != nil {
				continue
			}
			if p = Platform(p); p != "" && !slices.Contains(out.Platforms, p) {
				out.Platforms = append(out.Platforms, p)
			}
		}
	}
	var bad []string
	// A set, not slices.Contains: a 4 MiB layer holds 100,000 entries, and
	// a quadratic scan of them took a CPU for most of a minute.
	taken := map[string]bool{}
	for _, t := range in.Techniques {
		if t.Enabled != nil && !*t.Enabled {
			continue
		}
		if t.Score == nil && strings.TrimSpace(t.Color) == "" && strings.TrimSpace(t.Comment) == "" && len(t.Metadata) == 0 {
			continue
		}
		id := strings.TrimSpace(t.TechniqueID)
		if !attackid.IsTechniqueOrSub(id) {
			if len(bad) < maxListed {
				bad = append(bad, id)
			}
			continue
		}
		if !taken[id] {
			taken[id] = true
			out.IDs = append(out.IDs, id)
		}
	}
	if len(out.IDs) > MaxIDs {
		return nil, &ParseError{Reason: ReasonTooMany}
	}
	if len(bad) > 0 {
		return nil, &ParseError{Reason: ReasonBadIDs, IDs: bad}
	}
	if len(out.IDs) == 0 {
		return nil, &ParseError{Reason: ReasonNoTechniques}
	}
	return out, nil
}

// checkVersion refuses a layer whose format is not one the Navigator
// still reads: versions.layer (format 4.x), else the top-level version
// (format 3.x, and 4.x layers some tools write that way). A layer that
// names no version is read as the current format, as the Navigator does.
func checkVersion(version json.RawMessage, versions *struct {
	Layer json.RawMessage `json:"layer"`
}) error {
	raw := version
	if versions != nil && len(versions.Layer) > 0 && string(versions.Layer) != "null" {
		raw = versions.Layer
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	v := string(raw) // a number, as some tools write it
	if raw[0] == '"' {
		if json.Unmarshal(raw, &v) != nil {
			return &ParseError{Reason: ReasonNotLayer}
		}
	}
	if v = strings.TrimSpace(v); v == "" {
		return nil
	}
	major, _, _ := strings.Cut(v, ".")
	if !slices.Contains(LayerFormatsRead, major) {
		if r := []rune(v); len(r) > 20 {
			v = string(r[:20]) + "…"
		}
		return &ParseError{Reason: ReasonVersion, IDs: []string{v}}
	}
	return nil
}

// Unknown returns a ParseError naming the IDs the catalogue does not
// hold (known reports whether it holds one), or nil.
func (l *ImportedLayer) Unknown(known func(id string) bool) error {
	var missing []string
	for _, id := range l.IDs {
		if !known(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if len(missing) > maxListed {
		missing = append(missing[:maxListed], "…")
	}
	return &ParseError{Reason: ReasonUnknownIDs, IDs: missing}
}
