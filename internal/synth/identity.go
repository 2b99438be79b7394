package synth

import (
	"fmt"
	"strconv"
	"strings"
)

// status is what happened to an identifier as a party wrote it.
type status uint8

const (
	statusValid status = iota
	statusTypo
	statusJunk
	statusMissing
)

var statusNames = [...]string{"valid", "typo", "junk", "missing"}

func (s status) String() string { return statusNames[s] }

func (c *StatusCounts) add(s status) {
	switch s {
	case statusValid:
		c.Valid++
	case statusTypo:
		c.Typo++
	case statusJunk:
		c.Junk++
	case statusMissing:
		c.Missing++
	}
}

// drawStatus draws an identifier's status: missing with probability
// missing, otherwise typo, junk or valid at the configured rates.
func (g *generator) drawStatus(s *stream, missing float64) status {
	if missing > 0 && s.chance(missing) {
		return statusMissing
	}
	u := s.Float64()
	switch {
	case u < g.cfg.TypoRate:
		return statusTypo
	case u < g.cfg.TypoRate+g.cfg.JunkRate:
		return statusJunk
	}
	return statusValid
}

// email is an address as its owner spells it: lower case, with the dots
// the owner chose.
type email struct{ local, domain string }

func isGmail(domain string) bool { return domain == "gmail.com" || domain == "googlemail.com" }

// normalizeEmail trims and lower-cases an address and, for gmail.com and
// googlemail.com, drops dots and a +tag from the local part. It reports
// false for a value that is not an address.
func normalizeEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", false
	}
	local, domain := s[:at], s[at+1:]
	if isGmail(domain) {
		if i := strings.IndexByte(local, '+'); i >= 0 {
			local = local[:i]
		}
		// Removing the dots can leave spaces at an end (". x"), which a
		// second normalisation would trim: trim them now, so that
		// normalising is idempotent.
		local = strings.TrimSpace(strings.ReplaceAll(local, ".", ""))
		if local == "" {
			return "", false
		}
	}
	return local + "@" + domain, true
}

// personEmail returns person p's address. Its local part ends in a number
// unique to the person, so no two persons' addresses normalise alike.
func (g *generator) personEmail(s *stream, p int) email {
	s.reset(g.cfg.Seed, tagEmail, uint64(p))
	loc := g.locale
	var first, last string
	if s.chance(0.5) {
		first = loc.maleFirst[s.IntN(len(loc.maleFirst))]
		last = loc.last[s.IntN(len(loc.last))]
	} else {
		first = loc.femaleFirst[s.IntN(len(loc.femaleFirst))]
		last = loc.last[s.IntN(len(loc.last))] + loc.femaleSuffix
	}
	domain := loc.domains.names[s.pick(loc.domains.weights)]
	n := strconv.FormatUint(g.emailPerm.forward(uint64(p)), 10)
	var local string
	switch s.IntN(6) {
	case 0:
		local = first + "." + last + n
	case 1:
		local = first + last + n
	case 2:
		local = first[:1] + "." + last + n
	case 3:
		local = last + "." + first + n
	case 4:
		if isGmail(domain) {
			local = first + "." + last + "." + n
		} else {
			local = first + "_" + last + n
		}
	default:
		local = last + n
	}
	return email{local, domain}
}

// writeOperatorEmail writes e the way the operator's systems hold it:
// lower case, sometimes with a +tag (gmail only) or stray white space.
func writeOperatorEmail(s *stream, e email) string {
	local := e.local
	if isGmail(e.domain) && s.chance(0.05) {
		local += "+" + gmailTags[s.IntN(len(gmailTags))]
	}
	v := local + "@" + e.domain
	return addSpace(s, v, 0.04)
}

