package i18n_test

import (
	"context"
	"testing"

	"violet/internal/i18n"
)

func TestNumberAndSize(t *testing.T) {
	c, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	en := i18n.NewContext(context.Background(), c.Pick("en", ""))
	fr := i18n.NewContext(context.Background(), c.Pick("fr", ""))
	const nb, nnb = "\u00a0", "\u202f" // no-break space, narrow no-break space
	cases := []struct {
		name, got, want string
	}{
		{"en number", i18n.Number(en, 1234567), "1,234,567"},
		{"fr number", i18n.Number(fr, 1234567), "1" + nnb + "234" + nnb + "567"},
		{"small number", i18n.Number(fr, 42), "42"},
		{"negative", i18n.Number(en, -1500), "-1,500"},
		{"en bytes", i18n.Size(en, 512), "512" + nb + "B"},
		{"fr bytes", i18n.Size(fr, 512), "512" + nb + "o"},
		{"en KiB", i18n.Size(en, 40*1024), "40.0" + nb + "KiB"},
		{"fr Kio", i18n.Size(fr, 40*1024), "40,0" + nb + "Kio"},
		{"en MiB", i18n.Size(en, 3*1024*1024/2), "1.5" + nb + "MiB"},
		{"fr Mio", i18n.Size(fr, 3*1024*1024/2), "1,5" + nb + "Mio"},
		{"fr grouped", i18n.Size(fr, 1000<<20), "1" + nnb + "000,0" + nb + "Mio"},
		{"en GiB", i18n.Size(en, 5<<30), "5.0" + nb + "GiB"},
		{"no context language: English", i18n.Size(context.Background(), 2048), "2.0" + nb + "KiB"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}
