package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/cairnkv/cairn/client"
)

const txnLong = `Reads a transaction from stdin, in etcdctl's format, and commits it: if every
compare holds, the success requests run, else the failure requests, all in
one revision.

The input is three blocks, each ended by an empty line (or the end of the
input): the compares, the success requests, the failure requests.

A compare is TARGET("key") OP "value", where TARGET is one of value (val),
version (ver), create (c), mod (m) or lease, OP one of =, !=, <, >; a
lease is in hexadecimal. A request is a put, get or del command line, with
the flags of those commands:

  mod("key1") > "0"
  val("state") = "idle"

  put key1 "overwrote-key1"
  get --prefix config/

  put key1 "created-key1"
  del key2

Strings are quoted with "..." (Go escapes: \n, \x00, \") or '...'.
-w simple prints SUCCESS or FAILURE, then each response after an empty
line. With --interactive (the default on a terminal) each block is asked
for on stderr.`

func (c *cli) txnCommand() *cobra.Command {
	var interactive bool
	cmd := &cobra.Command{
		Use:   "txn [options]",
		Short: "Runs compares and requests in one transaction",
		Long:  txnLong,
		Example: `  cairnctl txn -i
  printf 'val("counter") = "1"\n\nput counter 2\n\nget counter\n' | cairnctl txn
  cairnctl txn --interactive=false < txn.txt`,
		Args: exactArgs(0, "no arguments: the transaction is read from stdin"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("interactive") {
				f, ok := c.in.(*os.File)
				interactive = ok && term.IsTerminal(int(f.Fd()))
			}
			r := bufio.NewReader(c.in)
			prompt := func(s string) {
				if interactive {
					fmt.Fprintln(c.err, s)
				}
			}
			prompt("compares:")
			cmps, err := readBlock(r, parseCompare)
			if err != nil {
				return err
			}
			prompt("success requests (get, put, del):")
			thenOps, err := readBlock(r, parseTxnOp)
			if err != nil {
				return err
			}
			prompt("failure requests (get, put, del):")
			elseOps, err := readBlock(r, parseTxnOp)
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.Txn(cmd.Context()).If(cmps...).Then(thenOps...).Else(elseOps...).Commit()
			if err != nil {
				return err
			}
			return c.p.print(txnOutput{resp})
		},
	}
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "ask for each block on stderr (default: when stdin is a terminal)")
	return cmd
}

// inputError is a line of a transaction that cannot be read.
type inputError struct {
	line string
	err  error
}

func (e *inputError) Error() string { return fmt.Sprintf("txn: %q: %v", e.line, e.err) }
func (e *inputError) Unwrap() error { return e.err }

// readBlock reads lines until an empty one or the end of the input, and
// parses each.
func readBlock[T any](r *bufio.Reader, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for {
		line, err := r.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("txn: reading stdin: %w", err)
		}
		text := strings.TrimSpace(line)
		if text == "" {
			return out, nil
		}
		v, perr := parse(text)
		if perr != nil {
			return nil, argError{&inputError{line: text, err: perr}}
		}
		out = append(out, v)
		if err != nil { // the end of the input, after a last line
			return out, nil
		}
	}
}

// parseCompare reads TARGET("key") OP "value".
func parseCompare(line string) (client.Cmp, error) {
	target, rest, ok := strings.Cut(line, "(")
	if !ok {
		return client.Cmp{}, errors.New(`want TARGET("key") OP "value"`)
	}
	words, err := argify(rest)
	if err != nil {
		return client.Cmp{}, err
	}
	// words: "key" ")" OP "value", or the key with the parenthesis stuck
	// to it when it is not quoted.
	if len(words) == 3 && strings.HasSuffix(words[0], ")") {
		words = []string{strings.TrimSuffix(words[0], ")"), ")", words[1], words[2]}
	}
	if len(words) != 4 || words[1] != ")" {
		return client.Cmp{}, errors.New(`want TARGET("key") OP "value"`)
	}
	key, op, val := words[0], words[2], words[3]
	switch op {
	case "=", "!=", "<", ">":
	default:
		return client.Cmp{}, fmt.Errorf("unknown comparison %q: want =, !=, < or >", op)
	}
	number := func(base int) (int64, error) {
		n, err := strconv.ParseInt(val, base, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", val)
		}
		return n, nil
	}
	switch strings.TrimSpace(target) {
	case "value", "val":
		return client.Compare(client.Value(key), op, val), nil
	case "version", "ver":
		n, err := number(10)
		return client.Compare(client.Version(key), op, n), err
	case "create", "c":
		n, err := number(10)
		return client.Compare(client.CreateRevision(key), op, n), err
	case "mod", "m":
		n, err := number(10)
		return client.Compare(client.ModRevision(key), op, n), err
	case "lease":
		n, err := number(16)
		return client.Compare(client.LeaseCmp(key), op, n), err
	}
	return client.Cmp{}, fmt.Errorf("unknown target %q: want value, version, create, mod or lease", target)
}