// writeBankEmail writes e the way a bank's forms collect it: always with
// some upper case (so it never equals the operator's spelling), for gmail
// often with moved dots or a +tag, sometimes with stray white space.
func writeBankEmail(s *stream, e email) string {
	local := e.local
	if isGmail(e.domain) {
		if s.chance(0.4) {
			local = redot(s, local)
		}
		if s.chance(0.2) {
			local += "+" + gmailTags[s.IntN(len(gmailTags))]
		}
	}
	b := []byte(local + "@" + e.domain)
	switch s.IntN(3) {
	case 0: // Title case: the first letter of each run of letters
		prev := byte('.')
		for i, c := range b {
			if isLower(c) && !isLower(prev) {
				b[i] = c - 'a' + 'A'
			}
			prev = c
		}
	case 1:
		for i, c := range b {
			if isLower(c) {
				b[i] = c - 'a' + 'A'
			}
		}
	default:
		upper := false
		for i, c := range b {
			if isLower(c) && s.chance(0.3) {
				b[i] = c - 'a' + 'A'
				upper = true
			}
		}
		if !upper {
			for i, c := range b {
				if isLower(c) {
					b[i] = c - 'a' + 'A'
					break
				}
			}
		}
	}
	return addSpace(s, string(b), 0.08)
}

