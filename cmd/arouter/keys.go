package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/config"
	"github.com/arouter/arouter/store/sqlite"
)

const keysUsage = `usage: arouter keys create --name NAME [--expires RFC3339] [--config FILE]
       arouter keys list [--config FILE]
       arouter keys disable|enable HASH [--config FILE]
`

// keysCmd works on the store directly, so it needs no running gateway; a running one sees
// changes within keys.refresh_after.
func keysCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("arouter keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	name := fs.String("name", "", "a name to recognise the key by (create)")
	expires := fs.String("expires", "", "expiry time, RFC 3339 UTC such as 2027-01-31T00:00:00Z (create; default never)")
	positional, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if args[0] != "disable" && args[0] != "enable" && len(positional) > 0 {
		fmt.Fprintf(stderr, "arouter keys %s: unexpected argument %q\n%s", args[0], positional[0], keysUsage)
		return errUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	st, err := sqlite.Open(cfg.Store.SQLite)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()

	switch args[0] {
	case "create":
		if *name == "" {
			fmt.Fprint(stderr, "arouter keys create: --name is required\n"+keysUsage)
			return errUsage
		}
		var exp time.Time
		if *expires != "" {
			if exp, err = time.Parse(time.RFC3339, *expires); err != nil {
				return fmt.Errorf("--expires: %q is not an RFC 3339 time such as 2027-01-31T00:00:00Z", *expires)
			}
		}
		token, err := apikey.Generate()
		if err != nil {
			return err
		}
		k := &apikey.Key{Hash: apikey.HashToken([]byte(token)), Name: *name, Label: apikey.Label(token),
			CreatedAt: time.Now().UTC(), ExpiresAt: exp.UTC()}
		if exp.IsZero() {
			k.ExpiresAt = time.Time{}
		}
		if err := st.InsertKey(ctx, k); err != nil {
			return err
		}
		// The token goes alone to stdout so that KEY=$(arouter keys create …) works; the rest
		// goes to stderr.
		fmt.Fprintln(stdout, token)
		fmt.Fprintf(stderr, "created key %q (%s), hash %s\nThe token above is shown only once: store it now.\n", k.Name, k.Label, k.Hash)
		return nil
	case "list":
		keys, err := st.ListKeys(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "HASH\tLABEL\tNAME\tSTATE\tCREATED")
		for _, k := range keys {
			state := "active"
			if err := k.Usable(time.Now()); err != nil {
				state = map[error]string{apikey.ErrDisabled: "disabled", apikey.ErrExpired: "expired"}[err]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Hash, k.Label, k.Name, state, k.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "disable", "enable":
		if len(positional) != 1 {
			fmt.Fprint(stderr, keysUsage)
			return errUsage
		}
		h, err := apikey.ParseHash(positional[0])
		if err != nil {
			return fmt.Errorf("%w (copy the HASH column of `arouter keys list`)", err)
		}
		if err := st.SetKeyDisabled(ctx, h, args[0] == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "key %s %sd\n", h, args[0])
		return nil
	default:
		fmt.Fprintf(stderr, "arouter keys: unknown subcommand %q\n%s", args[0], keysUsage)
		return errUsage
	}
}
