package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

const keysUsage = `usage: arouter keys create --name NAME [--limit USD] [--limit-reset daily|weekly|monthly]
                           [--allowed-models ID,author/*,...] [--expires RFC3339] [--prompt-logging on|off]
       arouter keys list [--include-disabled] [--offset N]
       arouter keys get HASH
       arouter keys update HASH [--name NAME] [--limit USD|none] [--limit-reset PERIOD|none]
                           [--allowed-models LIST|all] [--expires RFC3339|never] [--prompt-logging on|off]
       arouter keys disable|enable|delete HASH
       arouter keys rotate HASH [--grace DURATION]   new token; the old one works for DURATION more
Every command also takes --config FILE and --url URL. With AROUTER_MANAGEMENT_KEY set it calls
the gateway at --url as that key's user; without, it works on the configured store as the
instance admin. HASH is the first column of "arouter keys list".
--prompt-logging on stores the key's requests and answers for the organization's Admins
(GET /v1/generation/content); "arouter orgs prompt-logging on" does it for every key.
`

// keyView is the part of the key object the CLI prints. Amounts stay json.Number, so they
// print exactly as the API wrote them (0.0000219, where a float prints 2.19e-05).
type keyView struct {
	Hash          string       `json:"hash"`
	Name          string       `json:"name"`
	Label         string       `json:"label"`
	Disabled      bool         `json:"disabled"`
	Limit         *json.Number `json:"limit"`
	LimitReset    *string      `json:"limit_reset"`
	AllowedModels []string     `json:"allowed_models"`
	Usage         json.Number  `json:"usage"`
	CreatedAt     string       `json:"created_at"`
	ExpiresAt     *string      `json:"expires_at"`
	PromptLogging bool         `json:"prompt_logging"`
}

func keysCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return errUsage
	}
	sub := args[0]
	wantHash, known := keysSubcommands[sub]
	if !known {
		fmt.Fprintf(stderr, "arouter keys: unknown subcommand %q\n%s", sub, keysUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("arouter keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, keysUsage) }
	cf := addClientFlags(fs)
	name := fs.String("name", "", "a name to recognise the key by")
	limit := fs.String("limit", "", `spend limit in USD per reset period ("none" removes it)`)
	reset := fs.String("limit-reset", "", `when the limit starts again: daily, weekly, monthly ("none": never)`)
	models := fs.String("allowed-models", "", `comma-separated model ids or wildcards such as "openai/*" ("all" removes the restriction)`)
	expires := fs.String("expires", "", `expiry, RFC 3339 UTC such as 2027-01-31T00:00:00Z ("never" removes it)`)
	includeDisabled := fs.Bool("include-disabled", false, "list disabled keys too")
	offset := fs.Int("offset", 0, "skip this many keys (pages hold 100)")
	grace := fs.Duration("grace", 0, "rotate: how long the old token keeps working, e.g. 1h (default: stops now)")
	logging := fs.String("prompt-logging", "", `"on" stores the key's requests and answers for the organization's Admins; "off" stops it`)
	positional, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if _, ok := onOff(*logging); !ok && isSet(fs, "prompt-logging") {
		fmt.Fprintf(stderr, "arouter keys %s: --prompt-logging takes on or off, not %q\n%s", sub, *logging, keysUsage)
		return errUsage
	}
	switch {
	case wantHash && len(positional) == 0:
		fmt.Fprintf(stderr, "arouter keys %s: which key? Give its HASH (the first column of arouter keys list)\n%s", sub, keysUsage)
		return errUsage
	case wantHash && len(positional) > 1 || !wantHash && len(positional) > 0:
		fmt.Fprintf(stderr, "arouter keys %s: unexpected arguments %q\n%s", sub, positional, keysUsage)
		return errUsage
	}
	fields := keyFields(fs, *name, *limit, *reset, *models, *expires, *logging)

	c, err := cf.open(stderr)
	if err != nil {
		return err
	}
	defer c.close()
	var hash string
	if wantHash {
		hash = url.PathEscape(positional[0])
	}
	var one struct {
		Data     keyView `json:"data"`
		Key      string  `json:"key"`
		Previous keyView `json:"previous"`
	}
	switch sub {
	case "create":
		if *name == "" {
			fmt.Fprint(stderr, "arouter keys create: --name is required\n"+keysUsage)
			return errUsage
		}
		if err := c.do("POST", "/v1/keys", fields, &one); err != nil {
			return err
		}
		// The token goes alone to stdout so that KEY=$(arouter keys create …) works.
		fmt.Fprintln(stdout, one.Key)
		fmt.Fprintf(stderr, "created key %q (%s), hash %s\nThe token (printed on stdout) is shown only once: store it now.\n", one.Data.Name, one.Data.Label, one.Data.Hash)
		return nil
	case "list":
		q := fmt.Sprintf("/v1/keys?offset=%d&include_disabled=%t", *offset, *includeDisabled)
		var list struct {
			Data []keyView `json:"data"`
		}
		if err := c.do("GET", q, nil, &list); err != nil {
			return err
		}
		return printKeys(stdout, list.Data)
	case "get":
		if err := c.do("GET", "/v1/keys/"+hash, nil, &one); err != nil {
			return err
		}
		return printKeys(stdout, []keyView{one.Data})
	case "update", "disable", "enable":
		if sub != "update" {
			fields = map[string]any{"disabled": sub == "disable"}
		} else if len(fields) == 0 {
			return fmt.Errorf("nothing to update: give at least one of --name, --limit, --limit-reset, --allowed-models, --expires, --prompt-logging")
		}
		if err := c.do("PATCH", "/v1/keys/"+hash, fields, &one); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "key %s updated (running gateways apply it within keys.refresh_after)\n", one.Data.Label)
		return printKeys(stdout, []keyView{one.Data})
	case "delete":
		if err := c.do("DELETE", "/v1/keys/"+hash, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "key %s deleted\n", positional[0])
		return nil
	case "rotate":
		body := map[string]any{}
		if *grace > 0 {
			body["old_key_expires_at"] = time.Now().Add(*grace).UTC().Format(time.RFC3339)
		}
		if err := c.do("POST", "/v1/keys/"+hash+"/rotate", body, &one); err != nil {
			return err
		}
		fmt.Fprintln(stdout, one.Key)
		until := "now"
		if one.Previous.ExpiresAt != nil {
			until = *one.Previous.ExpiresAt
		}
		fmt.Fprintf(stderr, "rotated: new key %s (hash %s); the old token works until %s.\nThe token (printed on stdout) is shown only once: store it now.\n",
			one.Data.Label, one.Data.Hash, until)
		return nil
	}
	return nil // unreachable: keysSubcommands holds exactly the cases above
}

// keysSubcommands are the subcommands of arouter keys, each with whether it names a key by HASH.
var keysSubcommands = map[string]bool{
	"create": false, "list": false,
	"get": true, "update": true, "disable": true, "enable": true, "delete": true, "rotate": true,
}

// keyFields turns the flags that were set into a key object patch.
func keyFields(fs *flag.FlagSet, name, limit, reset, models, expires, logging string) map[string]any {
	f := map[string]any{}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "name":
			f["name"] = name
		case "limit":
			if limit == "none" {
				f["limit"] = nil
			} else {
				f["limit"] = jsonNumber(limit)
			}
		case "limit-reset":
			if reset == "none" {
				f["limit_reset"] = nil
			} else {
				f["limit_reset"] = reset
			}
		case "allowed-models":
			if models == "all" {
				f["allowed_models"] = nil
			} else {
				list := []string{}
				for _, m := range strings.Split(models, ",") {
					if m = strings.TrimSpace(m); m != "" {
						list = append(list, m)
					}
				}
				f["allowed_models"] = list
			}
		case "expires":
			if expires == "never" {
				f["expires_at"] = nil
			} else {
				f["expires_at"] = expires
			}
		case "prompt-logging":
			f["prompt_logging"], _ = onOff(logging)
		}
	})
	return f
}

