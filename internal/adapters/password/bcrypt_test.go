package password

import (
	"strings"
	"testing"
)

func TestBcrypt(t *testing.T) {
	h := Bcrypt{Cost: 4}
	hash, err := h.Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pw   string
		want bool
	}{{"s3cret", true}, {"S3cret", false}, {"", false}, {strings.Repeat("x", 100), false}} {
		got, err := h.Match(hash, c.pw)
		if err != nil || got != c.want {
			t.Errorf("Match(%q) = %v, %v; want %v", c.pw, got, err, c.want)
		}
	}
	if _, err := h.Match([]byte("not a hash"), "s3cret"); err == nil {
		t.Error("a malformed hash matched without an error")
	}
	if _, err := (Bcrypt{}).Hash(strings.Repeat("x", 73)); err == nil {
		t.Error("a 73-byte password was hashed (bcrypt would ignore its end)")
	}
}

// BenchmarkMatch is one login's password check at the default cost, what a
// wrong password or a first Basic login costs the member.
func BenchmarkMatch(b *testing.B) {
	h := Bcrypt{}
	hash, err := h.Hash("s3cret")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := h.Match(hash, "s3cret"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
