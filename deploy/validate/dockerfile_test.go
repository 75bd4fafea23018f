package validate

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/cairnkv/cairn/internal/app"
)

var (
	dockerfile   = filepath.Join(repo, "Dockerfile")
	dockerignore = filepath.Join(repo, ".dockerignore")
)

// parseDockerfile parses the Dockerfile with BuildKit's parser into its
// build stages.
func parseDockerfile(t *testing.T) []instructions.Stage {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", dockerfile, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: %s", dockerfile, w.Short)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("%s: %v", dockerfile, err)
	}
	return stages
}

var (
	userOnce sync.Once
	user     string
)

// dockerfileUser is the USER of the image's final stage.
func dockerfileUser(t *testing.T) string {
	t.Helper()
	userOnce.Do(func() {
		stages := parseDockerfile(t)
		for _, c := range stages[len(stages)-1].Commands {
			if u, ok := c.(*instructions.UserCommand); ok {
				user, _, _ = strings.Cut(u.User, ":")
			}
		}
	})
	return user
}

// TestDockerfile checks the image's Dockerfile with BuildKit's parser: a
// static build (CGO_ENABLED=0, -trimpath) in a Go stage of go.mod's
// version, a distroless or scratch final stage that runs as a non-root
// user with the data volume, both ports, cairn as the entry point and a
// CAIRN_* environment the server accepts.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	stages := parseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	goMod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if !strings.HasPrefix(build.BaseName, "golang:") {
		t.Errorf("the build stage is FROM %s, want golang", build.BaseName)
	}
	var runs, envs []string
	goArg := ""
	for _, c := range build.Commands {
		switch c := c.(type) {
		case *instructions.RunCommand:
			runs = append(runs, strings.Join(c.CmdLine, " "))
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				envs = append(envs, kv.Key+"="+kv.Value)
			}
		}
	}
	for _, meta := range parseMetaArgs(t) {
		if meta.key == "GO_VERSION" {
			goArg = meta.value
		}
	}
	if goVersion == nil || goArg != string(goVersion[1]) {
		t.Errorf("ARG GO_VERSION=%s, go.mod says go %s", goArg, goVersion[1])
	}
	build0 := strings.Join(runs, "\n")
	for _, want := range []string{"./cmd/server", "-o /out/cairn", "cmd/cairnctl"} {
		if !strings.Contains(build0, want) {
			t.Errorf("the build stage does not %q", want)
		}
	}
	if !slices.Contains(envs, "CGO_ENABLED=0") || !slices.Contains(envs, "GOFLAGS=-trimpath") {
		t.Errorf("build environment %v, want CGO_ENABLED=0 and GOFLAGS=-trimpath", envs)
	}

	if !strings.HasPrefix(final.BaseName, "gcr.io/distroless/static") && final.BaseName != "scratch" {
		t.Errorf("the final stage is FROM %s, want distroless/static or scratch", final.BaseName)
	}
	var environ, expose, volumes, entrypoint, health []string
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				environ = append(environ, kv.Key+"="+kv.Value)
			}
		case *instructions.ExposeCommand:
			expose = append(expose, c.Ports...)
		case *instructions.VolumeCommand:
			volumes = append(volumes, c.Volumes...)
		case *instructions.EntrypointCommand:
			entrypoint = c.CmdLine
		case *instructions.HealthCheckCommand:
			health = c.Health.Test
		}
	}
	if u := dockerfileUser(t); u == "" || u == "0" || u == "root" {
		t.Errorf("USER %q: the member must not run as root", u)
	}
	if !slices.Equal(expose, []string{"2379", "2380"}) {
		t.Errorf("EXPOSE %v, want 2379 2380", expose)
	}
	if !slices.Equal(entrypoint, []string{"/usr/local/bin/cairn"}) {
		t.Errorf("ENTRYPOINT %v", entrypoint)
	}
	if !slices.Equal(health, []string{"CMD", "/usr/local/bin/cairn", "healthcheck"}) {
		t.Errorf("HEALTHCHECK %v", health)
	}
	cfg, err := app.LoadConfigTo(nil, environ, io.Discard)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatalf("the image's environment %v: %v", environ, err)
	}
	if !slices.Equal(volumes, []string{cfg.DataDir}) || cfg.DataDir != "/var/lib/cairn" {
		t.Errorf("VOLUME %v, data dir %s: want the data dir /var/lib/cairn as the volume", volumes, cfg.DataDir)
	}
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "CAIRN_") {
			t.Errorf("ENV %s: the image is configured through CAIRN_* only", kv)
		}
	}
}

type metaArg struct{ key, value string }

// parseMetaArgs returns the ARGs before the first FROM.
func parseMetaArgs(t *testing.T) []metaArg {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	_, metas, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []metaArg
	for _, m := range metas {
		for _, a := range m.Args {
			v := ""
			if a.Value != nil {
				v = *a.Value
			}
			out = append(out, metaArg{a.Key, v})
		}
	}
	return out
}

// TestDockerignore checks that .dockerignore parses and keeps what the
// build needs (go.mod, go.sum, the sources of the server and the CLI)
// while it leaves out the rest (.git, test binaries, data dirs).
func TestDockerignore(t *testing.T) {
	t.Parallel()
	f, err := os.Open(dockerignore)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	for _, keep := range []string{"go.mod", "go.sum", "cmd/server/main.go", "cmd/cairnctl/main.go", "internal/app/app.go",
		"internal/adapters/raft/node.go", "client/client.go", "api/openapi.yaml"} {
		if ex, err := pm.MatchesOrParentMatches(keep); err != nil || ex {
			t.Errorf(".dockerignore leaves out %s, which the build needs", keep)
		}
	}
	for _, drop := range []string{".git/HEAD", "app.test", "internal/app/app.test", "default.cairn/state.db", "deploy/compose.yaml", "e2e/faults_test.go"} {
		if ex, err := pm.MatchesOrParentMatches(drop); err != nil || !ex {
			t.Errorf(".dockerignore does not leave out %s", drop)
		}
	}
}
