package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

const orgsUsage = `usage: arouter orgs list                      the contexts your management key's user belongs to
       arouter orgs create NAME               a new organization; prints a management key acting in it
       arouter orgs prompt-logging [on|off]   whether the current organization stores every key's
                                              requests and answers for its Admins; on or off (admins)
       arouter members list                   members of the current organization (admins)
       arouter members add EMAIL [--role admin|member] [--name NAME]
                                              prints an invitation code to hand to them; they
                                              redeem it with "arouter invitations redeem CODE"
       arouter members reinvite USER_ID       a new invitation code for a member whose code expired
                                              or was lost; their earlier codes stop working (admins)
       arouter members set-role USER_ID admin|member
       arouter members remove USER_ID
       arouter credits [show]                 the context's credits and usage (admins)
       arouter credits add USD [--org ID]     grant credits to the current context or to
                                              organization ID (the instance admin only)
Every command also takes --config FILE and --url URL (see "arouter keys").
`

// orgsCmd serves "arouter orgs", "arouter members" and "arouter credits".
func orgsCmd(group string, args []string, stdout, stderr io.Writer) error {
	sub := "show"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	} else if group != "credits" {
		fmt.Fprint(stderr, orgsUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("arouter "+group+" "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, orgsUsage) }
	cf := addClientFlags(fs)
	role := fs.String("role", "member", "members add: admin or member")
	name := fs.String("name", "", "members add: display name of a new user (default: the email's local part)")
	orgID := fs.Int64("org", 0, "credits add: the organization to grant to (default: the current context)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	arity := map[string]int{"orgs list": 0, "orgs create": 1, "members list": 0, "members add": 1,
		"members reinvite": 1, "members set-role": 2, "members remove": 1, "credits show": 0, "credits add": 1, "orgs prompt-logging": 1}
	n, ok := arity[group+" "+sub]
	if group+" "+sub == "orgs prompt-logging" && len(pos) == 0 {
		n = 0 // show the setting
	}
	if !ok || len(pos) != n {
		fmt.Fprint(stderr, orgsUsage)
		return errUsage
	}
	var logging bool
	if group+" "+sub == "orgs prompt-logging" && n == 1 {
		if logging, ok = onOff(pos[0]); !ok {
			fmt.Fprintf(stderr, "arouter orgs prompt-logging: want on or off, not %q\n%s", pos[0], orgsUsage)
			return errUsage
		}
	}
	c, err := cf.open(stderr)
	if err != nil {
		return err
	}
	defer c.close()

	var out map[string]json.RawMessage
	switch group + " " + sub {
	case "orgs list":
		var list struct {
			Data []struct {
				ID       int64  `json:"id"`
				Name     string `json:"name"`
				Personal bool   `json:"personal"`
				Role     string `json:"role"`
			} `json:"data"`
		}
		if err := c.do("GET", "/v1/orgs", nil, &list); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tKIND\tROLE")
		for _, o := range list.Data {
			kind := "organization"
			if o.Personal {
				kind = "personal"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", o.ID, o.Name, kind, o.Role)
		}
		return tw.Flush()
	case "orgs create":
		var res struct {
			Data struct {
				ID   int64  `json:"id"`
				Name string `json:"name"`
			} `json:"data"`
			ManagementKey string `json:"management_key"`
		}
		if err := c.do("POST", "/v1/orgs", map[string]any{"name": pos[0]}, &res); err != nil {
			return err
		}
		fmt.Fprintln(stdout, res.ManagementKey)
		fmt.Fprintf(stderr, "created organization %q (id %d); you are its admin.\nThe management key above acts in it and is shown only once.\n", res.Data.Name, res.Data.ID)
		return nil
	}

	// The remaining commands act on the current context, which /v1/me names.
	var me struct {
		Data struct {
			Organization struct {
				ID int64 `json:"id"`
			} `json:"organization"`
		} `json:"data"`
	}
	if err := c.do("GET", "/v1/me", nil, &me); err != nil {
		return err
	}
	members := fmt.Sprintf("/v1/orgs/%d/members", me.Data.Organization.ID)
	switch group + " " + sub {
	case "orgs prompt-logging":
		return orgPromptLogging(c, me.Data.Organization.ID, pos, logging, stdout, stderr)
	case "members list":
		var list struct {
			Data []struct {
				User struct {
					ID    int64  `json:"id"`
					Email string `json:"email"`
					Name  string `json:"name"`
				} `json:"user"`
				Role string `json:"role"`
			} `json:"data"`
		}
		if err := c.do("GET", members, nil, &list); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER_ID\tEMAIL\tNAME\tROLE")
		for _, m := range list.Data {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", m.User.ID, m.User.Email, m.User.Name, m.Role)
		}
		return tw.Flush()
	case "members add":
		body := map[string]any{"email": pos[0], "role": *role}
		if *name != "" {
			body["name"] = *name
		}
		if err := c.do("POST", members, body, &out); err != nil {
			return err
		}
		return printInvitation(out, fmt.Sprintf("added %s as %s", pos[0], *role), *cf.url, stdout, stderr)
	case "members reinvite":
		if err := c.do("POST", members+"/"+pos[0]+"/invitation", nil, &out); err != nil {
			return err
		}
		return printInvitation(out, fmt.Sprintf("issued a new invitation for user %s; their earlier codes no longer work", pos[0]),
			*cf.url, stdout, stderr)
	case "members set-role":
		if err := c.do("PATCH", members+"/"+pos[0], map[string]any{"role": pos[1]}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "user %s is now %s\n", pos[0], pos[1])
		return nil
	case "members remove":
		if err := c.do("DELETE", members+"/"+pos[0], nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "removed user %s; their keys in this organization were disabled (%s)\n", pos[0], out["keys_disabled"])
		return nil
	case "credits add":
		body := map[string]any{"amount": jsonNumber(pos[0])}
		if *orgID != 0 {
			body["organization_id"] = *orgID
		}
		if err := c.do("POST", "/v1/credits", body, &out); err != nil {
			return err
		}
		return printJSON(stdout, out["data"])
	default: // credits show
		if err := c.do("GET", "/v1/credits", nil, &out); err != nil {
			return err
		}
		return printJSON(stdout, out["data"])
	}
}

// printInvitation prints the invitation code of an answer (members add, members reinvite) on
// stdout, and on stderr what happened and how the member redeems it.
func printInvitation(out map[string]json.RawMessage, what, url string, stdout, stderr io.Writer) error {
	var inv struct {
		Code      string `json:"code"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal(out["invitation"], &inv); err != nil || inv.Code == "" {
		return fmt.Errorf("the gateway's answer has no invitation code: %s", out["invitation"])
	}
	fmt.Fprintln(stdout, inv.Code)
	fmt.Fprintf(stderr, "%s. The invitation code above is shown only this once and works once, until %s.\n"+
		"Hand it to them; they redeem it for their own management key with\n\n"+
		"    arouter invitations redeem CODE --url %s\n\n"+
		"(or POST /v1/invitations/redeem). If their account already has management keys, they set\n"+
		"AROUTER_MANAGEMENT_KEY to one of them first.\n", what, inv.ExpiresAt, url)
	return nil
}

// orgPromptLogging shows the current organization's prompt-logging switch (no arguments) or
// turns it on or off, and prints the setting, "on" or "off", on stdout.
func orgPromptLogging(c managementClient, orgID int64, pos []string, on bool, stdout, stderr io.Writer) error {
	var res struct {
		Data struct {
			ID            int64  `json:"id"`
			Name          string `json:"name"`
			PromptLogging bool   `json:"prompt_logging"`
		} `json:"data"`
	}
	path := fmt.Sprintf("/v1/orgs/%d", orgID)
	if len(pos) == 0 {
		if err := c.do("GET", path, nil, &res); err != nil {
			return err
		}
	} else {
		if err := c.do("PATCH", path, map[string]any{"prompt_logging": on}, &res); err != nil {
			return err
		}
		if on {
			fmt.Fprintf(stderr, "prompt logging is on for %q (id %d): the requests and answers of every key are stored for its Admins\n"+
				"(GET /v1/generation/content) from the next request, until retention deletes them\n", res.Data.Name, res.Data.ID)
		} else {
			fmt.Fprintf(stderr, "prompt logging is off for %q (id %d) from the next request; keys that opted in themselves still log\n"+
				"(arouter keys update HASH --prompt-logging off); what was stored stays until retention deletes it\n", res.Data.Name, res.Data.ID)
		}
	}
	state := "off"
	if res.Data.PromptLogging {
		state = "on"
	}
	_, err := fmt.Fprintln(stdout, state)
	return err
}

func printJSON(w io.Writer, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
