package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/valyala/fasthttp"
)

const activityUsage = `usage: arouter activity [--from DATE] [--to DATE] [--group-by day|model|key|member|provider]
                        [--key HASH] [--model ID] [--member USER_ID]
       arouter activity export --format csv|pdf [-o FILE] [the same flags]
Usage (requests, tokens, cost) over whole UTC days: --from and --to are dates (2026-01-31) or
RFC 3339 times, --to exclusive; the default is the last 30 days. Admins see the organization,
Members their own keys. "export" writes the CSV (one row per group and day) or the PDF report to
FILE, by default the name the gateway suggests, in the current directory ("-o -": stdout).
Every command also takes --config FILE and --url URL (see "arouter keys").
`

// activityGroupView is one group of GET /v1/activity as the CLI prints it. Amounts stay
// json.Number, so they print exactly as the API wrote them.
type activityGroupView struct {
	Date             string      `json:"date"`
	Model            string      `json:"model"`
	Provider         string      `json:"provider"`
	KeyHash          string      `json:"key_hash"`
	KeyName          string      `json:"key_name"`
	MemberID         int64       `json:"member_id"`
	MemberEmail      string      `json:"member_email"`
	Requests         int64       `json:"requests"`
	PromptTokens     int64       `json:"prompt_tokens"`
	CompletionTokens int64       `json:"completion_tokens"`
	ReasoningTokens  int64       `json:"reasoning_tokens"`
	CachedTokens     int64       `json:"cached_tokens"`
	CacheWriteTokens int64       `json:"cache_write_tokens"`
	Cost             json.Number `json:"cost"`
	BYOKRequests     int64       `json:"byok_requests"`
	BYOKCost         json.Number `json:"byok_cost"`
}

func activityCmd(args []string, stdout, stderr io.Writer) error {
	export := len(args) > 0 && args[0] == "export"
	if export {
		args = args[1:]
	}
	fs := flag.NewFlagSet("arouter activity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, activityUsage) }
	cf := addClientFlags(fs)
	params := map[string]*string{
		"from":     fs.String("from", "", "first day, a date such as 2026-01-01 or an RFC 3339 time (default: 30 days before --to)"),
		"to":       fs.String("to", "", "end, exclusive (default: the end of today, UTC)"),
		"group_by": fs.String("group-by", "", "day (default), model, key, member or provider"),
		"key":      fs.String("key", "", "only this key (its hash, from arouter keys list)"),
		"model":    fs.String("model", "", "only this model"),
		"member":   fs.String("member", "", "only the keys created by this user id"),
	}
	format := fs.String("format", "", "export: csv or pdf (default csv)")
	out := fs.String("o", "", `export: file to write (default: the name the gateway suggests; "-" for stdout)`)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || !export && (*format != "" || *out != "") {
		fmt.Fprint(stderr, activityUsage)
		return errUsage
	}
	q := url.Values{}
	fs.Visit(func(f *flag.Flag) {
		name := strings.ReplaceAll(f.Name, "-", "_")
		if p, ok := params[name]; ok {
			q.Set(name, *p)
		}
	})
	c, err := cf.open(stderr)
	if err != nil {
		return err
	}
	defer c.close()

	if !export {
		var answer struct {
			Data struct {
				From, To string
				GroupBy  string `json:"group_by"`
				Groups   []activityGroupView
				Totals   activityGroupView
			}
		}
		if err := c.do("GET", "/v1/activity?"+q.Encode(), nil, &answer); err != nil {
			return err
		}
		d := answer.Data
		fmt.Fprintf(stderr, "usage from %s to %s (to exclusive; whole UTC days), by %s\n", d.From, d.To, d.GroupBy)
		return printActivity(stdout, d.GroupBy, d.Groups, d.Totals)
	}

	if *format != "" {
		q.Set("format", *format)
	}
	fc, ok := c.(fileGetter)
	if !ok {
		return fmt.Errorf("this transport cannot download files")
	}
	body, name, err := fc.getFile("/v1/activity/export?" + q.Encode())
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err := stdout.Write(body)
		return err
	}
	path := *out
	if path == "" {
		path = name
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s (%d bytes)\n", path, len(body))
	return nil
}

// printActivity prints groups as a table, the group's columns first, then a total line.
func printActivity(w io.Writer, groupBy string, groups []activityGroupView, total activityGroupView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	head := map[string]string{"day": "DATE\t", "model": "MODEL\t", "provider": "PROVIDER\t", "key": "KEY_HASH\tNAME\t", "member": "MEMBER\tEMAIL\t"}[groupBy]
	fmt.Fprintln(tw, head+"REQUESTS\tPROMPT\tCOMPLETION\tREASONING\tCACHED\tCACHE_WRITE\tCOST_USD\tBYOK_REQ\tBYOK_USD\t")
	row := func(name string, g *activityGroupView) {
		fmt.Fprintf(tw, "%s%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\t\n", name, g.Requests, g.PromptTokens, g.CompletionTokens,
			g.ReasoningTokens, g.CachedTokens, g.CacheWriteTokens, g.Cost, g.BYOKRequests, g.BYOKCost)
	}
	for i := range groups {
		g := &groups[i]
		name := map[string]string{"day": g.Date + "\t", "model": g.Model + "\t", "provider": g.Provider + "\t",
			"key": g.KeyHash + "\t" + g.KeyName + "\t", "member": fmt.Sprintf("%d\t%s\t", g.MemberID, g.MemberEmail)}[groupBy]
		row(name, g)
	}
	row(strings.Repeat("\t", strings.Count(head, "\t")-1)+"TOTAL\t", &total)
	return tw.Flush()
}

// fileGetter is a management client that can download a file: the export's bytes and the file
// name the gateway suggests. Both transports implement it.
type fileGetter interface {
	getFile(path string) (body []byte, filename string, err error)
}

func (c *httpClient) getFile(path string) ([]byte, string, error) {
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%w (is the gateway running at %s? set --url or AROUTER_URL)", err, c.base)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, "", err
	}
	if err := decodeAnswer(resp.StatusCode, b, nil); err != nil {
		return nil, "", err
	}
	return b, suggestedName(resp.Header.Get("Content-Disposition")), nil
}

func (c *localClient) getFile(path string) ([]byte, string, error) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod("GET")
	req.SetRequestURI(path)
	var ctx fasthttp.RequestCtx
	ctx.Init(req, nil, nil)
	c.api.ServeAs(&ctx, c.as)
	body := append([]byte(nil), ctx.Response.Body()...)
	if err := decodeAnswer(ctx.Response.StatusCode(), body, nil); err != nil {
		return nil, "", err
	}
	return body, suggestedName(string(ctx.Response.Header.Peek("Content-Disposition"))), nil
}

// suggestedName reads the file name of a Content-Disposition header, reduced to a bare name
// so that it cannot point outside the current directory.
func suggestedName(cd string) string {
	_, params, err := mime.ParseMediaType(cd)
	name := filepath.Base(params["filename"])
	if err != nil || name == "." || name == "/" || name == ".." || strings.HasPrefix(name, ".") {
		return "arouter-activity"
	}
	return name
}
