package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cairnkv/cairn/client"
)

// put, get, del and compaction. The flags of put, get and del are also
// those of the ops of txn.

type putFlags struct {
	lease                    string
	prevKV                   bool
	ignoreValue, ignoreLease bool
}

func (f *putFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.lease, "lease", "0", "attach the key to this lease (its ID in hexadecimal)")
	fs.BoolVar(&f.prevKV, "prev-kv", false, "print the key-value as it was before")
	fs.BoolVar(&f.ignoreValue, "ignore-value", false, "keep the key's current value (change its lease only)")
	fs.BoolVar(&f.ignoreLease, "ignore-lease", false, "keep the key's current lease (change its value only)")
}

// op returns the key, the value and the options of a put; stdin, when not
// nil, gives the value when args has none.
func (f *putFlags) op(args []string, stdin io.Reader) (key, val string, opts []client.OpOption, err error) {
	switch {
	case len(args) == 0 || len(args) > 2:
		return "", "", nil, badArgs("put needs a key and a value (or the value on stdin)")
	case f.ignoreValue && len(args) > 1:
		return "", "", nil, badArgs("put needs the key alone with --ignore-value")
	case !f.ignoreValue && len(args) == 1 && stdin == nil:
		return "", "", nil, badArgs("put needs a key and a value")
	}
	key = args[0]
	switch {
	case f.ignoreValue:
	case len(args) == 2:
		val = args[1]
	default:
		b, err := io.ReadAll(stdin)
		if err != nil {
			return "", "", nil, fmt.Errorf("reading the value from stdin: %w", err)
		}
		val = string(b)
	}
	id, err := parseLeaseID(f.lease)
	if err != nil {
		return "", "", nil, err
	}
	if id != 0 {
		opts = append(opts, client.WithLease(id))
	}
	if f.prevKV {
		opts = append(opts, client.WithPrevKV())
	}
	if f.ignoreValue {
		opts = append(opts, client.WithIgnoreValue())
	}
	if f.ignoreLease {
		opts = append(opts, client.WithIgnoreLease())
	}
	return key, val, opts, nil
}

func (c *cli) putCommand() *cobra.Command {
	var f putFlags
	cmd := &cobra.Command{
		Use:   "put [options] <key> [<value>]",
		Short: "Puts the given key into the store",
		Long: `Puts the given key into the store. Without <value> (and without
--ignore-value) the value is read from stdin, all of it, as it is.

A value that begins with '-' comes after '--': put -- <key> <value>.`,
		Example: `  cairnctl put foo bar
  cairnctl put --lease=694d5765fc71500b services/api/10.0.0.7 10.0.0.7:8080
  cairnctl put config/db/url --prev-kv postgres://db:5432
  cat config.json | cairnctl put config/app
  cairnctl put --ignore-value --lease=694d5765fc71500b foo`,
		Args: rangeArgs(1, 2, "a key and a value (or the value on stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, val, opts, err := f.op(args, c.in)
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.Put(cmd.Context(), key, val, opts...)
			if err != nil {
				return err
			}
			return c.p.print(putOutput{resp})
		},
	}
	f.register(cmd.Flags())
	return cmd
}

type putOutput struct{ r *client.PutResponse }

func (o putOutput) simple(w io.Writer) {
	fmt.Fprintln(w, "OK")
	if o.r.PrevKv != nil {
		writeKV(w, o.r.PrevKv, kvBoth)
	}
}

func (o putOutput) json() any {
	return struct {
		Header headerJSON `json:"header"`
		PrevKv *kvJSON    `json:"prev_kv,omitempty"`
	}{toHeaderJSON(o.r.Header), toKVJSON(o.r.PrevKv)}
}

type getFlags struct {
	prefix, fromKey                      bool
	limit, rev                           int64
	sortBy, order                        string
	keysOnly, countOnly, printValueOnly  bool
	consistency                          string
	minMod, maxMod, minCreate, maxCreate int64
}

func (f *getFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.prefix, "prefix", false, "get the keys that start with <key>")
	fs.BoolVar(&f.fromKey, "from-key", false, "get the keys greater than or equal to <key>")
	fs.Int64Var(&f.limit, "limit", 0, "the most keys to get (0: all)")
	fs.Int64Var(&f.rev, "rev", 0, "read the store as it was at this revision (0: now)")
	fs.StringVar(&f.sortBy, "sort-by", "", "sort by CREATE, KEY, MODIFY, VALUE or VERSION")
	fs.StringVar(&f.order, "order", "", "the order of --sort-by: ASCEND or DESCEND")
	fs.BoolVar(&f.keysOnly, "keys-only", false, "get the keys without their values")
	fs.BoolVar(&f.countOnly, "count-only", false, "get the number of keys only")
	fs.BoolVar(&f.printValueOnly, "print-value-only", false, "print the values only (-w simple)")
	fs.StringVar(&f.consistency, "consistency", "l", "l: linearizable (up to date), s: serializable (this member's state)")
	fs.Int64Var(&f.minMod, "min-mod-rev", 0, "only the keys modified at or after this revision")
	fs.Int64Var(&f.maxMod, "max-mod-rev", 0, "only the keys modified at or before this revision")
	fs.Int64Var(&f.minCreate, "min-create-rev", 0, "only the keys created at or after this revision")
	fs.Int64Var(&f.maxCreate, "max-create-rev", 0, "only the keys created at or before this revision")
}

