package freeport

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

func TestGetGivesDistinctBindablePortsBelowTheEphemeralRange(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		p, err := Get()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if p >= ephemeralLow() || p < lowest {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, ephemeralLow())
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d not bindable: %v", p, err)
		}
		_ = ln.Close()
	}
}

// The reservation holds across processes: a child process cannot take a port
// this process holds.
func TestReservationExcludesOtherProcesses(t *testing.T) {
	if os.Getenv("FREEPORT_CHILD") != "" {
		p, _ := strconv.Atoi(os.Getenv("FREEPORT_CHILD"))
		if _, ok := reserve(os.Getenv("FREEPORT_DIR"), p); ok {
			os.Exit(3)
		}
		os.Exit(0)
	}
	dir := t.TempDir()
	f, ok := reserve(dir, 12345)
	if !ok {
		t.Fatal("first reservation failed")
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReservationExcludesOtherProcesses$")
	cmd.Env = append(os.Environ(), "FREEPORT_CHILD=12345", "FREEPORT_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child took a port held by its parent (%v): %s", err, out)
	}
	_ = f.Close()
	// Released with the file: the next taker gets it.
	g, ok := reserve(dir, 12345)
	if !ok {
		t.Fatal("port not free after release")
	}
	_ = g.Close()
}
