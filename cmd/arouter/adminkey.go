package main

import (
	"context"
	"errors"
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
// way back in when the key printed at first start is lost. With --user EMAIL it mints one for
// that user instead, acting in their personal context: the way back in for a user with no live
// management key left (removal from an organization revokes the keys acting in it), whom an
// invitation to an existing account cannot let in without one, so that an invitation code in
// the wrong hands cannot take over an account.
// adminKeyUsage is arouter admin-key --help.
const adminKeyUsage = `usage: arouter admin-key [--user EMAIL] [--config FILE]

Mints a management key straight in the store (it needs write access to it, which is admin
access anyway) and prints it, once, on stdout:
  - for the instance admin, when the key printed at the first start is lost;
  - with --user EMAIL, for that user, acting in their personal context: for a user with no
    management key left (removal from an organization revokes the keys acting in it), who
    needs one to redeem an invitation to their existing account.
`

func adminKeyCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("arouter admin-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, adminKeyUsage) }
	cfgPath := configFlag(fs)
	email := fs.String("user", "", "mint the key for the user with this email (default: the instance admin)")
	if pos, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		fmt.Fprintf(stderr, "arouter admin-key: unexpected arguments %q\n%s", pos, adminKeyUsage)
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
	name := "instance admin (arouter admin-key)"
	if *email != "" {
		if u, err = st.UserByEmail(ctx, *email); errors.Is(err, tenancy.ErrNotFound) {
			return fmt.Errorf("no user has the email %q; an Admin adds them with arouter members add EMAIL", *email)
		} else if err != nil {
			return err
		}
		token, name = "", "minted by the instance admin (arouter admin-key --user)"
	}
	if token == "" { // the user existed already: mint another key
		if token, err = apikey.GenerateManagement(); err != nil {
			return err
		}
		mk := &tenancy.ManagementKey{Hash: apikey.HashToken([]byte(token)), Label: apikey.Label(token), Name: name,
			UserID: u.ID, OrgID: u.PersonalOrgID, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
		if err := st.InsertManagementKey(ctx, mk); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, token)
	fmt.Fprintf(stderr, "new management key for %s, acting in their personal context; shown only once.\n", u.Email)
	return nil
}