// redot moves the dots of a gmail local part, which gmail ignores.
func redot(s *stream, local string) string {
	plain := strings.ReplaceAll(local, ".", "")
	if len(plain) < 3 {
		return plain
	}
	var b strings.Builder
	dots := s.IntN(3)
	last := 0
	for i := range len(plain) {
		if i > last+1 && i < len(plain)-1 && dots > 0 && s.chance(0.25) {
			b.WriteByte('.')
			dots--
			last = i
		}
		b.WriteByte(plain[i])
	}
	return b.String()
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

// addSpace surrounds v with stray spaces with probability p.
func addSpace(s *stream, v string, p float64) string {
	if !s.chance(p) {
		return v
	}
	switch s.IntN(3) {
	case 0:
		return " " + v
	case 1:
		return v + " "
	}
	return "  " + v + " "
}

// appendDevice appends person p's advertising ID: a random version 4 UUID,
// lower case.
func (g *generator) appendDevice(dst []byte, p int) []byte {
	a := mix64(g.cfg.Seed ^ mix64(tagDevice) ^ uint64(p)*0x9e3779b97f4a7c15)
	b := mix64(a ^ 0xd6e8feb86659fd93)
	var u [16]byte
	for i := range 8 {
		u[i] = byte(a >> (8 * i))
		u[8+i] = byte(b >> (8 * i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return appendUUID(dst, u)
}

func appendUUID(dst []byte, u [16]byte) []byte {
	const hex = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hex[c>>4], hex[c&0xf])
	}
	return dst
}

// writeDevice writes a lower-case UUID in upper or lower case, with or
// without braces, with the given weights for lower, upper, {UPPER},
// {lower}.
func writeDevice(dst []byte, s *stream, canon []byte, weights []int) []byte {
	mode := s.pick(weights)
	if mode >= 2 {
		dst = append(dst, '{')
	}
	for _, c := range canon {
		if (mode == 1 || mode == 2) && isLower(c) {
			c = c - 'a' + 'A'
		}
		dst = append(dst, c)
	}
	if mode >= 2 {
		dst = append(dst, '}')
	}
	return dst
}

var (
	operatorDeviceWeights = []int{55, 30, 10, 5}
	exposureDeviceWeights = []int{60, 30, 0, 10}
)

// maxTypoTries bounds the attempts to find a typo that collides with
// nothing; each attempt fails with tiny probability.
const maxTypoTries = 100

// phoneTypo corrupts nsn so it normalises to no one's number: an unassigned
// or invalid number that no other typo has produced. It writes the result
// in one of f's formats.
func (g *generator) phoneTypo(s *stream, nsn []byte, f *phoneFormats) (string, error) {
	t := make([]byte, 0, len(nsn)+1)
	for range maxTypoTries {
		t = corruptDigits(s, append(t[:0], nsn...))
		written := string(f.write(nil, s, t, g.phones.length))
		e164, valid := g.phones.normalize(written)
		if e164 == "" {
			return written, nil
		}
		if valid && g.phones.assigned(e164) {
			continue
		}
		if _, dup := g.typoPhones[e164]; dup {
			continue
		}
		g.typoPhones[e164] = struct{}{}
		return written, nil
	}
	return "", fmt.Errorf("make a phone typo: no free value after %d tries", maxTypoTries)
}

// corruptDigits makes one typo in a digit string: a wrong digit, two
// swapped digits, a dropped digit or a doubled one.
func corruptDigits(s *stream, t []byte) []byte {
	pos := s.IntN(len(t))
	switch s.pick([]int{70, 15, 10, 5}) {
	case 1:
		for i := range len(t) - 1 {
			j := (pos + i) % (len(t) - 1)
			if t[j] != t[j+1] {
				t[j], t[j+1] = t[j+1], t[j]
				return t
			}
		}
	case 2:
		return append(t[:pos], t[pos+1:]...)
	case 3:
		t = append(t, 0)
		copy(t[pos+1:], t[pos:])
		return t
	}
	t[pos] = '0' + (t[pos]-'0'+1+byte(s.IntN(9)))%10
	return t
}

// emailTypo corrupts e so it normalises to a value no one else has: a
// letter of the local part or of the domain is wrong, swapped, dropped or
// doubled. Persons' numbers are untouched, so it cannot become another
// person's address; the set of typos keeps two typos apart.
func (g *generator) emailTypo(s *stream, e email) (email, error) {
	canon, _ := normalizeEmail(e.local + "@" + e.domain)
	for range maxTypoTries {
		t := e
		if s.chance(0.2) {
			label, rest, _ := strings.Cut(t.domain, ".")
			t.domain = string(corruptLetters(s, []byte(label))) + "." + rest
		} else {
			t.local = string(corruptLetters(s, []byte(t.local)))
		}
		n, ok := normalizeEmail(t.local + "@" + t.domain)
		if !ok || n == canon {
			continue
		}
		if _, dup := g.typoEmails[n]; dup {
			continue
		}
		g.typoEmails[n] = struct{}{}
		return t, nil
	}
	return email{}, fmt.Errorf("make an email typo: no free value after %d tries", maxTypoTries)
}

// corruptLetters makes one typo among the letters of b: a neighbouring key,
// two swapped letters, a dropped letter or a doubled one.
func corruptLetters(s *stream, b []byte) []byte {
	var letters []int
	for i, c := range b {
		if isLower(c) {
			letters = append(letters, i)
		}
	}
	if len(letters) == 0 {
		return b
	}
	i := letters[s.IntN(len(letters))]
	switch s.pick([]int{50, 20, 15, 15}) {
	case 1:
		if i+1 < len(b) && isLower(b[i+1]) && b[i] != b[i+1] {
			b[i], b[i+1] = b[i+1], b[i]
			return b
		}
	case 2:
		if len(letters) >= 3 {
			return append(b[:i], b[i+1:]...)
		}
	case 3:
		b = append(b, 0)
		copy(b[i+1:], b[i:])
		return b
	}
	nb := keyboardNeighbours[b[i]]
	b[i] = nb[s.IntN(len(nb))]
	return b
}

// deviceTypo corrupts one hex digit of a canonical device ID.
func (g *generator) deviceTypo(s *stream, canon []byte) ([]byte, error) {
	const hex = "0123456789abcdef"
	t := make([]byte, len(canon))
	for range maxTypoTries {
		copy(t, canon)
		i := s.IntN(len(t))
		for t[i] == '-' {
			i = s.IntN(len(t))
		}
		c := strings.IndexByte(hex, t[i])
		t[i] = hex[(c+1+s.IntN(15))%16]
		if _, dup := g.typoDevices[string(t)]; dup {
			continue
		}
		g.typoDevices[string(t)] = struct{}{}
		return t, nil
	}
	return nil, fmt.Errorf("make a device ID typo: no free value after %d tries", maxTypoTries)
}
