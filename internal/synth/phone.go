package synth

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// phonePlan gives every person a unique valid mobile number of one region
// and writes numbers in the formats operators and banks use. It is safe for
// concurrent use once built.
type phonePlan struct {
	region  string
	cc      string // country calling code, such as "7"
	ndd     string // national trunk prefix, such as "8"; may be empty
	length  int    // digits of a national significant number (NSN)
	example string // phonenumbers' example mobile NSN

	prefixes  []string       // valid mobile NSN prefixes, all of one length
	prefixIdx map[string]int // prefix → index in prefixes
	suffixLen int            // NSN digits after the prefix
	suffixMod uint64         // 10^suffixLen
	perm      feistel        // person → number index in [0, len(prefixes)·suffixMod)
	persons   uint64         // persons with a number: indices below are assigned

	operator phoneFormats // how the operator writes numbers
	bank     phoneFormats // how the bank writes numbers, disjoint from operator's
}

// phoneFormats are templates in which each '#' stands for the next NSN
// digit, with weights.
type phoneFormats struct {
	templates []string
	weights   []int
	// plain writes a number of unusual length (after a typo), which the
	// templates cannot hold: prefix + digits.
	plain []string
}

// newPhonePlan finds mobile number prefixes of region with room for at
// least twice persons numbers, and the formats that round-trip through
// phonenumbers to the same E.164 number.
func newPhonePlan(region string, persons int, key uint64) (*phonePlan, error) {
	ex := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE)
	if ex == nil {
		return nil, fmt.Errorf("country %s: no mobile numbering plan known", region)
	}
	p := &phonePlan{
		region:  region,
		cc:      strconv.Itoa(int(ex.GetCountryCode())),
		ndd:     phonenumbers.GetNddPrefixForRegion(region, true),
		example: phonenumbers.GetNationalSignificantNumber(ex),
	}
	p.length = len(p.example)
	if p.length < 6 {
		return nil, fmt.Errorf("country %s: mobile numbers of %d digits are too short", region, p.length)
	}
	need := 2 * uint64(max(persons, 1))
	r := rand.New(rand.NewPCG(0x5eed, 0x9407e))
	var best uint64
	for plen := min(3, p.length-4); plen <= min(5, p.length-4); plen++ {
		prefixes, capacity := p.validPrefixes(r, plen, need)
		best = max(best, capacity)
		if capacity >= need {
			slices.Sort(prefixes)
			p.prefixes, p.suffixLen, p.suffixMod = prefixes, p.length-plen, pow10(p.length-plen)
			break
		}
	}
	if p.prefixes == nil {
		return nil, fmt.Errorf("country %s: found room for %d mobile numbers, fewer than the %d needed", region, best, need)
	}
	p.prefixIdx = make(map[string]int, len(p.prefixes))
	for i, s := range p.prefixes {
		p.prefixIdx[s] = i
	}
	p.perm = newFeistel(uint64(len(p.prefixes))*p.suffixMod, key)
	p.persons = uint64(persons)
	if err := p.buildFormats(r); err != nil {
		return nil, err
	}
	return p, nil
}

// minPrefixes is how many prefixes validPrefixes looks for, beyond the
// room needed, so that numbers do not all start alike.
const minPrefixes = 64

// validPrefixes returns NSN prefixes of length plen under which every
// number is a valid mobile number of the region, and the room they give.
// It tries prefixes in a fixed random order until it has room for need
// numbers and at least minPrefixes prefixes. A prefix must pass 24 random
// numbers and, for every suffix position and digit, a number with that
// digit there; numbering plans constrain leading digits, which this
// catches. Numbers are checked with phonenumbers' metadata, which is slow,
// so the search is bounded by the candidates' count (at most 10^5).
func (p *phonePlan) validPrefixes(r *rand.Rand, plen int, need uint64) ([]string, uint64) {
	var out []string
	slen := p.length - plen
	mod := pow10(slen)
	suffix := make([]byte, slen)
	randomSuffix := func() {
		for i := range suffix {
			suffix[i] = byte('0' + r.IntN(10))
		}
	}
	ok := func(prefix string) bool {
		for range 24 {
			randomSuffix()
			if !p.isMobile(prefix + string(suffix)) {
				return false
			}
		}
		for i := range slen {
			for d := range 10 {
				randomSuffix()
				suffix[i] = byte('0' + d)
				if !p.isMobile(prefix + string(suffix)) {
					return false
				}
			}
		}
		return true
	}
	n := pow10(plen)
	order := r.Perm(int(n))
	for _, v := range order {
		prefix := fmt.Sprintf("%0*d", plen, v)
		if prefix[0] == '0' && p.example[0] != '0' {
			continue // a trunk prefix, not part of a national number
		}
		if ok(prefix) {
			out = append(out, prefix)
			if len(out) >= minPrefixes && uint64(len(out))*mod >= need {
				break
			}
		}
	}
	return out, uint64(len(out)) * mod
}