// rangeOpts returns the range form of a get or a del: <key> alone, a
// [<key>, <range_end>) range, --prefix or --from-key.
func rangeOpts(verb string, args []string, prefix, fromKey bool) (string, []client.OpOption, error) {
	if len(args) == 0 || len(args) > 2 {
		return "", nil, badArgs("%s needs a key, and optionally a range end", verb)
	}
	var opts []client.OpOption
	switch {
	case prefix && fromKey:
		return "", nil, badArgs("%s: --prefix and --from-key exclude each other", verb)
	case len(args) == 2 && (prefix || fromKey):
		return "", nil, badArgs("%s: a range end excludes --prefix and --from-key", verb)
	case len(args) == 2:
		opts = append(opts, client.WithRange(args[1]))
	case prefix:
		opts = append(opts, client.WithPrefix())
	case fromKey:
		opts = append(opts, client.WithFromKey())
	}
	return args[0], opts, nil
}

// op returns the key and the options of a get.
func (f *getFlags) op(args []string) (string, []client.OpOption, error) {
	key, opts, err := rangeOpts("get", args, f.prefix, f.fromKey)
	if err != nil {
		return "", nil, err
	}
	if f.keysOnly && f.printValueOnly {
		return "", nil, badArgs("get: --keys-only and --print-value-only exclude each other")
	}
	target := map[string]client.SortTarget{"": "", "CREATE": client.SortByCreateRevision, "KEY": client.SortByKey,
		"MODIFY": client.SortByModRevision, "VALUE": client.SortByValue, "VERSION": client.SortByVersion}
	order := map[string]client.SortOrder{"": client.SortNone, "ASCEND": client.SortAscend, "DESCEND": client.SortDescend}
	t, ok := target[strings.ToUpper(f.sortBy)]
	if !ok {
		return "", nil, badArgs("get: --sort-by %q: want CREATE, KEY, MODIFY, VALUE or VERSION", f.sortBy)
	}
	o, ok := order[strings.ToUpper(f.order)]
	if !ok {
		return "", nil, badArgs("get: --order %q: want ASCEND or DESCEND", f.order)
	}
	if t != "" || o != client.SortNone {
		if t == "" {
			t = client.SortByKey
		}
		if o == client.SortNone {
			o = client.SortAscend
		}
		opts = append(opts, client.WithSort(t, o))
	}
	switch f.consistency {
	case "l":
	case "s":
		opts = append(opts, client.WithSerializable())
	default:
		return "", nil, badArgs("get: --consistency %q: want l (linearizable) or s (serializable)", f.consistency)
	}
	for _, o := range []struct {
		on  bool
		opt client.OpOption
	}{
		{f.limit != 0, client.WithLimit(f.limit)}, {f.rev != 0, client.WithRev(f.rev)},
		{f.keysOnly, client.WithKeysOnly()}, {f.countOnly, client.WithCountOnly()},
		{f.minMod != 0, client.WithMinModRev(f.minMod)}, {f.maxMod != 0, client.WithMaxModRev(f.maxMod)},
		{f.minCreate != 0, client.WithMinCreateRev(f.minCreate)}, {f.maxCreate != 0, client.WithMaxCreateRev(f.maxCreate)},
	} {
		if o.on {
			opts = append(opts, o.opt)
		}
	}
	return key, opts, nil
}

func (c *cli) getCommand() *cobra.Command {
	var f getFlags
	cmd := &cobra.Command{
		Use:   "get [options] <key> [<range_end>]",
		Short: "Gets the key or a range of keys",
		Long: `Gets the key, or the keys in [<key>, <range_end>), or with --prefix every key
that starts with <key>, or with --from-key every key from <key> on.

-w simple prints each key on a line, then its value on the next. A key
that does not exist prints nothing.`,
		Example: `  cairnctl get foo
  cairnctl get --prefix config/
  cairnctl get a m                      # the keys in [a, m)
  cairnctl get --from-key m --limit 10
  cairnctl get --prefix '' --keys-only  # every key
  cairnctl get --prefix config/ --sort-by=MODIFY --order=DESCEND
  cairnctl get --prefix config/ --count-only
  cairnctl get foo --rev=2 --print-value-only
  cairnctl get foo --consistency=s      # this member's state, without the leader`,
		Args: rangeArgs(1, 2, "a key, and optionally a range end"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, opts, err := f.op(args)
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.Get(cmd.Context(), key, opts...)
			var e *client.Error
			if errors.Is(err, client.ErrKeyNotFound) && errors.As(err, &e) {
				// As etcdctl: a key that does not exist is an empty answer.
				resp, err = &client.GetResponse{Header: e.Header}, nil
			}
			if err != nil {
				return err
			}
			return c.p.print(getOutput{r: resp, f: &f})
		},
	}
	f.register(cmd.Flags())
	return cmd
}

