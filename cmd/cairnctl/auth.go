package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cairnkv/cairn/client"
)

// auth and user (role is in role.go). Every command but auth status needs
// the root role while auth is on.

func (c *cli) authCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:   "auth",
		Short: "Enables, disables or shows authentication",
		Long: `Authentication is off until it is enabled, as in etcd. Enabling it needs a
user root with the role root.`,
		Example: `  cairnctl user add root:s3cret && cairnctl role add root && cairnctl user grant-role root root
  cairnctl auth enable
  cairnctl --user root:s3cret auth status`,
	}, c.authChangeCommand("enable", "Enables authentication", "  cairnctl auth enable", "Authentication Enabled", (*client.Client).AuthEnable),
		c.authChangeCommand("disable", "Disables authentication", "  cairnctl --user root:s3cret auth disable", "Authentication Disabled", (*client.Client).AuthDisable),
		c.authStatusCommand())
}

func (c *cli) authChangeCommand(use, short, example, done string, call func(*client.Client, context.Context) (*client.AuthResponse, error)) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := call(cl, cmd.Context())
			if err != nil {
				return err
			}
			return c.p.print(authOutput{resp.Header, done})
		},
	}
}

// authOutput is the answer of a change of users, roles or auth: a line
// for -w simple, the header for -w json.
type authOutput struct {
	h    client.ResponseHeader
	line string
}

func (o authOutput) simple(w io.Writer) { fmt.Fprintln(w, o.line) }

func (o authOutput) json() any {
	return struct {
		Header headerJSON `json:"header"`
	}{toHeaderJSON(o.h)}
}

func (c *cli) authStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "status",
		Short:   "Shows whether authentication is enabled",
		Example: "  cairnctl auth status\n  cairnctl --user root:s3cret -w json auth status",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.AuthStatus(cmd.Context())
			if err != nil {
				return err
			}
			return c.p.print(authStatusOutput{resp})
		},
	}
}

type authStatusOutput struct{ r *client.AuthStatusResponse }

func (o authStatusOutput) simple(w io.Writer) {
	fmt.Fprintln(w, "Authentication Status:", o.r.Enabled)
	fmt.Fprintln(w, "AuthRevision:", o.r.AuthRevision)
}

func (o authStatusOutput) json() any {
	return struct {
		Header       headerJSON `json:"header"`
		Enabled      bool       `json:"enabled"`
		AuthRevision uint64     `json:"auth_revision"`
	}{toHeaderJSON(o.r.Header), o.r.Enabled, o.r.AuthRevision}
}

// simpleAuthCommand is a command whose answer is a header and a line:
// user delete, role add, ...
func (c *cli) simpleAuthCommand(use, short, example string, nargs int, what string,
	call func(cl *client.Client, cmd *cobra.Command, args []string) (*client.AuthResponse, string, error)) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    exactArgs(nargs, what),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, line, err := call(cl, cmd, args)
			if err != nil {
				return err
			}
			return c.p.print(authOutput{resp.Header, line})
		},
	}
}

func (c *cli) userCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:   "user",
		Short: "User related commands",
	},
		c.userAddCommand(),
		c.simpleAuthCommand("delete <user name>", "Deletes a user", "  cairnctl user delete alice", 1, "a user name",
			func(cl *client.Client, cmd *cobra.Command, args []string) (*client.AuthResponse, string, error) {
				r, err := cl.UserDelete(cmd.Context(), args[0])
				return r, fmt.Sprintf("User %s deleted", args[0]), err
			}),
		c.userGetCommand(),
		c.userListCommand(),
		c.userPasswdCommand(),
		c.simpleAuthCommand("grant-role <user name> <role name>", "Grants a role to a user", "  cairnctl user grant-role alice app",
			2, "a user name and a role name",
			func(cl *client.Client, cmd *cobra.Command, args []string) (*client.AuthResponse, string, error) {
				r, err := cl.UserGrantRole(cmd.Context(), args[0], args[1])
				return r, fmt.Sprintf("Role %s is granted to user %s", args[1], args[0]), err
			}),
		c.simpleAuthCommand("revoke-role <user name> <role name>", "Revokes a role from a user", "  cairnctl user revoke-role alice app",
			2, "a user name and a role name",
			func(cl *client.Client, cmd *cobra.Command, args []string) (*client.AuthResponse, string, error) {
				r, err := cl.UserRevokeRole(cmd.Context(), args[0], args[1])
				return r, fmt.Sprintf("Role %s is revoked from user %s", args[1], args[0]), err
			}),
	)
}

