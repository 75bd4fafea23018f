package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cairnkv/cairn/client"
)

const watchLong = `Prints the changes of the key, of the keys in [<key>, <range_end>), or with
--prefix of every key that starts with <key>, as they happen, until
interrupted. -w simple prints each event as etcdctl does: PUT or DELETE,
then (with --prev-kv) the key and value before, then the key and value.
-w json prints one JSON line per revision.

After '--', a command runs once per event, its output passed through,
with the event in its environment:

  CAIRN_WATCH_EVENT_TYPE  PUT or DELETE
  CAIRN_WATCH_KEY         the key, as it is
  CAIRN_WATCH_VALUE       the value, as it is (for a key or a value that
                          holds a NUL byte: CAIRN_WATCH_KEY_BASE64 or
                          CAIRN_WATCH_VALUE_BASE64 instead)
  CAIRN_WATCH_REVISION    the revision of the event

and etcdctl's ETCD_WATCH_EVENT_TYPE, ETCD_WATCH_KEY, ETCD_WATCH_VALUE and
ETCD_WATCH_REVISION, quoted as etcdctl quotes them ("PUT", "foo"), for
scripts written for etcdctl. A command that fails ends the watch (exit 1).

The watch resumes by itself on another member when one fails, without
losing or repeating an event; it ends (exit 1) when the history it needs
was compacted.`

func (c *cli) watchCommand() *cobra.Command {
	var prefix, prevKV, progress bool
	var rev int64
	cmd := &cobra.Command{
		Use:   "watch [options] <key> [<range_end>] [-- <command> [args...]]",
		Short: "Watches the changes of a key or a range of keys",
		Long:  watchLong,
		Example: `  cairnctl watch foo
  cairnctl watch --prefix config/ --prev-kv
  cairnctl watch --rev 5 foo
  cairnctl watch --prefix services/api/ -- sh -c 'echo "$CAIRN_WATCH_EVENT_TYPE $CAIRN_WATCH_KEY"'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var command []string
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				args, command = args[:dash], args[dash:]
				if len(command) == 0 {
					return badArgs("watch: no command after --")
				}
			}
			key, opts, err := rangeOpts("watch", args, prefix, false)
			if err != nil {
				return err
			}
			if rev != 0 {
				opts = append(opts, client.WithRev(rev))
			}
			if prevKV {
				opts = append(opts, client.WithPrevKV())
			}
			if progress {
				opts = append(opts, client.WithProgressNotify())
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			for wr := range cl.Watch(ctx, key, opts...) {
				if wr.Err != nil {
					return fmt.Errorf("watch ended: %w", wr.Err)
				}
				if wr.IsProgressNotify() {
					if c.p.format != formatJSON {
						fmt.Fprintf(c.out, "progress notify: %d\n", wr.Header.Revision)
						continue
					}
				}
				if err := c.p.print(watchOutput{wr}); err != nil {
					return err
				}
				for _, ev := range wr.Events {
					if err := c.runForEvent(ctx, command, wr.Header.Revision, ev); err != nil {
						return err
					}
				}
			}
			return nil // interrupted
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&prefix, "prefix", false, "watch the keys that start with <key>")
	fs.Int64Var(&rev, "rev", 0, "start at this revision (0: the changes after now)")
	fs.BoolVar(&prevKV, "prev-kv", false, "print the key-value as it was before each change")
	fs.BoolVar(&progress, "progress-notify", false, "print the revision reached when nothing changes for a while")
	return cmd
}

// runForEvent runs command, if any, with ev in its environment.
func (c *cli) runForEvent(ctx context.Context, command []string, rev int64, ev *client.Event) error {
	if len(command) == 0 {
		return nil
	}
	env := os.Environ()
	set := func(name string, b []byte) {
		if bytes.IndexByte(b, 0) >= 0 { // no NUL in an environment
			env = append(env, name+"_BASE64="+base64.StdEncoding.EncodeToString(b))
			return
		}
		env = append(env, name+"="+string(b))
	}
	env = append(env, "CAIRN_WATCH_EVENT_TYPE="+string(ev.Type), "CAIRN_WATCH_REVISION="+strconv.FormatInt(rev, 10))
	set("CAIRN_WATCH_KEY", ev.Kv.Key)
	set("CAIRN_WATCH_VALUE", ev.Kv.Value)
	env = append(env,
		"ETCD_WATCH_REVISION="+strconv.FormatInt(rev, 10),
		fmt.Sprintf("ETCD_WATCH_EVENT_TYPE=%q", ev.Type),
		fmt.Sprintf("ETCD_WATCH_KEY=%q", ev.Kv.Key),
		fmt.Sprintf("ETCD_WATCH_VALUE=%q", ev.Kv.Value))
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, c.out, c.err
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil // interrupted with the command
		}
		return fmt.Errorf("watch: the command %q failed: %w", command, err)
	}
	return nil
}

type watchOutput struct{ wr client.WatchResponse }

func (o watchOutput) simple(w io.Writer) {
	for _, ev := range o.wr.Events {
		fmt.Fprintln(w, ev.Type)
		if ev.PrevKv != nil {
			writeKV(w, ev.PrevKv, kvBoth)
		}
		writeKV(w, ev.Kv, kvBoth)
	}
}

type eventJSON struct {
	Type   string  `json:"type"`
	Kv     *kvJSON `json:"kv"`
	PrevKv *kvJSON `json:"prev_kv,omitempty"`
}

func (o watchOutput) json() any {
	evs := make([]eventJSON, 0, len(o.wr.Events))
	for _, ev := range o.wr.Events {
		evs = append(evs, eventJSON{Type: string(ev.Type), Kv: toKVJSON(ev.Kv), PrevKv: toKVJSON(ev.PrevKv)})
	}
	return struct {
		Header   headerJSON  `json:"header"`
		Events   []eventJSON `json:"events"`
		Progress bool        `json:"progress,omitempty"`
	}{toHeaderJSON(o.wr.Header), evs, o.wr.IsProgressNotify()}
}
