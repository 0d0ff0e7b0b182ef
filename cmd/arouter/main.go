// Command arouter is the ARouter LLM gateway: `arouter serve` runs it, `arouter keys` manages
// API keys in its store, `arouter mock` runs the built-in mock provider on its own.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `arouter — one OpenAI-compatible endpoint in front of many LLM providers.

Usage:
  arouter serve  [--config FILE]           run the gateway
  arouter keys create --name NAME [--limit USD] [--limit-reset daily|weekly|monthly] ...
                                           mint an inference key; prints the token once, on stdout
  arouter keys list|get|update|disable|enable|delete|rotate ...
                                           manage inference keys ("arouter keys" for details)
  arouter orgs list|create NAME            organizations you belong to; create one
  arouter orgs prompt-logging [on|off]     the current organization's prompt-logging switch
  arouter members list|add|reinvite|set-role|remove
                                           members of the current organization; add prints
                                           an invitation code to hand to the new member
  arouter invitations redeem CODE          redeem an invitation code for your own management key
                                           ("arouter invitations -h" for details)
  arouter credits [show] | credits add USD [--org ID]
                                           the credit pool of the current context; the instance
                                           admin grants credits, to any organization
  arouter byok list|add PROVIDER|delete ID|rekey
                                           the organization's own provider keys ("arouter byok" for details)
  arouter activity [--from D --to D --group-by day|model|key|member|provider --key H --model M --member ID]
                                           usage and cost per group ("arouter activity -h" for details)
  arouter activity export --format csv|pdf [-o FILE]
                                           the same as a CSV file or a PDF report
  arouter admin-key [--user EMAIL]         mint a new management key for the instance admin, or for a
                                           user who has none left (acting in their personal context)
  arouter mock   [--listen ADDR] [flags]   run the mock OpenAI-compatible provider alone
  arouter help [COMMAND]                   this text, or a command's ("arouter keys --help" too)

Management commands call the gateway at --url (env AROUTER_URL) when AROUTER_MANAGEMENT_KEY
is set, acting as that key's user; without it they work on the configured store directly, as
the instance admin.

The configuration defaults to configs/arouter.yaml (or $AROUTER_CONFIG).
Quick start: make run, then in another terminal:
  KEY=$(./bin/arouter keys create --name quickstart)
  curl -s http://127.0.0.1:8080/v1/chat/completions -H "Authorization: Bearer $KEY" \
    -d '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// groupUsage is each command group's own usage text, for "arouter help GROUP" and
// "arouter GROUP --help".
var groupUsage = map[string]string{
	"keys": keysUsage, "orgs": orgsUsage, "members": orgsUsage, "credits": orgsUsage,
	"invitations": invitationsUsage, "byok": byokUsage, "activity": activityUsage,
	"serve": serveUsage, "admin-key": adminKeyUsage,
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "help" }

// run dispatches a command line and returns the exit status: 0 success, 1 failure, 2 usage.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	// Help that was asked for goes to stdout (so that it pipes into less) and exits 0.
	if text, ok := groupUsage[args[0]]; ok && len(args) == 2 && isHelp(args[1]) {
		fmt.Fprint(stdout, text)
		return 0
	}
	if isHelp(args[0]) && len(args) == 2 {
		if text, ok := groupUsage[args[1]]; ok {
			fmt.Fprint(stdout, text)
			return 0
		}
	}
	var err error
	switch args[0] {
	case "serve":
		err = serveCmd(args[1:], stderr)
	case "keys":
		err = keysCmd(args[1:], stdout, stderr)
	case "orgs", "members", "credits":
		err = orgsCmd(args[0], args[1:], stdout, stderr)
	case "invitations":
		err = invitationsCmd(args[1:], stdout, stderr)
	case "byok":
		err = byokCmd(args[1:], os.Stdin, stdout, stderr)
	case "activity":
		err = activityCmd(args[1:], stdout, stderr)
	case "admin-key":
		err = adminKeyCmd(args[1:], stdout, stderr)
	case "mock":
		err = mockCmd(args[1:], stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "arouter: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "arouter %s: %v\n", args[0], err)
		return 1
	}
}

// errUsage marks a command line mistake whose message was already printed.
var errUsage = errors.New("usage")

// configFlag registers --config with its default.
func configFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("AROUTER_CONFIG")
	if def == "" {
		def = "configs/arouter.yaml"
	}
	return fs.String("config", def, "configuration file (env AROUTER_CONFIG)")
}

// parseFlags parses flags wherever they stand among the positional arguments (the standard
// package stops at the first positional, so `keys disable HASH --config F` would fail), turning
// flag's own errors into errUsage (flag already printed them). It returns the positionals. A
// negative number is a positional, not an unknown flag: `credits add -5` is then refused for
// its amount, which says what is wrong.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if len(args) > 0 && isNegativeNumber(args[0]) {
			positional = append(positional, args[0])
			args = args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// isNegativeNumber reports whether s is written like -5 or -0.25.
func isNegativeNumber(s string) bool {
	if len(s) < 2 || s[0] != '-' {
		return false
	}
	for _, c := range s[1:] {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}
