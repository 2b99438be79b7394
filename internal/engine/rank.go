package engine

import "math/bits"

// rankPrime is the Mersenne prime 2^61 − 1, the modulus of Rank.
const rankPrime = 1<<61 - 1

// RankParams derives the multiplier and offset of Rank from a run's seed:
// a in [1, p−1] and b in [0, p−1] for p = 2^61 − 1.
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
//	h = b; for x in (person, key[0], key[1], …, 0): h = (h·a + x) mod (2^61 − 1)
//
// with a and b from RankParams: for a fixed person, two distinct keys
// collide only when a is a root of a nonzero polynomial of degree at most
// len(key)+1, so for a uniformly random seed the order is close to uniform
// (Carter and Wegman, "Universal classes of hash functions", 1979). Every
// executor computes exactly this integer arithmetic, so the DuckDB and
// Beam engines keep the same groups for the same seed. person and the key
// indices must not be negative.
func Rank(a, b int64, person int64, key []int) int64 {
	h := uint64(b)
	step := func(x uint64) {
		hi, lo := bits.Mul64(h, uint64(a))
		lo, c := bits.Add64(lo, x, 0)
		hi += c
		_, h = bits.Div64(hi, lo, rankPrime)
	}
	step(uint64(person))
	for _, k := range key {
		step(uint64(k))
	}
	step(0) // so that the last key is multiplied by a too
	return int64(h)
}

// RankModulus is the modulus of Rank, for executors that render it.
const RankModulus int64 = rankPrime
