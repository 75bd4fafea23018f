package domain

// ClusterMember is a member as the cluster configuration and the registry
// know it.
type ClusterMember struct {
	Member
	IsLeader  bool
	IsLearner bool
}

// Status describes one member's view of the cluster and its store.
type Status struct {
	MemberID        uint64
	Name            string
	Leader          uint64 // member ID of the leader, 0 when none is known
	LeaderName      string
	RaftTerm        uint64
	RaftIndex       uint64 // last index in this member's log
	CommitIndex     uint64
	AppliedIndex    uint64
	Revision        int64
	CompactRevision int64
	DBSize          int64
	DBSizeInUse     int64
	Keys            int64
	IsLearner       bool
	Version         string
	Alarms          []Alarm // raised for the cluster (the same on every member)
}
