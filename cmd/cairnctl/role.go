package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairnkv/cairn/client"
)

// role: roles and their permissions. Every command needs the root role
// while auth is on.

func (c *cli) roleCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:   "role",
		Short: "Role related commands",
	},
		c.simpleAuthCommand("add <role name>", "Adds a new role", "  cairnctl role add app", 1, "a role name",
			func(cl *client.Client, cmd *cobra.Command, args []string) (*client.AuthResponse, string, error) {
				r, err := cl.RoleAdd(cmd.Context(), args[0])
				return r, fmt.Sprintf("Role %s created", args[0]), err
			}),
		c.simpleAuthCommand("delete <role name>", "Deletes a role", "  cairnctl role delete app", 1, "a role name",
			func(cl *client.Client, cmd *cobra.Command, args []string) (*client.AuthResponse, string, error) {
				r, err := cl.RoleDelete(cmd.Context(), args[0])
				return r, fmt.Sprintf("Role %s deleted", args[0]), err
			}),
		c.roleGetCommand(),
		c.roleListCommand(),
		c.roleGrantCommand(),
		c.roleRevokeCommand(),
	)
}

func (c *cli) roleGetCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "get <role name>",
		Short:   "Gets the permissions of a role",
		Example: "  cairnctl role get app",
		Args:    exactArgs(1, "a role name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.RoleGet(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.p.print(roleGetOutput{resp})
		},
	}
}

type roleGetOutput struct{ r *client.RoleGetResponse }

// simple prints as etcdctl does: the permissions that allow reads, then
// those that allow writes, each a key or a range.
func (o roleGetOutput) simple(w io.Writer) {
	fmt.Fprintf(w, "Role %s\n", o.r.Name)
	for _, section := range []struct {
		title string
		types []client.PermissionType
	}{
		{"KV Read:", []client.PermissionType{client.PermRead, client.PermReadWrite}},
		{"KV Write:", []client.PermissionType{client.PermWrite, client.PermReadWrite}},
	} {
		fmt.Fprintln(w, section.title)
		for _, p := range o.r.Permissions {
			if p.Type == section.types[0] || p.Type == section.types[1] {
				fmt.Fprintf(w, "\t%s\n", permRange(string(p.Key), string(p.RangeEnd)))
			}
		}
	}
}

// permRange writes a permission's keys as etcdctl does: the key alone,
// [key, end), [key, <open ended>, with "(prefix key)" for a prefix.
func permRange(key, end string) string {
	switch {
	case end == "":
		return key
	case end == "\x00":
		return "[" + key + ", <open ended>"
	case end == prefixEnd(key):
		return "[" + key + ", " + end + ") (prefix " + key + ")"
	}
	return "[" + key + ", " + end + ")"
}

// prefixEnd is the end of the range of the keys that start with prefix:
// the prefix with its last byte below 0xff incremented, the bytes after
// it dropped ("\x00" when there is none: every key).
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00"
}

func (o roleGetOutput) json() any {
	type permJSON struct {
		Key            *string `json:"key,omitempty"`
		KeyBase64      *string `json:"key_base64,omitempty"`
		RangeEnd       *string `json:"range_end,omitempty"`
		RangeEndBase64 *string `json:"range_end_base64,omitempty"`
		Permission     string  `json:"permission"`
	}
	perms := make([]permJSON, len(o.r.Permissions))
	for i, p := range o.r.Permissions {
		perms[i].Key, perms[i].KeyBase64 = textOrBase64(p.Key)
		if len(p.RangeEnd) > 0 {
			perms[i].RangeEnd, perms[i].RangeEndBase64 = textOrBase64(p.RangeEnd)
		}
		perms[i].Permission = string(p.Type)
	}
	return struct {
		Header      headerJSON `json:"header"`
		Name        string     `json:"name"`
		Permissions []permJSON `json:"permissions"`
	}{toHeaderJSON(o.r.Header), o.r.Name, perms}
}

func (c *cli) roleListCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "Lists the roles",
		Example: "  cairnctl --user root:s3cret role list",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.RoleList(cmd.Context())
			if err != nil {
				return err
			}
			return c.p.print(namesOutput{resp.Header, "roles", resp.Roles})
		},
	}
}

