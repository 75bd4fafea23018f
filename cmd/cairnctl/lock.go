package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cairnkv/cairn/client/concurrency"
)

const lockLong = `Acquires the lock <lockname> (waiters get it in arrival order) through a
lease of --ttl seconds that cairnctl keeps alive.

Without a command it prints the lock's key and holds the lock until
interrupted (Ctrl-C, SIGTERM), then releases it.

With a command (after '--' when it has flags of its own) it runs the
command while holding the lock, releases the lock when the command exits,
and exits with the command's status. The command finds in its environment:

  CAIRN_LOCK_KEY    the key that holds the lock
  CAIRN_LOCK_FENCE  the fencing token: the key's create revision, which
                    grows with each new owner (a resource that remembers
                    the highest fence it saw can refuse a stale owner)

and etcdctl's ETCD_LOCK_KEY and ETCD_LOCK_REV (the fence too).

If cairnctl dies, its keepalives stop and the lock is released a TTL
later.`

func (c *cli) lockCommand() *cobra.Command {
	var ttl int64
	cmd := &cobra.Command{
		Use:   "lock <lockname> [-- <command> [args...]]",
		Short: "Acquires a named lock",
		Long:  lockLong,
		Example: `  cairnctl lock jobs/nightly                      # holds it until Ctrl-C
  cairnctl lock jobs/nightly ./nightly.sh
  cairnctl lock --ttl 30 counter -- sh -c 'v=$(cairnctl get --print-value-only counter); cairnctl put counter $((v+1))'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return badArgs("lock needs a lock name, and optionally a command")
			}
			if ttl <= 0 {
				return badArgs("lock: --ttl %d: want a positive number of seconds", ttl)
			}
			name, command := args[0], args[1:]
			cl, err := c.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := concurrency.NewSession(ctx, cl, concurrency.WithTTL(ttl))
			if err != nil {
				return err
			}
			defer s.Close() // revokes the lease: releases the lock at once
			m := concurrency.NewMutex(s, name)
			if err := m.Lock(ctx); err != nil {
				if ctx.Err() != nil {
					return nil // interrupted while waiting
				}
				return err
			}
			if len(command) == 0 {
				if err := c.p.print(lockOutput{key: m.Key(), fence: m.Fence()}); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return s.Close()
				case <-s.Done():
					return errors.New("lock: the session's lease was lost: the lock is no longer held")
				}
			}
			code, err := c.runHolding(command, m, s)
			if err != nil {
				return err
			}
			if cerr := s.Close(); cerr != nil {
				fmt.Fprintf(c.err, "cairnctl: releasing the lock: %v (it is released when its lease runs out)\n", cerr)
			}
			if code != 0 {
				return exitStatus{code}
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&ttl, "ttl", 10, "the TTL, in seconds, of the lease that holds the lock: how long after cairnctl's death it is released")
	return cmd
}

// runHolding runs command while m holds the lock and returns its exit
// status (128 + the signal for a command killed by one). A lost session
// is reported on stderr: the command is not stopped, but the lock is no
// longer held.
func (c *cli) runHolding(command []string, m *concurrency.Mutex, s *concurrency.Session) (int, error) {
	cmd := exec.Command(command[0], command[1:]...)
	fence := strconv.FormatInt(m.Fence(), 10)
	cmd.Env = append(os.Environ(),
		"CAIRN_LOCK_KEY="+m.Key(), "CAIRN_LOCK_FENCE="+fence,
		"ETCD_LOCK_KEY="+m.Key(), "ETCD_LOCK_REV="+fence)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.in, c.out, c.err
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("lock: %w", err)
	}
	// The watcher of the session ends before runHolding returns: the
	// caller then closes the session, which must not read as a lost lease.
	exited, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-s.Done():
			select {
			case <-exited: // the command ended first
			default:
				fmt.Fprintf(c.err, "cairnctl: the lease of lock %s was lost while %s runs: the lock is no longer held\n", m.Key(), command[0])
			}
		case <-exited:
		}
	}()
	err := cmd.Wait()
	close(exited)
	<-watched
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 0, fmt.Errorf("lock: %s: %w", command[0], err)
}

type lockOutput struct {
	key   string
	fence int64
}

func (o lockOutput) simple(w io.Writer) { fmt.Fprintln(w, o.key) }

func (o lockOutput) json() any {
	return struct {
		Key   string `json:"key"`
		Fence int64  `json:"fence"`
	}{o.key, o.fence}
}
