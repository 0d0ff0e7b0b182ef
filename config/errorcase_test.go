package config

import (
	"strings"
	"testing"
)

// errorCase is a configuration that must be refused with messages containing want.
type errorCase struct {
	name string
	yaml string
	want []string // substrings of the error
}

// checkErrorCases parses each case and checks its error names the problem and, on every line,
// the source file.
func checkErrorCases(t *testing.T, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse([]byte(tc.yaml), "test.yaml", noEnv)
			if err == nil {
				t.Fatalf("no error for:\n%s", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "test.yaml") {
					t.Errorf("error line does not name the source: %q", line)
				}
			}
		})
	}
}