// newPassword returns the password of a new user or a password change:
// from the flag, else asked twice on the terminal with interactive, else
// the first line of stdin.
func (c *cli) newPassword(user, flag string, interactive bool) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if !interactive {
		line, err := bufio.NewReader(c.in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		if pw := strings.TrimRight(line, "\r\n"); pw != "" {
			return pw, nil
		}
		return "", badArgs("no password on stdin")
	}
	f, ok := c.in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", badArgs("no password: give it (--new-user-password, user:password), or --interactive=false to read it from stdin")
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(c.err, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.err)
		return string(b), err
	}
	pw, err := ask("Password of " + user + ": ")
	if err != nil {
		return "", err
	}
	again, err := ask("Type password of " + user + " again for confirmation: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the passwords do not match")
	}
	return pw, nil
}

func (c *cli) userAddCommand() *cobra.Command {
	var password string
	var interactive bool
	cmd := &cobra.Command{
		Use:   "add <user name or user:password> [options]",
		Short: "Adds a new user",
		Long: `Adds a user, without roles. The password is the part after ':', or
--new-user-password, or asked for on the terminal, or with
--interactive=false the first line of stdin.`,
		Example: `  cairnctl user add root:s3cret
  cairnctl user add alice                   # asks for the password
  echo alicepw | cairnctl user add alice --interactive=false`,
		Args: exactArgs(1, "a user name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, pw, hasPW := strings.Cut(args[0], ":")
			if !hasPW {
				var err error
				if pw, err = c.newPassword(name, password, interactive); err != nil {
					return err
				}
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.UserAdd(cmd.Context(), name, pw)
			if err != nil {
				return err
			}
			return c.p.print(authOutput{resp.Header, fmt.Sprintf("User %s created", name)})
		},
	}
	cmd.Flags().StringVar(&password, "new-user-password", "", "the new user's password")
	cmd.Flags().BoolVar(&interactive, "interactive", true, "ask for the password on the terminal (false: read it from stdin)")
	return cmd
}

func (c *cli) userPasswdCommand() *cobra.Command {
	var interactive bool
	cmd := &cobra.Command{
		Use:   "passwd <user name> [options]",
		Short: "Changes the password of a user",
		Long: `Changes the password of a user (every token of that user stops working). It
is asked for on the terminal, or with --interactive=false read from the
first line of stdin.`,
		Example: "  cairnctl user passwd alice\n  echo newpw | cairnctl user passwd alice --interactive=false",
		Args:    exactArgs(1, "a user name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := c.newPassword(args[0], "", interactive)
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.UserChangePassword(cmd.Context(), args[0], pw)
			if err != nil {
				return err
			}
			return c.p.print(authOutput{resp.Header, "Password updated"})
		},
	}
	cmd.Flags().BoolVar(&interactive, "interactive", true, "ask for the password on the terminal (false: read it from stdin)")
	return cmd
}

func (c *cli) userGetCommand() *cobra.Command {
	var detail bool
	cmd := &cobra.Command{
		Use:     "get <user name> [options]",
		Short:   "Gets the roles of a user",
		Example: "  cairnctl user get alice --detail",
		Args:    exactArgs(1, "a user name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.UserGet(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := userGetOutput{r: resp}
			if detail {
				for _, role := range resp.Roles {
					r, err := cl.RoleGet(cmd.Context(), role)
					if err != nil {
						return err
					}
					out.roles = append(out.roles, r)
				}
			}
			return c.p.print(out)
		},
	}
	cmd.Flags().BoolVar(&detail, "detail", false, "print the permissions of the user's roles too")
	return cmd
}

type userGetOutput struct {
	r     *client.UserGetResponse
	roles []*client.RoleGetResponse // with --detail
}

func (o userGetOutput) simple(w io.Writer) {
	fmt.Fprintf(w, "User: %s\n", o.r.Name)
	if o.roles == nil {
		fmt.Fprintf(w, "Roles: %s\n", strings.Join(o.r.Roles, " "))
		return
	}
	for _, r := range o.roles {
		fmt.Fprintln(w)
		roleGetOutput{r}.simple(w)
	}
}

func (o userGetOutput) json() any {
	out := struct {
		Header headerJSON `json:"header"`
		Name   string     `json:"name"`
		Roles  []string   `json:"roles"`
		Detail []any      `json:"role_details,omitempty"`
	}{Header: toHeaderJSON(o.r.Header), Name: o.r.Name, Roles: emptyIfNil(o.r.Roles)}
	for _, r := range o.roles {
		out.Detail = append(out.Detail, roleGetOutput{r}.json())
	}
	return out
}

func (c *cli) userListCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "Lists the users",
		Example: "  cairnctl --user root:s3cret user list",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.UserList(cmd.Context())
			if err != nil {
				return err
			}
			return c.p.print(namesOutput{resp.Header, "users", resp.Users})
		},
	}
}

// namesOutput is a list of users or roles: one per line.
type namesOutput struct {
	h     client.ResponseHeader
	field string // "users", "roles"
	names []string
}

func (o namesOutput) simple(w io.Writer) {
	for _, n := range o.names {
		fmt.Fprintln(w, n)
	}
}

func (o namesOutput) json() any {
	return map[string]any{"header": toHeaderJSON(o.h), o.field: emptyIfNil(o.names)}
}
