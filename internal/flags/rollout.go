package flags

import (
	"encoding/binary"

	"github.com/google/uuid"
	"github.com/twmb/murmur3"
)

// idLen is the length of a uuid's canonical text.
const idLen = 36

// maxHashInput is the longest hash input of a valid flag: a seed, ':' and
// a tenant id.
const maxHashInput = maxKeyLen + 1 + idLen

// Bucket returns the tenant's rollout bucket, 0 to MaxRollout-1, for a flag
// whose seed (or key, when it has none) is seedOrKey: MurmurHash3 (32 bits,
// seed 0) of seedOrKey, ':' and the tenant id's canonical text, modulo
// MaxRollout. The modulo favours buckets below 7296 by one part in 429,496.
func Bucket(seedOrKey string, tenant uuid.UUID) int {
	if len(seedOrKey) > maxKeyLen {
		// Not a valid seed; hash it anyway, off the stack.
		b := make([]byte, 0, len(seedOrKey)+1+idLen)
		b = append(append(b, seedOrKey...), ':')
		b = b[:len(b)+idLen]
		encodeID(b[len(b)-idLen:], tenant)
		return int(murmur3.Sum32(b) % MaxRollout)
	}
	var buf [maxHashInput]byte
	n := copy(buf[:], seedOrKey)
	buf[n] = ':'
	return bucket(&buf, n+1, tenant)
}

// InCohort reports whether the tenant gets a flag whose seed (or key) is
// seedOrKey at a rollout of rollout basis points: whether its Bucket is
// below rollout.
func InCohort(seedOrKey string, tenant uuid.UUID, rollout int) bool {
	return Bucket(seedOrKey, tenant) < rollout
}

// bucket hashes buf[:n], which holds the seed and ':', followed by the
// tenant id. The buffer is the caller's so that it stays on its stack.
func bucket(buf *[maxHashInput]byte, n int, tenant uuid.UUID) int {
	encodeID(buf[n:n+idLen], tenant)
	return int(murmur3.Sum32(buf[:n+idLen]) % MaxRollout)
}

// encodeID writes the canonical text of id into b, as uuid.UUID.String
// does, without allocating: it is on the path of every rollout decision.
func encodeID(b []byte, id uuid.UUID) {
	_ = b[idLen-1]
	h := hex8(binary.BigEndian.Uint32(id[0:4]))
	binary.BigEndian.PutUint64(b[0:8], h)
	b[8] = '-'
	h = hex8(binary.BigEndian.Uint32(id[4:8]))
	binary.BigEndian.PutUint32(b[9:13], uint32(h>>32))
	b[13] = '-'
	binary.BigEndian.PutUint32(b[14:18], uint32(h))
	b[18] = '-'
	h = hex8(binary.BigEndian.Uint32(id[8:12]))
	binary.BigEndian.PutUint32(b[19:23], uint32(h>>32))
	b[23] = '-'
	binary.BigEndian.PutUint32(b[24:28], uint32(h))
	binary.BigEndian.PutUint64(b[28:36], hex8(binary.BigEndian.Uint32(id[12:16])))
}

// hex8 returns the 8 lower-case hex digits of v as big-endian bytes,
// computing all of them at once rather than one table lookup at a time.
func hex8(v uint32) uint64 {
	// Spread the nibbles out one to a byte, most significant first.
	x := uint64(v)
	x = (x | x<<16) & 0x0000ffff0000ffff
	x = (x | x<<8) & 0x00ff00ff00ff00ff
	x = (x | x<<4) & 0x0f0f0f0f0f0f0f0f
	// 0-9 become '0'-'9'; 10-15 carry into bit 4 and get 'a'-'0'-10 more.
	letters := (x + 0x0606060606060606) >> 4 & 0x0101010101010101
	return x + 0x3030303030303030 + letters*('a'-'0'-10)
}
