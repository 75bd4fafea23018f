package benchmark

import (
	"math/rand/v2"
	"strings"
)

// keySpace holds every key of a run in one string, so that taking one is a
// slice of it: no allocation in the request loop.
//
//	KeyPrefix "k/", KeySize 6, KeySpaceSize 3:
//	all = "k/0000" "k/0001" "k/0002"
//	key(1) = all[6:12] = "k/0001"
type keySpace struct {
	all  string
	size int // bytes per key
	n    int // keys
}

func newKeySpace(prefix string, size, n int) keySpace {
	buf := make([]byte, size*n)
	for i := range n {
		k := buf[i*size : (i+1)*size]
		copy(k, prefix)
		digits := k[len(prefix):]
		for j := range digits {
			digits[j] = '0'
		}
		for j, v := len(digits)-1, i; v > 0; j, v = j-1, v/10 {
			digits[j] = byte('0' + v%10)
		}
	}
	return keySpace{all: string(buf), size: size, n: n}
}

// key returns key number i.
func (ks *keySpace) key(i int) string { return ks.all[i*ks.size : (i+1)*ks.size] }

// first and end bound the key space as a range: [first, end).
func (ks *keySpace) first() string { return ks.key(0) }
func (ks *keySpace) end() string   { return ks.key(ks.n-1) + "\x00" }

// keyPicker chooses the keys of one client: in order of the request
// number, or at random from a source of its own (no lock to share).
type keyPicker struct {
	ks         *keySpace
	sequential bool
	rnd        *rand.Rand
}

func newKeyPicker(ks *keySpace, sequential bool, seed uint64) keyPicker {
	return keyPicker{ks: ks, sequential: sequential, rnd: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// pick returns the key of the i-th key-taking step of the run (request n
// of a workload that takes k keys a request takes steps n*k to n*k+k-1).
func (p *keyPicker) pick(i int) string {
	if p.sequential {
		return p.ks.key(i % p.ks.n)
	}
	return p.ks.key(p.rnd.IntN(p.ks.n))
}

// pickDistinct returns k distinct keys for request n of a workload that
// takes k keys a request (k <= the key space): consecutive keys from
// where pick would start, wrapping around, since a txn may not put a key
// twice. It fills dst, which has room for k.
func (p *keyPicker) pickDistinct(dst []string, n int) {
	first := n * len(dst)
	if !p.sequential {
		first = p.rnd.IntN(p.ks.n)
	}
	for j := range dst {
		dst[j] = p.ks.key((first + j) % p.ks.n)
	}
}

// newValue returns a value of size bytes, letters that repeat.
func newValue(size int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	b.Grow(size)
	for i := range size {
		b.WriteByte(letters[i%len(letters)])
	}
	return b.String()
}