// permissionOpts returns the range form of a permission: the key alone,
// [key, range_end), --prefix or --from-key.
func permissionOpts(verb string, args []string, prefix, fromKey bool) ([]client.OpOption, string, error) {
	var opts []client.OpOption
	key := args[0]
	switch {
	case prefix && fromKey:
		return nil, "", badArgs("%s: --prefix and --from-key exclude each other", verb)
	case len(args) == 2 && (prefix || fromKey):
		return nil, "", badArgs("%s: a range end excludes --prefix and --from-key", verb)
	case len(args) == 2:
		return append(opts, client.WithRange(args[1])), args[1], nil
	case prefix:
		return append(opts, client.WithPrefix()), prefixEnd(key), nil
	case fromKey:
		return append(opts, client.WithFromKey()), "\x00", nil
	}
	return nil, "", nil
}

func (c *cli) roleGrantCommand() *cobra.Command {
	var prefix, fromKey bool
	cmd := &cobra.Command{
		Use:   "grant-permission [options] <role name> <permission type> <key> [<range_end>]",
		Short: "Grants a key to a role",
		Long: `Gives the role the permission (read, write or readwrite) on the key, or on
the keys in [<key>, <range_end>), or with --prefix on every key that
starts with <key>, or with --from-key on every key from <key> on.`,
		Example: `  cairnctl role grant-permission app readwrite --prefix app/
  cairnctl role grant-permission app read config
  cairnctl role grant-permission app read a m`,
		Args: rangeArgs(3, 4, "a role name, a permission type (read, write, readwrite), a key and optionally a range end"),
		RunE: func(cmd *cobra.Command, args []string) error {
			perm := client.PermissionType(strings.ToLower(args[1]))
			switch perm {
			case client.PermRead, client.PermWrite, client.PermReadWrite:
			default:
				return badArgs("role grant-permission: permission type %q: want read, write or readwrite", args[1])
			}
			opts, _, err := permissionOpts("role grant-permission", args[2:], prefix, fromKey)
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.RoleGrantPermission(cmd.Context(), args[0], args[2], perm, opts...)
			if err != nil {
				return err
			}
			return c.p.print(authOutput{resp.Header, fmt.Sprintf("Role %s updated", args[0])})
		},
	}
	cmd.Flags().BoolVar(&prefix, "prefix", false, "the permission covers the keys that start with <key>")
	cmd.Flags().BoolVar(&fromKey, "from-key", false, "the permission covers the keys from <key> on")
	return cmd
}

func (c *cli) roleRevokeCommand() *cobra.Command {
	var prefix, fromKey bool
	cmd := &cobra.Command{
		Use:   "revoke-permission [options] <role name> <key> [<range_end>]",
		Short: "Revokes a key from a role",
		Long: `Takes from the role its permission on the key, or on the range named as
when it was granted (a range end, --prefix or --from-key), whatever its
type.`,
		Example: `  cairnctl role revoke-permission app --prefix app/
  cairnctl role revoke-permission app config`,
		Args: rangeArgs(2, 3, "a role name, a key and optionally a range end"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, end, err := permissionOpts("role revoke-permission", args[1:], prefix, fromKey)
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.RoleRevokePermission(cmd.Context(), args[0], args[1], opts...)
			if err != nil {
				return err
			}
			line := fmt.Sprintf("Permission of key %s is revoked from role %s", args[1], args[0])
			switch end {
			case "":
			case "\x00":
				line = fmt.Sprintf("Permission of range [%s, <open ended> is revoked from role %s", args[1], args[0])
			default:
				line = fmt.Sprintf("Permission of range [%s, %s) is revoked from role %s", args[1], end, args[0])
			}
			return c.p.print(authOutput{resp.Header, line})
		},
	}
	cmd.Flags().BoolVar(&prefix, "prefix", false, "the permission on the keys that start with <key>")
	cmd.Flags().BoolVar(&fromKey, "from-key", false, "the permission on the keys from <key> on")
	return cmd
}
