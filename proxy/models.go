package proxy

import (
	"encoding/json"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/money"
)

// renderModels builds the GET /v1/models body, and each model's GET /v1/models/{id} body by
// its id, once: the catalog never changes while serving. Each entry carries OpenAI's fields
// (id, object, created, owned_by), so SDKs' models.list() and models.retrieve() work, and
// OpenRouter's (name, context_length, pricing in USD per token as strings).
func renderModels(c *catalog.Catalog) (list []byte, byID map[string][]byte) {
	type pricing struct {
		Prompt          string `json:"prompt"`
		Completion      string `json:"completion"`
		InputCacheRead  string `json:"input_cache_read"`
		InputCacheWrite string `json:"input_cache_write"`
	}
	type model struct {
		ID            string  `json:"id"`
		Object        string  `json:"object"`
		Created       int64   `json:"created"`
		OwnedBy       string  `json:"owned_by"`
		Name          string  `json:"name"`
		ContextLength int     `json:"context_length,omitempty"`
		Pricing       pricing `json:"pricing"`
	}
	created := time.Now().Unix()
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, m := range c.Models() {
		author := m.ID
		for i := 0; i < len(author); i++ {
			if author[i] == '/' {
				author = author[:i]
				break
			}
		}
		out.Data = append(out.Data, model{
			ID: m.ID, Object: "model", Created: created, OwnedBy: author, Name: m.Name,
			ContextLength: m.ContextLength,
			Pricing: pricing{
				Prompt:          perToken(m.Prices.Prompt),
				Completion:      perToken(m.Prices.Completion),
				InputCacheRead:  perToken(m.Prices.CacheRead),
				InputCacheWrite: perToken(m.Prices.CacheWrite),
			},
		})
	}
	byID = make(map[string][]byte, len(out.Data))
	for _, m := range out.Data {
		byID[m.ID], _ = json.Marshal(m)
	}
	list, _ = json.Marshal(out)
	return list, byID
}

// perToken renders a per-million price as USD per token, exactly: nano-USD per million tokens
// is femto-USD per token, so the decimal point moves 15 places.
func perToken(p money.PricePerMillion) string {
	s := string(money.AppendUSD(nil, money.Nanos(p)))
	// s is USD per million tokens; shift the decimal point six places left.
	whole, frac := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			whole, frac = s[:i], s[i+1:]
			break
		}
	}
	for len(whole) < 7 {
		whole = "0" + whole
	}
	digits := whole[len(whole)-6:] + frac
	intPart := whole[:len(whole)-6]
	for len(intPart) > 1 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
	}
	if digits == "" {
		return intPart
	}
	return intPart + "." + digits
}

// getModel returns the model a GET /v1/models/{id}… request names, or nil after answering a
// request with another method or an unknown id. An id's "/" may come percent-encoded (SDKs
// encode path parameters); the path is decoded by then.
func (s *Server) getModel(ctx *fasthttp.RequestCtx, id string) *catalog.Model {
	if !ctx.IsGet() {
		errGetOnly.write(ctx)
		return nil
	}
	m := s.cat.Lookup([]byte(id))
	if m == nil {
		unknownModel([]byte(id)).write(ctx)
	}
	return m
}

// model serves GET /v1/models/{id}: the model's entry of the list, as OpenAI's models.retrieve
// reads it.
func (s *Server) model(ctx *fasthttp.RequestCtx, m *catalog.Model) {
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	ctx.Response.SetBodyRaw(s.modelJSON[m.ID])
}
