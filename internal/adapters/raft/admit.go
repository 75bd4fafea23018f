package raft

import (
	"github.com/cairnkv/cairn/internal/domain"
)

// admit refuses a command that must not reach the log: whatever
// domain.Command.Validate refuses (the limits of the API, for every command
// whatever its origin), and a member record whose ID is not the one its name
// gives. It returns an *domain.InvalidArgumentError.
func admit(cmd domain.Command) error {
	if err := cmd.Validate(); err != nil {
		return err
	}
	if cmd.Type == domain.CmdPublishMember {
		m := cmd.Member.Member
		if want := MemberID(m.Name); m.ID != want {
			return domain.InvalidArgument("member %q has ID %d, not %d", m.Name, m.ID, want)
		}
	}
	return nil
}

// admitForwarded refuses what a member may not propose on behalf of
// another: a member record that is not the sender's own. from is the
// sender's name (HeaderMember, checked by the peer port against the Raft
// configuration and the address the request came from; "" when no member
// was named). A member of the Raft configuration publishes its own record;
// the leader publishes its record itself, so that no forwarded request can
// rewrite the record of the member every follower forwards to.
//
// In plain text the member check is as strong as the network (peerhttp.go):
// what this stops is a member, or whoever passes for one, writing a record
// other than the one it names, and any write of the leader's record.
func (n *Node) admitForwarded(cmd domain.Command, from string) error {
	if cmd.Type != domain.CmdPublishMember {
		return nil
	}
	m := cmd.Member.Member
	switch {
	case from == "":
		return domain.InvalidArgument("member %q: a member record is published by that member only", m.Name)
	case m.Name != from:
		return domain.InvalidArgument("member %q may not publish the record of member %q", from, m.Name)
	case m.Name == n.cfg.Name:
		return domain.InvalidArgument("member %q: the leader publishes its own record", m.Name)
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return mapRaftError(err)
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == m.Name {
			return nil
		}
	}
	return domain.InvalidArgument("member %q is not in the cluster configuration", m.Name)
}
