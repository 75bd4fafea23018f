// Package snapfile reads and writes Cairn's snapshot files: what
// GET /v1/maintenance/snapshot streams and `cairn snapshot restore` reads.
//
// A snapshot file is a header, the store's bbolt database and a SHA-256
// trailer (integers are big-endian):
//
//	offset  size  field
//	0       8     magic "CAIRNSNP": names the format
//	8       4     format version (1)
//	12      4     reserved, 0
//	16      8     revision: the store revision the database is at
//	24      8     body length n: the bytes of the database
//	32      n     body: the bbolt database file (Cairn's state.db as of the revision)
//	32+n    32    SHA-256 of bytes [0, 32+n): header and body
//
// The length makes a truncated file recognisable as such, the checksum a
// damaged one; a file that does not start with the magic is of another
// format (NewReader tells a bare bbolt database, such as an etcd snapshot or a
// state.db copied by hand, by bbolt's magic). A change of the layout takes
// a new version; a reader refuses a version it does not know.
package snapfile
