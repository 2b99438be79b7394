package synth

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// Stream tags keep the random choices about one person in one role
// independent of every other, so that each can be recomputed in any pass.
const (
	tagFeatures uint64 = iota + 1
	tagEmail
	tagDevice
	tagOperatorIDs
	tagOperatorTypo
	tagBankIDs
	tagBankTypo
	tagBankAttrs
	tagExposure // + campaign index
)

// Stream tags of the advertiser's shoppers, after every campaign's.
const (
	tagShopperIDs = tagExposure + MaxCampaigns + iota
	tagShopperTypo
	tagShopperAttrs
)

// mix64 is the SplitMix64 finaliser: a bijection of uint64 that spreads
// every input bit over the output.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// stream is a reusable PCG generator reseeded per person and role. It is
// not safe for concurrent use.
type stream struct {
	pcg rand.PCG
	*rand.Rand
}

func newStream() *stream {
	s := &stream{}
	s.Rand = rand.New(&s.pcg)
	return s
}

// reset seeds the stream for the given seed, tag and index.
func (s *stream) reset(seed, tag, index uint64) *stream {
	s.pcg.Seed(mix64(seed^mix64(tag)), mix64(index+tag*0x9e3779b97f4a7c15))
	return s
}

// chance reports true with probability p.
func (s *stream) chance(p float64) bool { return s.Float64() < p }

// pick returns an index chosen with the given weights.
func (s *stream) pick(weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	r := s.IntN(total)
	for i, w := range weights {
		if r < w {
			return i
		}
		r -= w
	}
	return len(weights) - 1
}

// lognormal returns mean·exp(σ·N(0,1) − σ²/2), whose mean is mean.
func (s *stream) lognormal(mean, sigma float64) float64 {
	return mean * math.Exp(sigma*s.NormFloat64()-sigma*sigma/2)
}

// poisson draws from a Poisson distribution with mean lambda (Knuth's
// method below 30, a rounded normal approximation above).
func (s *stream) poisson(lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda >= 30 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*s.NormFloat64())))
	}
	l := math.Exp(-lambda)
	k, p := 0, 1.0
	for {
		p *= s.Float64()
		if p < l {
			return k
		}
		k++
	}
}

// feistel is a keyed pseudo-random permutation of [0, m): a four-round
// balanced Feistel network on the smallest even-bit domain holding m, with
// cycle walking to stay below m. It maps person indices to unique phone
// numbers and email numbers, and its inverse tells whether a number belongs
// to a person. It is safe for concurrent use.
type feistel struct {
	m    uint64
	half uint
	mask uint64
	keys [4]uint64
}

func newFeistel(m, key uint64) feistel {
	n := uint(bits.Len64(m - 1))
	half := max((n+1)/2, 1)
	f := feistel{m: m, half: half, mask: 1<<half - 1}
	for i := range f.keys {
		f.keys[i] = mix64(key + uint64(i)*0x632be59bd9b4e019)
	}
	return f
}

func (f feistel) round(x uint64) uint64 {
	l, r := x>>f.half, x&f.mask
	for _, k := range f.keys {
		l, r = r, l^(mix64(r^k)&f.mask)
	}
	return l<<f.half | r
}

func (f feistel) unround(x uint64) uint64 {
	l, r := x>>f.half, x&f.mask
	for i := len(f.keys) - 1; i >= 0; i-- {
		l, r = r^(mix64(l^f.keys[i])&f.mask), l
	}
	return l<<f.half | r
}

// forward maps x in [0, m) to its image in [0, m).
func (f feistel) forward(x uint64) uint64 {
	if f.m <= 1 {
		return x
	}
	for {
		x = f.round(x)
		if x < f.m {
			return x
		}
	}
}

// inverse undoes forward.
func (f feistel) inverse(y uint64) uint64 {
	if f.m <= 1 {
		return y
	}
	for {
		y = f.unround(y)
		if y < f.m {
			return y
		}
	}
}
