package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"go.uber.org/zap"

	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/config"
)

// envBYOKKey is where `arouter byok add` takes the provider key from when stdin is not used.
const envBYOKKey = "AROUTER_BYOK_KEY"

const byokUsage = `usage: arouter byok list                    the organization's own provider keys (admins)
       arouter byok add PROVIDER [--mode prefer|fallback|only] [--name NAME]
                                             store a provider key, read from $AROUTER_BYOK_KEY or
                                             stdin (never from the command line, which shell
                                             history keeps)
       arouter byok delete ID
       arouter byok rekey [--config FILE]    re-encrypt every stored provider key under
                                             AROUTER_MASTER_KEY (master key rotation; works on the
                                             store directly, with AROUTER_MASTER_KEY_OLD set to the
                                             previous key)
Modes: prefer (default): the organization's key first, the platform's if it fails;
       fallback: the platform's key first; only: the organization's key and nothing else.
Every command also takes --config FILE and --url URL (see "arouter keys").
Storing keys needs AROUTER_MASTER_KEY on the gateway (and here, without a management key):
  export AROUTER_MASTER_KEY=$(openssl rand -hex 32)   # keep it safe: without it stored keys are lost
Example: read -rs AROUTER_BYOK_KEY && export AROUTER_BYOK_KEY && arouter byok add openai --mode prefer
`

// byokCmd serves "arouter byok".
func byokCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, byokUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("arouter byok "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, byokUsage) }
	cf := addClientFlags(fs)
	mode := fs.String("mode", string(byok.Prefer), "add: prefer, fallback or only")
	name := fs.String("name", "", "add: the label's name (default \"PROVIDER key\")")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if sub == "add" && len(pos) == 2 {
		fmt.Fprintf(stderr, "arouter byok add: the key is never taken from the command line (shell history would keep it);\npipe it on stdin or set %s\n", envBYOKKey)
		return errUsage
	}
	arity := map[string]int{"list": 0, "add": 1, "delete": 1, "rekey": 0}
	if n, ok := arity[sub]; !ok || len(pos) != n {
		fmt.Fprint(stderr, byokUsage)
		return errUsage
	}
	if sub == "rekey" {
		return byokRekey(*cf.config, stdout, stderr)
	}
	var key string
	if sub == "add" {
		if _, err := byok.ParseMode(*mode); err != nil {
			return fmt.Errorf("--mode: %w", err)
		}
		if key, err = readBYOKKey(stdin, stderr); err != nil {
			return err
		}
	}

	c, err := cf.open(stderr)
	if err != nil {
		return err
	}
	defer c.close()
	switch sub {
	case "list":
		var list struct {
			Data []struct {
				ID        int64  `json:"id"`
				Provider  string `json:"provider"`
				Label     string `json:"label"`
				Mode      string `json:"mode"`
				CreatedAt string `json:"created_at"`
			} `json:"data"`
		}
		if err := c.do("GET", "/v1/byok", nil, &list); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPROVIDER\tMODE\tLABEL\tCREATED")
		for _, k := range list.Data {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", k.ID, k.Provider, k.Mode, k.Label, k.CreatedAt)
		}
		return tw.Flush()
	case "add":
		body := map[string]any{"provider": pos[0], "key": key, "mode": *mode}
		if *name != "" {
			body["name"] = *name
		}
		var res struct {
			Data struct {
				ID    int64  `json:"id"`
				Label string `json:"label"`
				Mode  string `json:"mode"`
			} `json:"data"`
		}
		if err := c.do("POST", "/v1/byok", body, &res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d\n", res.Data.ID)
		fmt.Fprintf(stderr, "stored %q for %s (id %d, mode %s); a running gateway uses it within seconds\n",
			res.Data.Label, pos[0], res.Data.ID, res.Data.Mode)
		return nil
	default: // delete
		if err := c.do("DELETE", "/v1/byok/"+pos[0], nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "deleted provider key %s\n", pos[0])
		return nil
	}
}

// readBYOKKey takes the provider key from $AROUTER_BYOK_KEY or else the first line of stdin,
// prompting when stdin is a terminal.
func readBYOKKey(stdin io.Reader, stderr io.Writer) (string, error) {
	if v := strings.TrimSpace(os.Getenv(envBYOKKey)); v != "" {
		return v, nil
	}
	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(stderr, "provider key (input is shown; prefer piping it or setting "+envBYOKKey+"): ")
		}
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 16<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the provider key from stdin: %w", err)
	}
	key := strings.TrimSpace(line)
	if key == "" {
		return "", fmt.Errorf("no provider key: pipe it on stdin or set %s", envBYOKKey)
	}
	return key, nil
}

// byokRekey re-encrypts every stored provider key under the current master key, in one
// transaction, straight in the store (like `arouter admin-key`): the second step of a master
// key rotation.
func byokRekey(cfgPath string, stdout, stderr io.Writer) error {
	sealer, err := byok.SealerFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	if sealer == nil {
		return errors.New("set AROUTER_MASTER_KEY to the new master key and AROUTER_MASTER_KEY_OLD to the previous one")
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.RekeyBYOK(context.Background(), sealer.Reseal)
	if err != nil {
		return fmt.Errorf("%w; nothing was changed", err)
	}
	fmt.Fprintf(stdout, "%d\n", n)
	if os.Getenv(byok.EnvMasterKeyOld) == "" {
		fmt.Fprintf(stderr, "re-encrypted %d provider key(s) under master key %s (%s is not set: they were already under it)\n",
			n, sealer.KeyID(), byok.EnvMasterKeyOld)
		return nil
	}
	fmt.Fprintf(stderr, "re-encrypted %d provider key(s) under master key %s.\nNow remove %s from the gateway's environment and restart it.\n",
		n, sealer.KeyID(), byok.EnvMasterKeyOld)
	return nil
}

// openBYOKCache loads the organizations' provider keys for the request path and keeps them
// fresh (changes made through this gateway's API apply at once, others within seconds).
func openBYOKCache(st byok.Loader, sealer *byok.Sealer, log *zap.Logger) (*byok.Cache, error) {
	c, err := byok.NewCache(context.Background(), st, sealer, byok.Options{
		OnError: func(err error) { log.Warn("byok credentials could not all be loaded", zap.Error(err)) },
	})
	if err != nil {
		return nil, err
	}
	if sealer == nil {
		log.Info("BYOK: no master key; set AROUTER_MASTER_KEY to let organizations store provider keys",
			zap.Int("credentials", c.Len()))
	} else {
		log.Info("BYOK enabled", zap.String("master_key_id", sealer.KeyID()), zap.Int("credentials", c.Len()))
	}
	return c, nil
}

// providerIDs lists the configured providers: those a BYOK credential may name.
func providerIDs(cfg *config.Config) []string {
	ids := make([]string, len(cfg.Providers))
	for i, p := range cfg.Providers {
		ids[i] = p.ID
	}
	return ids
}
