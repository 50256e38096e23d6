package audit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"violet/views/admin"
)

// detailsOf turns an event's stored details into the labelled fields the
// audit page shows, in key order. A nested object is flattened one level
// ("changes.name"); anything nested deeper is shown as compact JSON, so
// nothing recorded is ever hidden.
func detailsOf(m map[string]any) ([]admin.AuditDetail, error) {
	var out []admin.AuditDetail
	for _, k := range sortedKeys(m) {
		if sub, ok := m[k].(map[string]any); ok && len(sub) > 0 {
			for _, sk := range sortedKeys(sub) {
				d, err := detailOf(k+"."+sk, sub[sk])
				if err != nil {
					return nil, err
				}
				out = append(out, d)
			}
			continue
		}
		d, err := detailOf(k, m[k])
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// detailOf is one field: its value's kind decides how the page shows it.
// Times reach the database as RFC 3339 strings (JSON has no time type),
// so a string that reads as one is shown as a time in the viewer's zone.
func detailOf(key string, v any) (admin.AuditDetail, error) {
	d := admin.AuditDetail{Key: key, Kind: admin.DetailText}
	switch v := v.(type) {
	case bool:
		d.Kind, d.Bool = admin.DetailBool, v
	case string:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			d.Kind, d.Time = admin.DetailTime, t
		} else {
			d.Text = v
		}
	case time.Time:
		d.Kind, d.Time = admin.DetailTime, v
	case []any:
		d.Kind, d.List = admin.DetailList, make([]string, len(v))
		for i, e := range v {
			s, err := scalar(e)
			if err != nil {
				return d, err
			}
			d.List[i] = s
		}
	case []string:
		d.Kind, d.List = admin.DetailList, v
	default:
		s, err := scalar(v)
		if err != nil {
			return d, err
		}
		d.Text = s
	}
	return d, nil
}

// scalar is a value as text: strings as they are, numbers without a
// trailing ".0" (JSON numbers decode as float64), anything else as
// compact JSON.
func scalar(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("show audit details: %w", err)
	}
	return string(b), nil
}
