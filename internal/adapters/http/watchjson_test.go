package http

import (
	"encoding/json"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
)

// The hand-written JSON of watch messages must be encoding/json's, byte
// for byte.

func TestAppendWatchMessage(t *testing.T) {
	t.Parallel()
	h := headerJSON{ClusterID: 1<<64 - 1, MemberID: 2, Revision: 1<<63 - 1, RaftTerm: 3}
	kv := func(key, value string) domain.KeyValue {
		return domain.KeyValue{Key: []byte(key), Value: []byte(value), CreateRevision: 4, ModRevision: 5, Version: 6, Lease: 7}
	}
	prev := kv("k", "old")
	tests := []struct {
		name string
		evs  []domain.Event
	}{
		{name: "Put", evs: []domain.Event{{Type: domain.EventPut, Kv: kv("k", "v")}}},
		{name: "Delete", evs: []domain.Event{{Type: domain.EventDelete, Kv: kv("k", "")}}},
		{name: "PrevKv", evs: []domain.Event{{Type: domain.EventPut, Kv: kv("k", "v"), PrevKv: &prev}, {Type: domain.EventDelete, Kv: kv("k", ""), PrevKv: &prev}}},
		{name: "Empty", evs: []domain.Event{{Type: domain.EventPut, Kv: domain.KeyValue{}}}},
		{name: "Escapes", evs: []domain.Event{{Type: domain.EventPut, Kv: kv("a\"b\\c\n\r\t\b\f\x00\x1f<>&/", "\u2028\u2029é€😀\x7f")}}},
		{name: "Binary", evs: []domain.Event{{Type: domain.EventPut, Kv: kv("\xff\xfe", "a\xc3")}}},
		{name: "None", evs: []domain.Event{}},
	}
	for _, tt := range tests {
		for _, c := range []codec{{}, {base64: true}} {
			want, err := json.Marshal(watchMessageJSON{Header: h, Events: c.events(tt.evs)})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.appendWatchMessage(nil, h, tt.evs); string(got) != string(want) {
				t.Errorf("%s (base64 %v):\n got %s\nwant %s", tt.name, c.base64, got, want)
			}
		}
	}
	want, _ := json.Marshal(progressJSON{Header: h})
	if got := appendProgress(nil, h); string(got) != string(want) {
		t.Errorf("progress:\n got %s\nwant %s", got, want)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\/", "<script>&amp;", "\x00\x01\x1f\x7f", "\b\f\n\r\t", "\u2028\u2029", "\xff", "a\xe2\x80", "\xed\xa0\x80", "é😀"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, err := json.Marshal(string(b))
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, b); string(got) != string(want) {
			t.Fatalf("%q:\n got %s\nwant %s", b, got, want)
		}
		// As a key and a value of an event, in both encodings.
		evs := []domain.Event{{Type: domain.EventPut, Kv: domain.KeyValue{Key: b, Value: b}}}
		for _, c := range []codec{{}, {base64: true}} {
			want, _ := json.Marshal(watchMessageJSON{Events: c.events(evs)})
			if got := c.appendWatchMessage(nil, headerJSON{}, evs); string(got) != string(want) {
				t.Fatalf("%q (base64 %v):\n got %s\nwant %s", b, c.base64, got, want)
			}
		}
	})
}
