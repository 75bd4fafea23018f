package app

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayers checks the dependency direction of the hexagonal layout:
// the domain depends on the standard library and ports only, adapters never
// import each other, and only app brings concrete types together.
func TestLayers(t *testing.T) {
	t.Parallel()
	const mod = "github.com/cairnkv/cairn/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	isStd := func(p string) bool { return !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") }
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, imports := strings.TrimPrefix(fields[0], mod), fields[1:]
		for _, imp := range imports {
			local := strings.TrimPrefix(imp, mod)
			own := local != imp
			var bad bool
			switch {
			case pkg == "internal/domain":
				bad = !isStd(imp)
			case strings.HasPrefix(pkg, "internal/domain/"):
				bad = !isStd(imp) && !(own && (strings.HasPrefix(local, "internal/domain") || local == "internal/ports"))
				// Test-support packages (domaintest) build worlds of fakes.
				if strings.HasSuffix(pkg, "test") && local == "internal/ports/portstest" {
					bad = false
				}
			case pkg == "internal/ports":
				bad = !isStd(imp) && local != "internal/domain"
			case strings.HasPrefix(pkg, "internal/adapters/"):
				self := strings.SplitN(strings.TrimPrefix(pkg, "internal/adapters/"), "/", 2)[0]
				bad = own && strings.HasPrefix(local, "internal/adapters/") &&
					!strings.HasPrefix(local, "internal/adapters/"+self)
				bad = bad || (own && local == "internal/app")
			case pkg == "cmd/server":
				bad = own && local != "internal/app"
			}
			if bad {
				t.Errorf("%s must not import %s", pkg, imp)
			}
		}
	}
}
