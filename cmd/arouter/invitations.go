package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

const invitationsUsage = `usage: arouter invitations redeem CODE [--name NAME] [--url URL]
       arouter invitations redeem CODE --local [--config FILE]

Redeems an invitation code (an Admin got it from "arouter members add" and handed it to you)
for a management key of your own acting in the organization. The key is printed once, on
stdout. A code works once, within 7 days.

  - A new account has no management key yet: run it as it is; it calls the gateway at --url
    (env AROUTER_URL) without one.
  - An account that already has management keys must prove it is the invited one: set
    AROUTER_MANAGEMENT_KEY to one of its keys (any context).
  - --local redeems on the configured store as the instance admin (an invitation addressed to
    the instance admin; needs write access to the store, like "arouter admin-key").
`

// invitationsCmd serves "arouter invitations".
func invitationsCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "redeem" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, invitationsUsage)
			return flag.ErrHelp
		}
		fmt.Fprint(stderr, invitationsUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("arouter invitations redeem", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, invitationsUsage) }
	cf := addClientFlags(fs)
	name := fs.String("name", "", "name of the new management key (default \"management key\")")
	local := fs.Bool("local", false, "redeem on the configured store as the instance admin")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, invitationsUsage)
		return errUsage
	}
	var c managementClient
	switch {
	case *local:
		if c, err = openLocalClient(*cf.config, stderr); err != nil {
			return err
		}
	case os.Getenv("AROUTER_MANAGEMENT_KEY") != "":
		if c, err = cf.open(stderr); err != nil {
			return err
		}
	default: // a new account's first key: no key to send
		c = &httpClient{base: strings.TrimRight(*cf.url, "/"), hc: &http.Client{Timeout: 30 * time.Second}}
	}
	defer c.close()

	body := map[string]any{"code": strings.TrimSpace(pos[0])}
	if *name != "" {
		body["name"] = *name
	}
	var res struct {
		Data struct {
			UserID         int64 `json:"user_id"`
			OrganizationID int64 `json:"organization_id"`
		} `json:"data"`
		Key string `json:"key"`
	}
	if err := c.do("POST", "/v1/invitations/redeem", body, &res); err != nil {
		return err
	}
	fmt.Fprintln(stdout, res.Key)
	fmt.Fprintf(stderr, "invitation redeemed: the management key above acts as user %d in organization %d and is shown only once.\n"+
		"Use it with: export AROUTER_MANAGEMENT_KEY=<the key>\n", res.Data.UserID, res.Data.OrganizationID)
	return nil
}
