package admin

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

// RecentRecords serves records that finished moments ago and may not be stored yet.
// accounting.Recent implements it.
type RecentRecords interface {
	Lookup(id accounting.GenerationID) (accounting.Record, bool)
}

// GenerationStore reads stored usage records and the bodies prompt logging kept. store/sqlite
// implements it.
type GenerationStore interface {
	UsageByGeneration(ctx context.Context, id string) (accounting.Record, error)
	KeyOwner(ctx context.Context, keyID int64) (orgID, creatorID int64, err error)
	// GenerationBodies returns the logged bodies of generation id if its record is orgID's,
	// else an error wrapping accounting.ErrRecordNotFound.
	GenerationBodies(ctx context.Context, id string, orgID int64) (*accounting.Bodies, error)
}

// generationObject is one request's record on the wire (OpenRouter's generation shape, with
// ARouter's cache and BYOK fields). Times are milliseconds. upstream_id is the provider's own id
// for its answer, finish_reason why the answer ended in OpenAI's terms and native_finish_reason
// in the provider's; each is null when none was reported.
type generationObject struct {
	ID                 string   `json:"id"`
	CreatedAt          timeJSON `json:"created_at"`
	Model              string   `json:"model"`
	Provider           string   `json:"provider_name"`
	UpstreamModel      string   `json:"upstream_model"`
	Streamed           bool     `json:"streamed"`
	Cancelled          bool     `json:"cancelled"`
	Status             int      `json:"status"`
	ErrorCode          *string  `json:"error_code"`
	UpstreamID         *string  `json:"upstream_id"`
	FinishReason       *string  `json:"finish_reason"`
	NativeFinishReason *string  `json:"native_finish_reason"`
	TokensPrompt       int64    `json:"tokens_prompt"`
	TokensCompletion   int64    `json:"tokens_completion"`
	TokensReasoning    int64    `json:"native_tokens_reasoning"`
	TokensCached       int64    `json:"native_tokens_cached"`
	TokensCacheWrite   int64    `json:"cache_write_tokens"`
	TotalCost          usdJSON  `json:"total_cost"`
	CacheDiscount      usdJSON  `json:"cache_discount"`
	IsBYOK             bool     `json:"is_byok"`
	BYOKCost           usdJSON  `json:"byok_cost"`
	LatencyMs          float64  `json:"latency"`
	TTFBMs             float64  `json:"ttfb"`
	GenerationTimeMs   float64  `json:"generation_time"`
	OrganizationID     int64    `json:"organization_id"`
}

func newGenerationObject(r *accounting.Record) generationObject {
	o := generationObject{
		ID: r.GenerationID.String(), CreatedAt: timeJSON(r.Time), Model: r.Model, Provider: r.Provider,
		UpstreamModel: r.UpstreamModel, Streamed: r.Streamed, Cancelled: r.Cancelled, Status: r.Status,
		TokensPrompt: r.PromptTokens, TokensCompletion: r.CompletionTokens, TokensReasoning: r.ReasoningTokens,
		TokensCached: r.CachedTokens, TokensCacheWrite: r.CacheWriteTokens,
		TotalCost: usdJSON(r.Cost), CacheDiscount: usdJSON(r.CacheDiscount), IsBYOK: r.BYOK, BYOKCost: usdJSON(r.BYOKCost),
		LatencyMs: msOf(r.Latency), TTFBMs: msOf(r.TTFB), GenerationTimeMs: msOf(max(r.Latency-r.TTFB, 0)),
		OrganizationID: r.OrgID,
	}
	o.ErrorCode = nullable(r.ErrorCode)
	o.UpstreamID = nullable(r.UpstreamID.String())
	o.FinishReason = nullable(r.FinishReason.String())
	o.NativeFinishReason = nullable(r.NativeFinishReason.String())
	return o
}

// nullable is s, or nil (JSON null) when s is empty.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

var errGenerationNotFound = newError(404, "no such generation for this key or organization; the id is the X-Generation-Id header of the answer")