// isMobile reports whether nsn is a valid mobile number of the region.
func (p *phonePlan) isMobile(nsn string) bool {
	n, err := phonenumbers.Parse("+"+p.cc+nsn, p.region)
	if err != nil || !phonenumbers.IsValidNumberForRegion(n, p.region) {
		return false
	}
	t := phonenumbers.GetNumberType(n)
	return t == phonenumbers.MOBILE || t == phonenumbers.FIXED_LINE_OR_MOBILE
}

// normalize returns the E.164 form of a written number and whether it is a
// valid number, or "" when it does not parse.
func (p *phonePlan) normalize(written string) (string, bool) {
	n, err := phonenumbers.Parse(written, p.region)
	if err != nil {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), phonenumbers.IsValidNumber(n)
}

// buildFormats derives the templates from phonenumbers' own international
// and national formats and keeps those that round-trip.
func (p *phonePlan) buildFormats(r *rand.Rand) error {
	sample := p.number(0)
	num, err := phonenumbers.Parse("+"+p.cc+sample, p.region)
	if err != nil {
		return fmt.Errorf("country %s: parse sample number: %w", p.region, err)
	}
	L := p.length
	hashes := func(n int) string { return strings.Repeat("#", n) }
	intl := placeholders(phonenumbers.Format(num, phonenumbers.INTERNATIONAL), L)
	natl := placeholders(phonenumbers.Format(num, phonenumbers.NATIONAL), L)

	// The groups of the international format after the country code, such
	// as [3 3 2 2] with separators [" " "-" "-"] for "+7 ### ###-##-##".
	var groups []int
	var seps []string
	body := strings.TrimPrefix(intl, "+"+p.cc)
	for i := 0; i < len(body); {
		j := i
		for j < len(body) && body[j] == '#' {
			j++
		}
		if j > i {
			groups = append(groups, j-i)
			i = j
			continue
		}
		for j < len(body) && body[j] != '#' {
			j++
		}
		if len(groups) > 0 && j < len(body) {
			seps = append(seps, body[i:j])
		}
		i = j
	}
	g1 := L
	if len(groups) > 0 {
		g1 = groups[0]
	}
	rest := L - g1
	joined := func(sep string) string {
		parts := make([]string, len(groups))
		for i, g := range groups {
			parts[i] = hashes(g)
		}
		return strings.Join(parts, sep)
	}
	tail := "" // the international format after its first group and separator
	if len(groups) > 1 {
		tail = hashes(groups[1])
		for i := 2; i < len(groups); i++ {
			tail += seps[i-1] + hashes(groups[i])
		}
	}
	restDash := ""
	if len(groups) > 1 {
		parts := make([]string, 0, len(groups)-1)
		for _, g := range groups[1:] {
			parts = append(parts, hashes(g))
		}
		restDash = strings.Join(parts, "-")
	}
	split := hashes(rest)
	if rest > 3 {
		split = hashes(3) + " " + hashes(rest-3)
	}

	op := []struct {
		t string
		w int
	}{
		{p.cc + hashes(L), 35},       // 79123456789
		{"+" + p.cc + hashes(L), 25}, // +79123456789
		{intl, 15},                   // +7 912 345-67-89
		{"+" + p.cc + " " + hashes(g1) + " " + split, 15},  // +7 912 345 6789
		{p.cc + " " + hashes(g1) + " " + hashes(rest), 10}, // 7 912 3456789
	}
	bank := []struct {
		t string
		w int
	}{
		{natl, 30},      // 8 (912) 345-67-89
		{hashes(L), 15}, // 9123456789
		{"+" + p.cc + "(" + hashes(g1) + ")" + tail, 10},       // +7(912)345-67-89
		{"+" + p.cc + " (" + hashes(g1) + ") " + restDash, 10}, // +7 (912) 345-67-89
	}
	if p.ndd != "" {
		bank = append(bank, []struct {
			t string
			w int
		}{
			{p.ndd + hashes(L), 15},         // 89123456789
			{p.ndd + " " + joined(" "), 10}, // 8 912 345 67 89
			{p.ndd + "-" + joined("-"), 10}, // 8-912-345-67-89
		}...)
	}

	// Keep the templates that round-trip on a few random numbers, once each,
	// and keep the bank's disjoint from the operator's.
	samples := make([]string, 8)
	for i := range samples {
		samples[i] = p.number(r.Uint64N(p.perm.m))
	}
	seen := map[string]bool{}
	keep := func(t string) bool {
		if seen[t] || strings.Count(t, "#") != L {
			return false
		}
		for _, s := range samples {
			e164, valid := p.normalize(string(fill(nil, t, []byte(s))))
			if !valid || e164 != "+"+p.cc+s {
				return false
			}
		}
		seen[t] = true
		return true
	}
	for _, f := range op {
		if keep(f.t) {
			p.operator.templates = append(p.operator.templates, f.t)
			p.operator.weights = append(p.operator.weights, f.w)
		}
	}
	for _, f := range bank {
		if keep(f.t) {
			p.bank.templates = append(p.bank.templates, f.t)
			p.bank.weights = append(p.bank.weights, f.w)
		}
	}
	if len(p.operator.templates) == 0 || len(p.bank.templates) == 0 {
		return fmt.Errorf("country %s: no phone formats round-trip through normalisation", p.region)
	}
	p.operator.plain = []string{p.cc, "+" + p.cc}
	p.bank.plain = []string{"", "+" + p.cc}
	if p.ndd != "" {
		p.bank.plain = append(p.bank.plain, p.ndd)
	}
	return nil
}

