package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/arouter/arouter/admin"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/cluster"
	"github.com/arouter/arouter/config"
	"github.com/arouter/arouter/tenancy"
)

// managementClient sends Management API calls. The CLI has two: over HTTP to a running
// gateway with a management key (AROUTER_MANAGEMENT_KEY), or, without one, in-process on the
// configured store as the instance admin: whoever can write the store file is its admin anyway,
// and this keeps `arouter keys create` working before any key exists.
type managementClient interface {
	// do sends a request and decodes a 2xx answer into out (unless nil). A non-2xx answer
	// becomes an error carrying the API's message.
	do(method, path string, body any, out any) error
	close()
}

// clientFlags registers the flags every management command shares.
type clientFlags struct {
	config *string
	url    *string
	fs     *flag.FlagSet // to tell a --url given from the default
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	url := os.Getenv("AROUTER_URL")
	if url == "" {
		url = "http://127.0.0.1:8080"
	}
	return clientFlags{
		config: configFlag(fs),
		url:    fs.String("url", url, "gateway to manage when AROUTER_MANAGEMENT_KEY is set (env AROUTER_URL)"),
		fs:     fs,
	}
}

// open picks the transport: HTTP when AROUTER_MANAGEMENT_KEY is set, the local store otherwise.
func (f clientFlags) open(stderr io.Writer) (managementClient, error) {
	if key := os.Getenv("AROUTER_MANAGEMENT_KEY"); key != "" {
		if !apikey.IsManagementToken(key) {
			return nil, fmt.Errorf("AROUTER_MANAGEMENT_KEY is not a management key (%s…)", apikey.ManagementPrefix)
		}
		return &httpClient{base: strings.TrimRight(*f.url, "/"), key: key, hc: &http.Client{Timeout: 30 * time.Second}}, nil
	}
	if isSet(f.fs, "url") {
		// Documented, but a --url given and not used would surprise: say where the command acts.
		fmt.Fprintf(stderr, "arouter: --url is used only with AROUTER_MANAGEMENT_KEY set; without it this command works on the store of %s directly, as the instance admin\n", *f.config)
	}
	return openLocalClient(*f.config, stderr)
}

// httpClient calls a running gateway.
type httpClient struct {
	base, key string
	hc        *http.Client
}

func (c *httpClient) do(method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return err
	}
	if c.key != "" { // empty only to redeem a new account's first invitation
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w (is the gateway running at %s? set --url or AROUTER_URL)", err, c.base)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	return decodeAnswer(resp.StatusCode, b, out)
}

func (c *httpClient) close() {}

// localClient serves calls in-process against the store, as the instance admin.
type localClient struct {
	store store
	// With redis.url: the bus that tells running replicas about changed keys at once.
	redis *redis.Client
	bus   *cluster.Bus
	api   *admin.API
	as    *tenancy.Principal
}

func openLocalClient(cfgPath string, stderr io.Writer) (*localClient, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	c := &localClient{store: st}
	if err := c.init(cfg, stderr); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *localClient) init(cfg *config.Config, stderr io.Writer) error {
	ctx := context.Background()
	now := time.Now()
	u, token, err := admin.Bootstrap(ctx, c.store, bootstrapOptions(cfg), now)
	if err != nil {
		return err
	}
	if token != "" {
		printAdminToken(stderr, token)
	}
	ledger := budget.New(budget.Options{RequireCredits: *cfg.Limits.RequireCredits})
	spend, err := c.store.LoadSpend(ctx, now)
	if err != nil {
		return err
	}
	ledger.Restore(spend)
	cat, err := catalog.New(catalogSpecs(cfg))
	if err != nil {
		return err
	}
	ms, err := c.store.OrgsOfUser(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Org.ID == u.PersonalOrgID {
			c.as = &tenancy.Principal{User: *u, Org: m.Org, Role: m.Role}
		}
	}
	if c.as == nil {
		return errors.New("the instance admin has no personal context; the store is inconsistent")
	}
	sealer, err := byok.SealerFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	// A running gateway notices key changes within keys.refresh_after, and provider keys
	// within seconds. Replicas sharing Redis are told at once.
	var invalidate admin.KeyInvalidator = noCache{}
	var reloadBYOK admin.BYOKReloader
	if r := cfg.Redis; r.URL != "" {
		cluster.LogTo(zap.NewNop()) // the warning below says what matters
		c.redis, err = cluster.Open(ctx, cluster.Options{URL: r.URL, Prefix: r.Prefix, Timeout: r.Timeout})
		if err != nil {
			// The change is stored either way; only its broadcast is lost.
			fmt.Fprintf(stderr, "warning: %v\nrunning gateways will apply this change within keys.refresh_after instead of at once\n", err)
		} else {
			c.bus = cluster.NewBus(ctx, c.redis, r.Prefix, noCache{}, nil, r.Timeout, zap.NewNop())
			invalidate, reloadBYOK = c.bus.Keys(), c.bus.BYOK(noCache{})
		}
	}
	c.api = admin.New(admin.Options{Store: c.store, Ledger: ledger, Cache: invalidate, Catalog: cat,
		Providers: providerIDs(cfg), Sealer: sealer, BYOK: reloadBYOK, Logger: zap.NewNop()})
	return nil
}

// noCache stands for the caches a CLI process does not have.
type noCache struct{}

func (noCache) Invalidate(apikey.Hash) {}

func (noCache) Reload(context.Context) error { return nil }

func (c *localClient) do(method, path string, body any, out any) error {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		req.SetBody(b)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(req, nil, nil)
	c.api.ServeAs(&ctx, c.as)
	return decodeAnswer(ctx.Response.StatusCode(), ctx.Response.Body(), out)
}

func (c *localClient) close() {
	if c.bus != nil {
		_ = c.bus.Close()
	}
	if c.redis != nil {
		_ = c.redis.Close()
	}
	_ = c.store.Close()
}

// decodeAnswer turns an API answer into out or an error with the API's message.
func decodeAnswer(status int, body []byte, out any) error {
	if status < 200 || status > 299 {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s (HTTP %d)", e.Error.Message, status)
		}
		return fmt.Errorf("HTTP %d: %.200s", status, body)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

// printAdminToken shows the instance admin's management key, the one time it exists in clear.
func printAdminToken(w io.Writer, token string) {
	fmt.Fprintf(w, `
  ARouter created the instance admin. Its management key is shown only this once:

      %s

  Store it now (e.g. export AROUTER_MANAGEMENT_KEY=...). It manages organizations, members,
  keys and credits through the Management API; see docs/management-api.md.
  If it is lost: arouter admin-key (needs write access to the store).

`, token)
}
