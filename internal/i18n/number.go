package i18n

import (
	"context"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Numbers and sizes in the viewer's language. English groups thousands
// with a comma and uses a decimal point ("1,234", "40.0 KiB"); French
// groups them with a narrow no-break space (U+202F, the Imprimerie
// nationale's and the CLDR's current choice: x/text's tables still give
// the wider U+00A0, so it is replaced) and uses a decimal comma.
//
// Sizes keep the binary prefixes (1 Kio = 1,024 bytes) with the unit each
// language writes: English "B, KiB, MiB…"; French counts in octets, "o,
// Kio, Mio…" — the IEC prefixes with the French unit, as French software
// (GNOME, KDE, LibreOffice) shows them, rather than "KiB", which a French
// reader takes for an English leftover.

// printer formats numbers the way ctx's language writes them.
func printer(ctx context.Context) *message.Printer {
	if Lang(ctx) == "fr" {
		return message.NewPrinter(language.French)
	}
	return message.NewPrinter(language.English)
}

// frenchSpaces puts the narrow no-break space where x/text groups French
// thousands with a no-break space.
func frenchSpaces(ctx context.Context, s string) string {
	if Lang(ctx) == "fr" {
		return strings.ReplaceAll(s, "\u00a0", "\u202f")
	}
	return s
}

// Number renders a whole number with the thousands grouped as ctx's
// language groups them: "12,345" in English, "12 345" in French.
func Number[N ~int | ~int32 | ~int64](ctx context.Context, n N) string {
	return frenchSpaces(ctx, printer(ctx).Sprintf("%d", int64(n)))
}

// sizeUnits are the units of Size, per language, from bytes up.
var sizeUnits = map[string][]string{
	"en": {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"},
	"fr": {"o", "Kio", "Mio", "Gio", "Tio", "Pio", "Eio"},
}

// Size renders a byte count with a binary unit in ctx's language, one
// decimal past the kibibyte: "512 B", "40.0 KiB", "1.5 MiB" in English;
// "512 o", "40,0 Kio", "1,5 Mio" in French. The space before the unit is
// a no-break space, so a size never breaks across lines.
func Size(ctx context.Context, bytes int64) string {
	units, ok := sizeUnits[Lang(ctx)]
	if !ok {
		units = sizeUnits["en"]
	}
	const unit = 1024
	if bytes < unit {
		return Number(ctx, bytes) + "\u00a0" + units[0]
	}
	div, exp := int64(unit), 1
	for m := bytes / unit; m >= unit && exp < len(units)-1; m /= unit {
		div *= unit
		exp++
	}
	return frenchSpaces(ctx, printer(ctx).Sprintf("%.1f", float64(bytes)/float64(div))) + "\u00a0" + units[exp]
}