// placeholders replaces the last n digits of s with '#'.
func placeholders(s string, n int) string {
	b := []byte(s)
	for i := len(b) - 1; i >= 0 && n > 0; i-- {
		if b[i] >= '0' && b[i] <= '9' {
			b[i] = '#'
			n--
		}
	}
	return string(b)
}

// fill appends template t with its '#'s replaced by the digits of nsn.
func fill(dst []byte, t string, nsn []byte) []byte {
	k := 0
	for i := 0; i < len(t); i++ {
		if t[i] == '#' {
			dst = append(dst, nsn[k])
			k++
		} else {
			dst = append(dst, t[i])
		}
	}
	return dst
}

// number returns the NSN with number index j.
func (p *phonePlan) number(j uint64) string {
	b := make([]byte, 0, p.length)
	return string(p.appendNumber(b, j))
}

func (p *phonePlan) appendNumber(dst []byte, j uint64) []byte {
	dst = append(dst, p.prefixes[j/p.suffixMod]...)
	s := j % p.suffixMod
	start := len(dst)
	for range p.suffixLen {
		dst = append(dst, '0')
	}
	for i := len(dst) - 1; i >= start; i-- {
		dst[i] = byte('0' + s%10)
		s /= 10
	}
	return dst
}

// personNSN appends the canonical NSN of person i.
func (p *phonePlan) personNSN(dst []byte, person int) []byte {
	return p.appendNumber(dst, p.perm.forward(uint64(person)))
}

// assigned reports whether E.164 number e164 is some person's number.
func (p *phonePlan) assigned(e164 string) bool {
	nsn, ok := strings.CutPrefix(e164, "+"+p.cc)
	if !ok || len(nsn) != p.length {
		return false
	}
	plen := p.length - p.suffixLen
	idx, ok := p.prefixIdx[nsn[:plen]]
	if !ok {
		return false
	}
	s, err := strconv.ParseUint(nsn[plen:], 10, 64)
	if err != nil {
		return false
	}
	return p.perm.inverse(uint64(idx)*p.suffixMod+s) < p.persons
}

// write appends nsn written in one of the formats f, chosen by s.
func (f *phoneFormats) write(dst []byte, s *stream, nsn []byte, length int) []byte {
	if len(nsn) != length {
		dst = append(dst, f.plain[s.IntN(len(f.plain))]...)
		return append(dst, nsn...)
	}
	return fill(dst, f.templates[s.pick(f.weights)], nsn)
}

// pow10 returns 10^n.
func pow10(n int) uint64 {
	v := uint64(1)
	for range n {
		v *= 10
	}
	return v
}
