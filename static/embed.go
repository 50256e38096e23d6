// Package static embeds Violet's CSS, JavaScript and images and serves them
// under content-hashed URLs (/static/css/app.3f2a1b4c.css) so they can be
// cached for a year: a changed file gets a new URL.
package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed css js img
var files embed.FS

// Prefix is the URL path under which assets are served.
const Prefix = "/static/"

// asset is one embedded file ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Assets maps logical names (css/app.css) to hashed URLs and back.
type Assets struct {
	urls   map[string]string // logical name -> URL
	hashed map[string]asset  // hashed name (css/app.3f2a1b4c.css) -> asset
}

// New hashes every embedded file once.
func New() (*Assets, error) {
	a := &Assets{urls: map[string]string{}, hashed: map[string]asset{}}
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		short := hex.EncodeToString(sum[:])[:10]
		ext := path.Ext(name)
		hashedName := strings.TrimSuffix(name, ext) + "." + short + ext
		ctype := mime.TypeByExtension(ext)
		if ctype == "" {
			ctype = http.DetectContentType(body)
		}
		a.urls[name] = Prefix + hashedName
		a.hashed[hashedName] = asset{body: body, contentType: ctype, etag: `"` + short + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hash static assets: %w", err)
	}
	return a, nil
}

// URL returns the hashed URL of a logical asset name. An unknown name is a
// programming error caught by the view tests, so it returns a URL that
// answers 404 rather than panicking in production.
func (a *Assets) URL(name string) string {
	if u, ok := a.urls[name]; ok {
		return u
	}
	return Prefix + "missing/" + name
}

// Serve writes the hashed asset named by the request path with a one-year
// immutable cache lifetime, and reports false when there is no such asset
// (the caller answers 404 its own way).
func (a *Assets) Serve(w http.ResponseWriter, r *http.Request) bool {
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	f, ok := a.hashed[name]
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	return true
}
