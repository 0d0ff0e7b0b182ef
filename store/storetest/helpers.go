package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/tenancy"
)

// TestKey returns a key with times at the stored precision and, for odd i, a limit, a reset
// period, a models restriction and IncludeBYOKInLimit. OrgID, CreatorID and BudgetID are left
// for the test to set.
func TestKey(i int, expires bool) *apikey.Key {
	token := fmt.Sprintf("%s%064d", apikey.Prefix, i)
	k := &apikey.Key{
		Hash:      apikey.HashToken([]byte(token)),
		Name:      fmt.Sprintf("key %d", i),
		Label:     apikey.Label(token),
		Disabled:  i%3 == 2,
		CreatedAt: time.UnixMilli(1_700_000_000_000 + int64(i)).UTC(),
		UpdatedAt: time.UnixMilli(1_700_000_000_500 + int64(i)).UTC(),
	}
	if expires {
		k.ExpiresAt = time.UnixMilli(1_800_000_000_123 + int64(i)).UTC()
	}
	if i%2 == 1 {
		k.Limit, k.HasLimit = money.Nanos(1_000_000_000*int64(i)+7), true
		k.LimitReset = apikey.Period(i / 2 % 4)
		k.AllowedModels = []string{"anthropic/*", fmt.Sprintf("openai/gpt-%d", i)}
		k.IncludeBYOKInLimit = true
	}
	return k
}

// CheckKey fails the test unless got equals want field by field.
func CheckKey(t testing.TB, what string, got, want *apikey.Key) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
		}
		return
	}
	if !reflect.DeepEqual(*got, *want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, *got, *want)
	}
}

// NewUser stores a user called name, with email name@example.com.
func NewUser(t testing.TB, s Store, name string) *tenancy.User {
	t.Helper()
	u := &tenancy.User{Email: name + "@example.com", Name: name}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u
}

// NewOrg stores an organization called name with admin as its admin.
func NewOrg(t testing.TB, s Store, name string, admin int64) *tenancy.Org {
	t.Helper()
	o := &tenancy.Org{Name: name}
	if err := s.CreateOrg(context.Background(), o, admin); err != nil {
		t.Fatalf("CreateOrg(%s): %v", name, err)
	}
	return o
}

// NewOrgKey stores an enabled, unrestricted key number i in orgID, created by creatorID.
func NewOrgKey(t testing.TB, s Store, i int, orgID, creatorID int64) *apikey.Key {
	t.Helper()
	k := TestKey(i, false)
	k.Disabled = false
	k.OrgID, k.CreatorID = orgID, creatorID
	if err := s.InsertKey(context.Background(), k); err != nil {
		t.Fatalf("InsertKey %d: %v", i, err)
	}
	return k
}

// NewManagementKey returns an unstored management key number i of userID in orgID.
func NewManagementKey(i int, userID, orgID int64) *tenancy.ManagementKey {
	token := fmt.Sprintf("%s%064x", apikey.ManagementPrefix, i)
	return &tenancy.ManagementKey{Hash: apikey.HashToken([]byte(token)), Name: fmt.Sprintf("mgmt %d", i),
		Label: apikey.Label(token), UserID: userID, OrgID: orgID}
}

// Roles returns the members of orgID as sorted "name:role" words, "" for an unknown
// organization.
func Roles(t testing.TB, s Store, orgID int64) string {
	t.Helper()
	ms, err := s.Members(context.Background(), orgID)
	if errors.Is(err, tenancy.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s:%s", m.User.Name, m.Role))
	}
	slices.Sort(out)
	return fmt.Sprint(out)[1 : len(fmt.Sprint(out))-1]
}

// countRows returns the number of rows of table.
func countRows(t testing.TB, h Harness, s Store, table string) int {
	t.Helper()
	var n int
	Must(t, h.QueryRow(t, s, "SELECT count(*) FROM "+table).Scan(&n))
	return n
}

// roundMS returns t at the stored (millisecond) precision, in UTC; the zero time stays zero.
func roundMS(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// Must fails the test now if err is not nil.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRecords returns n records with distinct generation ids and every field set, with times
// at the stored (microsecond) precision.
func TestRecords(n int) []accounting.Record {
	base := time.UnixMicro(1_750_000_000_123_456).UTC()
	recs := make([]accounting.Record, n)
	for i := range recs {
		ts := base.Add(time.Duration(i) * time.Millisecond)
		recs[i] = accounting.Record{
			GenerationID:     accounting.NewGenerationID(ts),
			Time:             ts,
			KeyID:            int64(i%7 + 1),
			OrgID:            int64(i%3 + 1),
			BudgetID:         int64(i%7 + 1),
			Model:            "openai/gpt-4o-mini",
			Provider:         "openai",
			UpstreamModel:    "gpt-4o-mini-2024-07-18",
			PromptTokens:     int64(1000 + i),
			CompletionTokens: int64(200 + i),
			ReasoningTokens:  int64(i % 50),
			CachedTokens:     int64(i % 100),
			CacheWriteTokens: int64(i % 13),
			Cost:             money.Nanos(123_456_789 + i),
			Latency:          time.Duration(1_500_000+i) * time.Microsecond,
			TTFB:             time.Duration(250_000+i) * time.Microsecond,
			Status:           200,
			Streamed:         i%2 == 0,
			Cancelled:        i%5 == 0,
		}
		// Records 0 and 1 are what every release wrote (no cache discount, no BYOK), for the
		// migration tests that insert them with older schemas.
		if i > 1 {
			// What migration 9 added: every finish reason, an id on most records.
			recs[i].FinishReason = accounting.FinishReason(i % 7)
			if i%7 != 0 {
				recs[i].UpstreamID.SetString("chatcmpl-" + strconv.Itoa(1_000_000+i))
				recs[i].NativeFinishReason.SetString([]string{"", "stop", "length", "tool_calls", "content_filter", "error", "eos_token"}[i%7])
			}
			recs[i].CacheDiscount = money.Nanos(1_000 * (i % 17))
			if i%6 == 2 {
				recs[i].CacheDiscount = -money.Nanos(i) // cache writes cost more than they saved
			}
		}
		if i%4 == 3 {
			recs[i].BYOK = true
			recs[i].BYOKCost = money.Nanos(2_000_000_000 + i)
		}
		if i%11 == 0 {
			recs[i].Status = 502
			recs[i].ErrorCode = "upstream_status"
		}
	}
	return recs
}