type getOutput struct {
	r *client.GetResponse
	f *getFlags // nil: a get of a txn
}

func (o getOutput) simple(w io.Writer) {
	mode := kvBoth
	if o.f != nil {
		switch {
		case o.f.countOnly:
			fmt.Fprintln(w, o.r.Count)
			return
		case o.f.keysOnly:
			mode = kvKeysOnly
		case o.f.printValueOnly:
			mode = kvValueOnly
		}
	}
	for _, kv := range o.r.Kvs {
		writeKV(w, kv, mode)
	}
}

func (o getOutput) json() any { return rangeJSON(o.r) }

func rangeJSON(r *client.GetResponse) any {
	return struct {
		Header headerJSON `json:"header"`
		Kvs    []*kvJSON  `json:"kvs"`
		Count  int64      `json:"count"`
		More   bool       `json:"more"`
	}{toHeaderJSON(r.Header), toKVsJSON(r.Kvs), r.Count, r.More}
}

type delFlags struct {
	prefix, fromKey, prevKV bool
}

func (f *delFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.prefix, "prefix", false, "delete the keys that start with <key>")
	fs.BoolVar(&f.fromKey, "from-key", false, "delete the keys greater than or equal to <key>")
	fs.BoolVar(&f.prevKV, "prev-kv", false, "print the deleted key-values")
}

func (f *delFlags) op(args []string) (string, []client.OpOption, error) {
	key, opts, err := rangeOpts("del", args, f.prefix, f.fromKey)
	if err != nil {
		return "", nil, err
	}
	if f.prevKV {
		opts = append(opts, client.WithPrevKV())
	}
	return key, opts, nil
}

func (c *cli) delCommand() *cobra.Command {
	var f delFlags
	cmd := &cobra.Command{
		Use:   "del [options] <key> [<range_end>]",
		Short: "Removes the key or a range of keys",
		Long: `Removes the key, or the keys in [<key>, <range_end>), or with --prefix every
key that starts with <key>, or with --from-key every key from <key> on, in
one revision. -w simple prints how many keys were deleted.`,
		Example: `  cairnctl del foo
  cairnctl del --prefix --prev-kv config/
  cairnctl del a m`,
		Args: rangeArgs(1, 2, "a key, and optionally a range end"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, opts, err := f.op(args)
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.Delete(cmd.Context(), key, opts...)
			if err != nil {
				return err
			}
			return c.p.print(delOutput{resp})
		},
	}
	f.register(cmd.Flags())
	return cmd
}

type delOutput struct{ r *client.DeleteResponse }

func (o delOutput) simple(w io.Writer) {
	fmt.Fprintln(w, o.r.Deleted)
	for _, kv := range o.r.PrevKvs {
		writeKV(w, kv, kvBoth)
	}
}

func (o delOutput) json() any {
	return struct {
		Header  headerJSON `json:"header"`
		Deleted int64      `json:"deleted"`
		PrevKvs []*kvJSON  `json:"prev_kvs,omitempty"`
	}{toHeaderJSON(o.r.Header), o.r.Deleted, toKVsJSON(o.r.PrevKvs)}
}

func (c *cli) compactionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "compaction <revision>",
		Short: "Compacts the history of the store",
		Long: `Drops the history below <revision>: reads of older revisions, and watches
that start before it, then fail with "compacted". With auth on it needs
the root role.`,
		Example: `  cairnctl compaction 1234`,
		Args:    exactArgs(1, "a revision"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rev, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || rev <= 0 {
				return badArgs("compaction: %q is not a revision", args[0])
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.Compact(cmd.Context(), rev)
			if err != nil {
				return err
			}
			return c.p.print(compactOutput{rev: rev, r: resp})
		},
	}
}

type compactOutput struct {
	rev int64
	r   *client.CompactResponse
}

func (o compactOutput) simple(w io.Writer) { fmt.Fprintf(w, "compacted revision %d\n", o.rev) }

func (o compactOutput) json() any {
	return struct {
		Header   headerJSON `json:"header"`
		Revision int64      `json:"revision"`
	}{toHeaderJSON(o.r.Header), o.rev}
}

// parseLeaseID reads a lease ID in hexadecimal, as etcdctl prints it.
func parseLeaseID(s string) (client.LeaseID, error) {
	id, err := strconv.ParseInt(s, 16, 64)
	if err != nil || id < 0 {
		return 0, badArgs("bad lease ID %q: want its ID in hexadecimal, as lease grant prints it", s)
	}
	return client.LeaseID(id), nil
}
