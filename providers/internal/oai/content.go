package oai

import (
	"mime"
	"path"
	"strings"
)

// DataURL splits "data:<media type>[;params];base64,<data>". Only base64 data URLs are
// accepted: both providers take inline bytes as base64 and nothing else.
func DataURL(u string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	mediaType, params, _ := strings.Cut(meta, ";")
	if !strings.HasSuffix(params, "base64") || (params != "base64" && !strings.HasSuffix(params, ";base64")) {
		return "", "", false
	}
	if mediaType == "" || strings.ContainsAny(mediaType, " \"") {
		return "", "", false
	}
	return strings.ToLower(mediaType), data, true
}

// IsHTTPURL reports whether u is an absolute http(s) URL.
func IsHTTPURL(u string) bool {
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")
}

// GuessMediaType guesses a URL's media type from its file extension, for providers that need
// one with every file reference. fallback is returned when the extension says nothing.
func GuessMediaType(u, fallback string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if ext := path.Ext(u); ext != "" {
		if t := mime.TypeByExtension(strings.ToLower(ext)); t != "" {
			t, _, _ = strings.Cut(t, ";")
			return t
		}
	}
	return fallback
}

// TextOnly returns the text of a content made only of text parts (system messages and tool
// results for providers that take plain text there), and false if it has other parts.
func (c *Content) TextOnly() (string, bool) {
	if c.IsString {
		return c.Text, true
	}
	var sb strings.Builder
	for i := range c.Parts {
		if c.Parts[i].Type != "text" {
			return "", false
		}
		sb.WriteString(c.Parts[i].Text)
	}
	return sb.String(), true
}