// onOff reads a switch's value: "on" or "off" (true, false, yes, no, 1 and 0 too).
func onOff(v string) (on, ok bool) {
	switch strings.ToLower(v) {
	case "on", "true", "yes", "1":
		return true, true
	case "off", "false", "no", "0":
		return false, true
	}
	return false, false
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// jsonNumber passes a number through to the API unchanged, so that "2.50" is not rounded by a
// float on the way; the API says if it is not a number.
type jsonNumber string

func (n jsonNumber) MarshalJSON() ([]byte, error) {
	for _, c := range n {
		if !(c >= '0' && c <= '9' || c == '.' || c == '-') {
			return []byte(fmt.Sprintf("%q", string(n))), nil // the API will name the field
		}
	}
	return []byte(n), nil
}

func printKeys(w io.Writer, keys []keyView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HASH\tLABEL\tNAME\tSTATE\tUSAGE\tLIMIT\tMODELS\tEXPIRES\tPROMPT_LOGGING")
	for _, k := range keys {
		state := "active"
		if k.Disabled {
			state = "disabled"
		}
		limit := "-"
		if k.Limit != nil {
			limit = "$" + k.Limit.String()
			if k.LimitReset != nil {
				limit += "/" + map[string]string{"daily": "day", "weekly": "week", "monthly": "month"}[*k.LimitReset]
			}
		}
		models := "all"
		if len(k.AllowedModels) > 0 {
			models = strings.Join(k.AllowedModels, ",")
		}
		exp := "never"
		if k.ExpiresAt != nil {
			exp = *k.ExpiresAt
		}
		logging := "off" // the key's own opt-in; its organization's is shown by "arouter orgs prompt-logging"
		if k.PromptLogging {
			logging = "on"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t$%s\t%s\t%s\t%s\t%s\n", k.Hash, k.Label, k.Name, state, k.Usage, limit, models, exp, logging)
	}
	return tw.Flush()
}