// generation serves GET /v1/generation?id=…: one request's record, the moment its response has
// ended (from memory until the batch writer has stored it). An inference key reads its own
// requests; a management key reads its organization's (a Member, only their keys').
func (a *API) generation(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		methodNotAllowed(ctx, "GET")
		return
	}
	token := bearerToken(ctx)
	var allow func(r *accounting.Record) bool
	switch {
	case token == "":
		errMissingKey.write(ctx)
		return
	case strings.HasPrefix(token, apikey.Prefix):
		k, err := a.keys.Lookup(context.Background(), apikey.HashToken([]byte(token)), a.now())
		if err != nil || k.Usable(a.now()) != nil {
			newError(401, "invalid API key").write(ctx)
			return
		}
		allow = func(r *accounting.Record) bool { return r.KeyID == k.ID }
	default:
		p, e := a.authenticate(ctx)
		if e != nil {
			e.write(ctx)
			return
		}
		allow = func(r *accounting.Record) bool {
			if r.OrgID != p.Org.ID {
				return false
			}
			if p.IsAdmin() {
				return true
			}
			org, creator, err := a.gen.KeyOwner(context.Background(), r.KeyID)
			return err == nil && org == p.Org.ID && creator == p.User.ID
		}
	}

	// The id is checked once the caller is known, so that a request without a valid key is a
	// 401 whatever its parameters, as everywhere in the Management API.
	idText, ok := generationIDParam(ctx)
	if !ok {
		return
	}
	var id accounting.GenerationID
	copy(id[:], idText)
	if a.gen == nil || a.recent == nil {
		errGenerationNotFound.write(ctx)
		return
	}
	r, ok := a.recent.Lookup(id)
	if !ok {
		var err error
		r, err = a.gen.UsageByGeneration(context.Background(), idText)
		if err != nil {
			if !errors.Is(err, accounting.ErrRecordNotFound) && !errors.Is(err, tenancy.ErrNotFound) {
				a.log.Error("generation lookup failed", zap.Error(err))
				errStore.write(ctx)
				return
			}
			errGenerationNotFound.write(ctx)
			return
		}
	}
	if !allow(&r) {
		errGenerationNotFound.write(ctx)
		return
	}
	writeJSON(ctx, 200, map[string]any{"data": newGenerationObject(&r)})
}

// generationIDParam reads the id query parameter, answering 400 when it is not a generation id.
func generationIDParam(ctx *fasthttp.RequestCtx) (string, bool) {
	idText := string(ctx.QueryArgs().Peek("id"))
	if len(idText) != len(accounting.GenerationID{}) || !strings.HasPrefix(idText, "gen-") {
		badField("id", "must be a generation id such as gen-01h…, from the X-Generation-Id header").write(ctx)
		return "", false
	}
	return idText, true
}

// generationContentObject is what prompt logging kept of one request: the body the client sent
// (before the gateway rewrote it for a provider) and the answer as the client received it (for
// a stream, the server-sent events as relayed). Each is capped at accounting.MaxBodyBytes.
type generationContentObject struct {
	ID                string `json:"id"`
	OrganizationID    int64  `json:"organization_id"`
	Request           string `json:"request"`
	RequestBytes      int64  `json:"request_bytes"`
	RequestTruncated  bool   `json:"request_truncated"`
	Response          string `json:"response"`
	ResponseBytes     int64  `json:"response_bytes"`
	ResponseTruncated bool   `json:"response_truncated"`
}

var errContentNotFound = newError(404, "no stored prompt and completion for this generation in this organization: "+
	"only its Admins can read them, and only for requests made while prompt logging was on for the organization "+
	"(PATCH /v1/orgs/{id}) or the key (prompt_logging); they are readable a moment after the answer ends, "+
	"until retention deletes the record")

// generationContent serves GET /v1/generation/content?id=…: the bodies prompt logging stored
// for a request, to an Admin of the record's organization only. Everyone else, Members
// included, gets the same 404 as for an id that does not exist or a request that was not
// logged, so that the answer says nothing about what exists.
func (c *call) generationContent() {
	idText, ok := generationIDParam(c.ctx)
	if !ok {
		return
	}
	if !c.p.IsAdmin() || c.api.gen == nil {
		errContentNotFound.write(c.ctx)
		return
	}
	b, err := c.api.gen.GenerationBodies(c.context(), idText, c.p.Org.ID)
	if err != nil {
		if errors.Is(err, accounting.ErrRecordNotFound) {
			errContentNotFound.write(c.ctx)
			return
		}
		c.fail(err, errContentNotFound)
		return
	}
	writeJSON(c.ctx, 200, map[string]any{"data": generationContentObject{
		ID: idText, OrganizationID: c.p.Org.ID,
		Request: string(b.Request), RequestBytes: b.RequestSize, RequestTruncated: b.RequestTruncated(),
		Response: string(b.Response), ResponseBytes: b.ResponseSize, ResponseTruncated: b.ResponseTruncated(),
	}})
}
