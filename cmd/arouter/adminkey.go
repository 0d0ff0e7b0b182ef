package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/arouter/arouter/admin"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/config"
	"github.com/arouter/arouter/tenancy"
)

// adminKeyCmd mints a new management key for the instance admin, straight in the store: the
// way back in when the key printed at first start is lost.
func adminKeyCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("arouter admin-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	if pos, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		fmt.Fprintln(stderr, "usage: arouter admin-key [--config FILE]")
		return errUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	u, token, err := admin.Bootstrap(ctx, st, bootstrapOptions(cfg), time.Now())
	if err != nil {
		return err
	}
	if token == "" { // the admin existed already: mint another key
		if token, err = apikey.GenerateManagement(); err != nil {
			return err
		}
		mk := &tenancy.ManagementKey{Hash: apikey.HashToken([]byte(token)), Label: apikey.Label(token), Name: "instance admin (arouter admin-key)",
			UserID: u.ID, OrgID: u.PersonalOrgID, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
		if err := st.InsertManagementKey(ctx, mk); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, token)
	fmt.Fprintf(stderr, "new management key for the instance admin (%s); shown only once.\n", u.Email)
	return nil
}
