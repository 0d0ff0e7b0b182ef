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

// GenerationStore reads stored usage records. store/sqlite implements it.
type GenerationStore interface {
	UsageByGeneration(ctx context.Context, id string) (accounting.Record, error)
	KeyOwner(ctx context.Context, keyID int64) (orgID, creatorID int64, err error)
}

// generationObject is one request's record on the wire (OpenRouter's generation shape, with
// ARouter's cache and BYOK fields). Times are milliseconds.
type generationObject struct {
	ID               string   `json:"id"`
	CreatedAt        timeJSON `json:"created_at"`
	Model            string   `json:"model"`
	Provider         string   `json:"provider_name"`
	UpstreamModel    string   `json:"upstream_model"`
	Streamed         bool     `json:"streamed"`
	Cancelled        bool     `json:"cancelled"`
	Status           int      `json:"status"`
	ErrorCode        *string  `json:"error_code"`
	TokensPrompt     int64    `json:"tokens_prompt"`
	TokensCompletion int64    `json:"tokens_completion"`
	TokensReasoning  int64    `json:"native_tokens_reasoning"`
	TokensCached     int64    `json:"native_tokens_cached"`
	TokensCacheWrite int64    `json:"cache_write_tokens"`
	TotalCost        usdJSON  `json:"total_cost"`
	CacheDiscount    usdJSON  `json:"cache_discount"`
	IsBYOK           bool     `json:"is_byok"`
	BYOKCost         usdJSON  `json:"byok_cost"`
	LatencyMs        float64  `json:"latency"`
	TTFBMs           float64  `json:"ttfb"`
	GenerationTimeMs float64  `json:"generation_time"`
	OrganizationID   int64    `json:"organization_id"`
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
	if r.ErrorCode != "" {
		code := r.ErrorCode
		o.ErrorCode = &code
	}
	return o
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
	idText := string(ctx.QueryArgs().Peek("id"))
	var id accounting.GenerationID
	if len(idText) != len(id) || !strings.HasPrefix(idText, "gen-") {
		badField("id", "must be a generation id such as gen-01h…, from the X-Generation-Id header").write(ctx)
		return
	}
	copy(id[:], idText)

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
