package execlog

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// The page's preview carries the uploaded log back to Apply in its form
// (a hidden field), so nothing is kept on the server between the two
// steps and the file is not uploaded twice. The field is sealed with an
// HMAC over the mission, the file's name, its bytes and the time of the
// preview: Apply applies exactly the log that was previewed, on the
// mission it was previewed on, within SealLifetime.

// SealLifetime is how long a preview may be applied.
const SealLifetime = time.Hour

// Sealer signs and checks previews with a key of its own, derived from
// the server's session key.
type Sealer struct{ key []byte }

// NewSealer returns a sealer whose key is derived from secret (the
// session key), so that its MACs are worth nothing elsewhere.
func NewSealer(secret []byte) Sealer {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("violet execution log preview v1"))
	return Sealer{key: m.Sum(nil)}
}

func (s Sealer) mac(missionID uuid.UUID, name, data string, at int64) []byte {
	sum := sha256.Sum256([]byte(data))
	m := hmac.New(sha256.New, s.key)
	for _, part := range []string{missionID.String(), name, strconv.FormatInt(at, 10), hex.EncodeToString(sum[:])} {
		m.Write([]byte(part))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// Sealed is the upload a preview's form carries back to Apply: the log's
// name, its bytes in base64 (which no browser rewrites: a form's text
// values have their line breaks turned into CRLF when sent), the time of
// the preview and the MAC over them.
type Sealed struct{ Name, Content, At, MAC string }

// SealedMax is the most bytes of a Sealed's Content.
const SealedMax = (MaxBytes + 2) / 3 * 4

// Seal seals the log read from data (named name) for the mission's
// preview form.
func (s Sealer) Seal(missionID uuid.UUID, name string, data []byte, now time.Time) Sealed {
	ts := now.Unix()
	return Sealed{Name: name, Content: base64.StdEncoding.EncodeToString(data), At: strconv.FormatInt(ts, 10),
		MAC: hex.EncodeToString(s.mac(missionID, name, string(data), ts))}
}

// Open parses the log of a preview's form after checking that a preview
// of this mission sealed it less than SealLifetime ago; otherwise the
// file is refused (to be uploaded again), as is a log Parse refuses.
func (s Sealer) Open(missionID uuid.UUID, f Sealed, now time.Time) (*Log, error) {
	data, err := base64.StdEncoding.DecodeString(f.Content)
	ts, err2 := strconv.ParseInt(f.At, 10, 64)
	got, err3 := hex.DecodeString(f.MAC)
	when := time.Unix(ts, 0)
	if err != nil || err2 != nil || err3 != nil || now.Sub(when) > SealLifetime || when.After(now.Add(time.Minute)) ||
		!hmac.Equal(got, s.mac(missionID, f.Name, string(data), ts)) {
		return nil, invalid(KeyExpired)
	}
	return Parse(f.Name, bytes.NewReader(data))
}
