package evidence

import (
	"fmt"
	"strings"
)

// ContentDisposition is the Content-Disposition value that serves a file
// named name as kind ("attachment" or "inline"): the name sanitised
// (SanitizeName), an ASCII fallback for old clients in filename and the
// full name as RFC 5987 UTF-8 in filename* (RFC 6266), which browsers
// prefer. The name is the uploader's, so untrusted: nothing in it can end
// the parameter, add one or smuggle a path.
func ContentDisposition(kind, name string) string {
	name = SanitizeName(name)
	var ascii, enc strings.Builder
	for _, r := range name {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' || r == ';' {
			ascii.WriteByte('_')
		} else {
			ascii.WriteRune(r)
		}
	}
	for _, b := range []byte(name) {
		if isAttrChar(b) {
			enc.WriteByte(b)
		} else {
			fmt.Fprintf(&enc, "%%%02X", b)
		}
	}
	return kind + `; filename="` + ascii.String() + `"; filename*=UTF-8''` + enc.String()
}

// isAttrChar is RFC 5987's attr-char: sent unencoded in filename*.
func isAttrChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", b) >= 0
}
