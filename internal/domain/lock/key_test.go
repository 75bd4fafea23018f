package lock_test

import (
	"testing"

	"github.com/cairnkv/cairn/internal/domain/lock"
)

func TestNameOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		key  string
		want string
		ok   bool
	}{
		{name: "OK", key: string(lock.Key([]byte("jobs"), 0x1a2b)), want: "jobs", ok: true},
		{name: "NameWithSlashes", key: string(lock.Key([]byte("a/b/"), 7)), want: "a/b/", ok: true},
		{name: "NoSlash", key: "1a2b"},
		{name: "NoName", key: "/1a2b"},
		{name: "NoLease", key: "jobs/"},
		{name: "NotHex", key: "jobs/xyz"},
		{name: "NotCanonical", key: "jobs/+1a"},
		{name: "Upper", key: "jobs/1A"},
		{name: "Zero", key: "jobs/0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := lock.NameOf([]byte(tc.key))
			if ok != tc.ok || string(got) != tc.want {
				t.Fatalf("NameOf(%q) = %q %v, want %q %v", tc.key, got, ok, tc.want, tc.ok)
			}
		})
	}
}
