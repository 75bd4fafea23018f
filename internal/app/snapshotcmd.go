package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

const snapshotUsage = `Usage: cairn snapshot restore FILE [flags]

Writes, offline, the data dir of one member of a NEW cluster from FILE, a
snapshot taken with GET /v1/maintenance/snapshot (on any member):

  curl -o backup.snap http://HOST:2379/v1/maintenance/snapshot

Run it once per member of the new cluster, each time with the same FILE and
the same --initial-cluster (the new cluster's ID is derived from both), then
start each member with its --name, --data-dir and listen flags only (its
--listen-peer-urls the URL it has in --initial-cluster), like a restart. The
new cluster holds every key and revision of the snapshot, its leases and its
users and roles; its members are those of --initial-cluster.

Example, the first of three members:

  cairn snapshot restore backup.snap --name r1 --data-dir r1.cairn \
    --initial-cluster r1=http://10.0.0.1:2380,r2=http://10.0.0.2:2380,r3=http://10.0.0.3:2380 \
    --initial-advertise-peer-urls http://10.0.0.1:2380
  cairn --name r1 --data-dir r1.cairn \
    --listen-peer-urls http://10.0.0.1:2380 --listen-client-urls http://10.0.0.1:2379

FILE is checked first (format, version, length, SHA-256): a damaged,
truncated or foreign file is refused. So is a --data-dir that exists and is
not empty. Everything is written into a temporary directory next to
--data-dir and renamed into place once complete: a failure leaves no data
dir behind.

Flags (also accepted before FILE):
`

// SnapshotCommand runs "cairn snapshot ..."; args are those after
// "snapshot". Only "restore" exists. -h prints the usage to stdout;
// results go to stdout, flag errors and usage to stderr.
func SnapshotCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "restore" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, "Usage: cairn snapshot restore FILE [flags]  (cairn snapshot restore -h for more)\n")
			return nil
		}
		fmt.Fprint(stderr, "Usage: cairn snapshot restore FILE [flags]  (cairn snapshot restore -h for more)\n")
		if len(args) == 0 {
			return errors.New("snapshot: missing subcommand")
		}
		return fmt.Errorf("snapshot: unknown subcommand %q", args[0])
	}
	cfg, file, err := parseRestoreFlags(args[1:], stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	res, err := Restore(file, cfg)
	if err != nil {
		return err
	}
	PrintRestored(stdout, cfg, res)
	return nil
}

// PrintRestored writes what a restore did and how to start the member,
// as `cairn snapshot restore` (and cairnctl's) prints it.
func PrintRestored(w io.Writer, cfg RestoreConfig, res RestoreResult) {
	fmt.Fprintf(w, "restored revision %d (%d bytes of store) into %s: member %s of a new cluster, id %d\n",
		res.Revision, res.DBSize, res.DataDir, cfg.Name, res.ClusterID)
	fmt.Fprintf(w, "start it with: cairn --name %s --data-dir %s --listen-peer-urls %s --listen-client-urls ...\n",
		cfg.Name, res.DataDir, cfg.InitialAdvertisePeerURL)
}

// parseRestoreFlags reads the flags of "snapshot restore" and its one
// argument, the file, which may come before, between or after the flags.
func parseRestoreFlags(args []string, stdout, stderr io.Writer) (RestoreConfig, string, error) {
	var name, dataDir, cluster, advertise string
	fs := flag.NewFlagSet("cairn snapshot restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&name, "name", "default", "the `name` of the member whose data dir this writes; one of --initial-cluster")
	fs.StringVar(&dataDir, "data-dir", "", "the `dir`ectory to write (default ./<name>.cairn); it must not exist, or be empty")
	fs.StringVar(&cluster, "initial-cluster", "", "the new cluster, `name=url,...` (e.g. n1=http://10.0.0.1:2380,n2=...), the same for every member (default this member alone)")
	fs.StringVar(&advertise, "initial-advertise-peer-urls", "http://127.0.0.1:2380", "this member's peer `url`, as in --initial-cluster")
	help := false // -h asked for the usage: to stdout
	for _, a := range args {
		switch a {
		case "-h", "-help", "--h", "--help":
			help = true
		}
	}
	fs.Usage = func() {
		out := stderr
		if help {
			out = stdout
		}
		fmt.Fprint(out, snapshotUsage)
		fs.SetOutput(out)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	var files []string
	for {
		err := fs.Parse(args)
		if err != nil { // the usage is printed
			return RestoreConfig{}, "", err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(files) {
	case 0:
		return RestoreConfig{}, "", errors.New("snapshot restore: which snapshot file? (cairn snapshot restore FILE --data-dir DIR ...; -h for more)")
	case 1:
	default:
		return RestoreConfig{}, "", fmt.Errorf("snapshot restore: one snapshot file, not %d (%s)", len(files), strings.Join(files, " "))
	}
	cfg, err := NewRestoreConfig(name, dataDir, cluster, advertise)
	return cfg, files[0], err
}

// NewRestoreConfig returns the configuration of a restore from the values
// of its flags, as `cairn snapshot restore` reads them: an empty dataDir
// is "./<name>.cairn", an empty initialCluster ("name=url,...") this
// member alone at advertisePeerURL. Restore validates the result.
func NewRestoreConfig(name, dataDir, initialCluster, advertisePeerURL string) (RestoreConfig, error) {
	cfg := RestoreConfig{Name: name, DataDir: dataDir, InitialAdvertisePeerURL: advertisePeerURL}
	if cfg.DataDir == "" {
		cfg.DataDir = "./" + cfg.Name + ".cairn"
	}
	var c Config
	if err := setInitialCluster(&c, initialCluster); err != nil {
		return cfg, fmt.Errorf("--initial-cluster: %w", err)
	}
	cfg.InitialCluster = c.InitialCluster
	if len(cfg.InitialCluster) == 0 {
		cfg.InitialCluster = []Peer{{Name: cfg.Name, URL: cfg.InitialAdvertisePeerURL}}
	}
	return cfg, nil
}
