package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cairnkv/cairn/internal/app"
	"github.com/cairnkv/cairn/internal/snapfile"
)

func (c *cli) snapshotCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:   "snapshot",
		Short: "Manages snapshots of the store (backups)",
		Long: `Snapshots: a consistent copy of a member's whole store at one revision, with
a SHA-256 trailer. save takes one from a member while it serves; status
checks a file; restore writes, offline, the data dir of a member of a new
cluster from one (the code of the server's "cairn snapshot restore").`,
	}, c.snapshotSaveCommand(), c.snapshotStatusCommand(), c.snapshotRestoreCommand())
}

func (c *cli) snapshotSaveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "save <filename>",
		Short: "Saves a snapshot of a member's store to <filename>",
		Long: `Saves a snapshot of the store of a member of --endpoints (any member: it
answers from its own store) to <filename>. The file is written as
<filename>.part, checked (format, length, SHA-256) as it arrives, synced,
then renamed: <filename> is whole or absent. With auth on it needs the
root role.`,
		Example: "  cairnctl snapshot save backup.snap",
		Args:    exactArgs(1, "a file name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			cl, err := c.client()
			if err != nil {
				return err
			}
			part := path + ".part"
			f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			rev, err := cl.Snapshot(cmd.Context(), f)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(part, path)
			}
			if err != nil {
				os.Remove(part)
				return fmt.Errorf("snapshot save: %w", err)
			}
			if d, err := os.Open(filepath.Dir(path)); err == nil {
				d.Sync()
				d.Close()
			}
			return c.p.print(snapshotSaveOutput{path, rev})
		},
	}
}

type snapshotSaveOutput struct {
	path string
	rev  int64
}

func (o snapshotSaveOutput) simple(w io.Writer) { fmt.Fprintf(w, "Snapshot saved at %s\n", o.path) }

func (o snapshotSaveOutput) json() any {
	return struct {
		Path     string `json:"path"`
		Revision int64  `json:"revision"`
	}{o.path, o.rev}
}

func (c *cli) snapshotStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status <filename>",
		Short: "Checks a snapshot file and prints what it holds",
		Long: `Reads the snapshot file, checks its format, length and SHA-256, and prints
its hash (the SHA-256 of the file without its trailer), the store revision
it is at, the size of the store, and the format version. A damaged,
truncated or foreign file is an error.`,
		Example: "  cairnctl snapshot status backup.snap -w table",
		Args:    exactArgs(1, "a file name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			h, sum, err := snapfile.Verify(f)
			if err != nil {
				return fmt.Errorf("snapshot status: %s: %w", args[0], err)
			}
			return c.p.print(snapshotStatusOutput{h, sum})
		},
	}
}

type snapshotStatusOutput struct {
	h   snapfile.Header
	sum []byte
}

func (o snapshotStatusOutput) table() ([]string, [][]string) {
	return []string{"HASH", "REVISION", "TOTAL SIZE", "VERSION"}, [][]string{{
		hex.EncodeToString(o.sum), strconv.FormatInt(o.h.Revision, 10), humanBytes(o.h.Size),
		strconv.FormatUint(uint64(o.h.Version), 10),
	}}
}

func (o snapshotStatusOutput) simple(w io.Writer) {
	_, rows := o.table()
	writeRows(w, rows)
}

func (o snapshotStatusOutput) json() any {
	return struct {
		Hash      string `json:"hash"`
		Revision  int64  `json:"revision"`
		TotalSize int64  `json:"total_size"`
		Version   uint32 `json:"version"`
	}{hex.EncodeToString(o.sum), o.h.Revision, o.h.Size, o.h.Version}
}

func (c *cli) snapshotRestoreCommand() *cobra.Command {
	var name, dataDir, cluster, advertise string
	cmd := &cobra.Command{
		Use:   "restore <filename> [options]",
		Short: "Writes the data dir of a member of a new cluster from a snapshot",
		Long: `Writes, offline, the data dir of one member of a NEW cluster from a snapshot
file (snapshot save): the same code as the server's "cairn snapshot
restore". Run it once per member, each time with the same file and the
same --initial-cluster, then start each member with its --name, --data-dir
and listen flags only, like a restart. The file is checked first; a data
dir that exists and is not empty is refused, and a failure leaves none.`,
		Example: `  NEW=r1=http://10.0.0.1:2380,r2=http://10.0.0.2:2380,r3=http://10.0.0.3:2380
  cairnctl snapshot restore backup.snap --name r1 --data-dir r1.cairn \
    --initial-cluster $NEW --initial-advertise-peer-urls http://10.0.0.1:2380`,
		Args: exactArgs(1, "a snapshot file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := app.NewRestoreConfig(name, dataDir, cluster, advertise)
			if err != nil {
				return usageError{err}
			}
			res, err := app.Restore(args[0], cfg)
			if err != nil {
				return err
			}
			return c.p.print(restoreOutput{cfg, res})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "default", "the name of the member whose data dir this writes; one of --initial-cluster")
	fs.StringVar(&dataDir, "data-dir", "", "the directory to write (default ./<name>.cairn); it must not exist, or be empty")
	fs.StringVar(&cluster, "initial-cluster", "", "the new cluster, name=url,... (default this member alone)")
	fs.StringVar(&advertise, "initial-advertise-peer-urls", "http://127.0.0.1:2380", "this member's peer URL, as in --initial-cluster")
	return cmd
}

type restoreOutput struct {
	cfg app.RestoreConfig
	res app.RestoreResult
}

func (o restoreOutput) simple(w io.Writer) { app.PrintRestored(w, o.cfg, o.res) }

func (o restoreOutput) json() any {
	return struct {
		DataDir   string `json:"data_dir"`
		Name      string `json:"name"`
		Revision  int64  `json:"revision"`
		ClusterID uint64 `json:"cluster_id"`
		DBSize    int64  `json:"db_size"`
	}{o.res.DataDir, o.cfg.Name, o.res.Revision, o.res.ClusterID, o.res.DBSize}
}
