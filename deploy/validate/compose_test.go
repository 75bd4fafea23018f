package validate

import (
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/cairnkv/cairn/internal/app"
)

var composeFile = filepath.Join(repo, "deploy/compose.yaml")

// composeService is what the test reads of a service, after the schema
// has accepted the whole file.
type composeService struct {
	Image       string            `json:"image"`
	Environment map[string]string `json:"environment"`
	Healthcheck struct {
		Test []string `json:"test"`
	} `json:"healthcheck"`
	StopGracePeriod string   `json:"stop_grace_period"`
	Ports           []string `json:"ports"`
	Volumes         []string `json:"volumes"`
}

// TestCompose validates deploy/compose.yaml against the compose
// specification's JSON schema (testdata/compose-spec.json, from
// compose-spec/compose-go), then checks that its three members find each
// other, are each configured in a way the server accepts, have a
// healthcheck on /readyz, a named volume, and time to stop gracefully.
func TestCompose(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	// YAML to JSON as compose reads it: anchors, aliases and merge keys
	// (<<) resolved.
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(js)))
	if err != nil {
		t.Fatal(err)
	}
	schema := composeSchema(t)
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("%s does not follow the compose specification:\n%v", composeFile, err)
	}

	var file struct {
		Services map[string]composeService `json:"services"`
		Volumes  map[string]any            `json:"volumes"`
	}
	if err := json.Unmarshal(js, &file); err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range file.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) != 3 {
		t.Fatalf("%d services, want 3 members", len(names))
	}
	published := map[string]string{}
	for _, n := range names {
		s := file.Services[n]
		var environ []string
		for k, v := range s.Environment {
			environ = append(environ, k+"="+v)
		}
		cfg, err := app.LoadConfigTo(nil, environ, io.Discard)
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			t.Errorf("service %s: the server refuses its configuration: %v", n, err)
			continue
		}
		if cfg.Name != n {
			t.Errorf("service %s: member name %q", n, cfg.Name)
		}
		var members []string
		for _, p := range cfg.InitialCluster {
			members = append(members, p.Name)
			if u, _ := url.Parse(p.URL); u.Hostname() != p.Name {
				t.Errorf("service %s: --initial-cluster member %s at %s: want the service name as the host", n, p.Name, p.URL)
			}
		}
		sort.Strings(members)
		if !slices.Equal(members, names) {
			t.Errorf("service %s: --initial-cluster has %v, the services are %v", n, members, names)
		}
		if u, _ := url.Parse(cfg.AdvertiseClientURLs[0]); u.Hostname() != n {
			t.Errorf("service %s: advertises %s, not its service name", n, cfg.AdvertiseClientURLs[0])
		}
		if !slices.Equal(s.Healthcheck.Test, []string{"CMD", "/usr/local/bin/cairn", "healthcheck", "http://127.0.0.1:2379/readyz"}) {
			t.Errorf("service %s: healthcheck %v, want cairn healthcheck on /readyz", n, s.Healthcheck.Test)
		}
		grace, err := time.ParseDuration(s.StopGracePeriod)
		if err != nil || grace < cfg.ShutdownTimeout+5*time.Second {
			t.Errorf("service %s: stop_grace_period %q is shorter than --shutdown-timeout (%v) and the rest of a graceful stop", n, s.StopGracePeriod, cfg.ShutdownTimeout)
		}
		volumeOK := false
		for _, v := range s.Volumes {
			src, dst, _ := strings.Cut(v, ":")
			_, named := file.Volumes[src]
			volumeOK = volumeOK || (named && dst == cfg.DataDir)
		}
		if !volumeOK {
			t.Errorf("service %s: no named volume at its data dir %s (volumes %v)", n, cfg.DataDir, s.Volumes)
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if parts[len(parts)-1] != "2379" {
				t.Errorf("service %s publishes %s: only the client port is for the host", n, p)
			}
			if other, dup := published[strings.Join(parts[:len(parts)-1], ":")]; dup {
				t.Errorf("services %s and %s publish the same host port %s", other, n, p)
			}
			published[strings.Join(parts[:len(parts)-1], ":")] = n
		}
	}
}

func composeSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/compose-spec.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("compose-spec.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("compose-spec.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestComposeSchema checks that the schema refuses what compose refuses,
// so that TestCompose's pass means something.
func TestComposeSchema(t *testing.T) {
	t.Parallel()
	schema := composeSchema(t)
	tests := []struct {
		name, yaml string
		ok         bool
	}{
		{name: "Minimal", yaml: "services:\n  a:\n    image: x\n", ok: true},
		{name: "UnknownKey", yaml: "services:\n  a:\n    image: x\n    healthcheckk: {}\n"},
		{name: "BadGracePeriod", yaml: "services:\n  a:\n    image: x\n    stop_grace_period: [30]\n"},
		{name: "BadHealthcheck", yaml: "services:\n  a:\n    image: x\n    healthcheck:\n      test: {a: b}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js, err := yaml.YAMLToJSON([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(js)))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(doc); (err == nil) != tt.ok {
				t.Fatalf("valid %v, want %v: %v", err == nil, tt.ok, err)
			}
		})
	}
}
