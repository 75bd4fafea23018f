package etcdapi

import (
	"errors"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
)

func TestNamedPeer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		urls     []string
		wantName string
		wantURL  string
	}{
		{name: "OK", urls: []string{"http://n4@10.0.0.4:2380"}, wantName: "n4", wantURL: "http://10.0.0.4:2380"},
		{name: "HTTPS", urls: []string{"https://cairn-3@cairn-3.cairn:2380/"}, wantName: "cairn-3", wantURL: "https://cairn-3.cairn:2380"},
		{name: "NoName", urls: []string{"http://10.0.0.4:2380"}},
		{name: "Password", urls: []string{"http://n4:pw@10.0.0.4:2380"}},
		{name: "TwoURLs", urls: []string{"http://n4@10.0.0.4:2380", "http://n4@10.0.0.5:2380"}},
		{name: "None"},
		{name: "Path", urls: []string{"http://n4@10.0.0.4:2380/x"}},
		{name: "Scheme", urls: []string{"unix://n4@sock"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := namedPeer(tc.urls)
			if tc.wantName == "" {
				if !errors.Is(err, domain.ErrInvalidArgument) {
					t.Fatalf("namedPeer(%q) = %+v %v, want an invalid argument", tc.urls, m, err)
				}
				return
			}
			if err != nil || m.Name != tc.wantName || m.PeerURL != tc.wantURL {
				t.Fatalf("namedPeer(%q) = %+v %v, want %s at %s", tc.urls, m, err, tc.wantName, tc.wantURL)
			}
		})
	}
}
