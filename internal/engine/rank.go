package engine

// rankPrime is the Mersenne prime 2^31 − 1, the modulus of Rank: every
// product h·a stays below 2^62, so executors compute Rank in plain 64-bit
// integers.
const rankPrime = 1<<31 - 1

// RankParams derives the multiplier and offset of Rank from a run's seed:
// a in [1, p−1] and b in [0, p−1] for p = 2^31 − 1.
func RankParams(seed uint64) (a, b int64) {
	return int64(splitmix(seed)%(rankPrime-1)) + 1, int64(splitmix(^seed) % rankPrime)
}

// splitmix is the finaliser of splitmix64 (Steele, Lea and Flood, "Fast
// splittable pseudorandom number generators", 2014): it spreads nearby
// seeds over the whole range.
func splitmix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Rank orders the groups of a person for the L0 bound: a person in more
// than MaxGroupsPerPerson groups keeps those with the smallest Rank, ties
// (which need a collision) going to the smallest key. It is the
// polynomial hash
//
//	h = b; for x in (person, key[0], key[1], …, 0): h = (h·a + x) mod (2^31 − 1)
//
// with a and b from RankParams: for a fixed person, two distinct keys
// collide only when a is a root of a nonzero polynomial of degree at most
// len(key)+1, which for a uniformly random seed happens with probability
// at most (len(key)+1)/(2^31 − 2), and the order is otherwise close to
// uniform (Carter and Wegman, "Universal classes of hash functions",
// 1979). Every
// executor computes exactly this integer arithmetic, so the DuckDB and
// Beam engines keep the same groups for the same seed. person and the key
// indices must lie in [0, 2^31).
func Rank(a, b int64, person int64, key []int) int64 {
	h := b
	h = (h*a + person) % rankPrime
	for _, k := range key {
		h = (h*a + int64(k)) % rankPrime
	}
	return h * a % rankPrime // so that the last key is multiplied by a too
}

// RankModulus is the modulus of Rank, for executors that render it.
const RankModulus int64 = rankPrime