// parseTxnOp reads a put, get or del command line, with their flags.
func parseTxnOp(line string) (client.Op, error) {
	words, err := argify(line)
	if err != nil {
		return client.Op{}, err
	}
	fs := pflag.NewFlagSet(words[0], pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	switch words[0] {
	case "put":
		var f putFlags
		f.register(fs)
		if err := fs.Parse(words[1:]); err != nil {
			return client.Op{}, err
		}
		key, val, opts, err := f.op(fs.Args(), nil)
		return client.OpPut(key, val, opts...), err
	case "get":
		var f getFlags
		f.register(fs)
		if err := fs.Parse(words[1:]); err != nil {
			return client.Op{}, err
		}
		key, opts, err := f.op(fs.Args())
		return client.OpGet(key, opts...), err
	case "del", "delete":
		var f delFlags
		f.register(fs)
		if err := fs.Parse(words[1:]); err != nil {
			return client.Op{}, err
		}
		key, opts, err := f.op(fs.Args())
		return client.OpDelete(key, opts...), err
	}
	return client.Op{}, fmt.Errorf("unknown request %q: want put, get or del", words[0])
}

// argify splits a line into words: runs of characters other than spaces,
// "double-quoted" strings with Go's escapes, 'single-quoted' strings
// taken as they are, and a ')' on its own.
func argify(s string) ([]string, error) {
	var words []string
	for i := 0; i < len(s); {
		switch ch := s[i]; {
		case ch == ' ' || ch == '\t':
			i++
		case ch == ')':
			words = append(words, ")")
			i++
		case ch == '"':
			end := i + 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return nil, errors.New("a string is not closed")
			}
			w, err := strconv.Unquote(s[i : end+1])
			if err != nil {
				return nil, fmt.Errorf("bad string %s: %w", s[i:end+1], err)
			}
			words = append(words, w)
			i = end + 1
		case ch == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("a string is not closed")
			}
			words = append(words, s[i+1:i+1+end])
			i += end + 2
		default:
			end := i
			for end < len(s) && s[end] != ' ' && s[end] != '\t' {
				end++
			}
			words = append(words, s[i:end])
			i = end
		}
	}
	if len(words) == 0 {
		return nil, errors.New("empty")
	}
	return words, nil
}

type txnOutput struct{ r *client.TxnResponse }

func (o txnOutput) simple(w io.Writer) {
	if o.r.Succeeded {
		fmt.Fprintln(w, "SUCCESS")
	} else {
		fmt.Fprintln(w, "FAILURE")
	}
	for _, r := range o.r.Responses {
		fmt.Fprintln(w)
		switch {
		case r.Put != nil:
			putOutput{r.Put}.simple(w)
		case r.Get != nil:
			getOutput{r: r.Get}.simple(w)
		case r.Delete != nil:
			delOutput{r.Delete}.simple(w)
		case r.Txn != nil:
			txnOutput{r.Txn}.simple(w)
		}
	}
}

func (o txnOutput) json() any {
	return struct {
		Header    headerJSON `json:"header"`
		Succeeded bool       `json:"succeeded"`
		Responses []any      `json:"responses"`
	}{toHeaderJSON(o.r.Header), o.r.Succeeded, txnResponsesJSON(o.r.Responses)}
}

// txnResponsesJSON is the API's list of op results: each under the op's
// name, without a header.
func txnResponsesJSON(rs []*client.ResponseOp) []any {
	out := make([]any, 0, len(rs))
	for _, r := range rs {
		switch {
		case r.Put != nil:
			out = append(out, map[string]any{"put": struct {
				PrevKv *kvJSON `json:"prev_kv,omitempty"`
			}{toKVJSON(r.Put.PrevKv)}})
		case r.Get != nil:
			out = append(out, map[string]any{"get": struct {
				Kvs   []*kvJSON `json:"kvs"`
				Count int64     `json:"count"`
				More  bool      `json:"more"`
			}{toKVsJSON(r.Get.Kvs), r.Get.Count, r.Get.More}})
		case r.Delete != nil:
			out = append(out, map[string]any{"delete": struct {
				Deleted int64     `json:"deleted"`
				PrevKvs []*kvJSON `json:"prev_kvs,omitempty"`
			}{r.Delete.Deleted, toKVsJSON(r.Delete.PrevKvs)}})
		case r.Txn != nil:
			out = append(out, map[string]any{"txn": struct {
				Succeeded bool  `json:"succeeded"`
				Responses []any `json:"responses"`
			}{r.Txn.Succeeded, txnResponsesJSON(r.Txn.Responses)}})
		}
	}
	return out
}
