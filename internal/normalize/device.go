package normalize

// DeviceID returns an advertising ID (Apple IDFA, Google AAID) as a
// lower-case UUID in the 8-4-4-4-12 form,
// "6ba7b810-9dad-41d1-80b4-00c04fd430c8". It accepts upper and mixed case,
// surrounding braces, and the 32 hex digits without dashes. The rules are
// in the package documentation.
//
// It fails with ErrEmpty for blank input, ErrInvalid for anything that is
// not a UUID, and ErrPlaceholder for the all-zero UUID, which devices
// report when the user limits ad tracking, and for the all-f UUID (the
// "max UUID" of RFC 9562), which systems write for "unknown"; neither is
// ever a random advertising ID. DeviceID is safe for concurrent
// use.
func DeviceID(raw string) (string, error) {
	const op = "device_id"
	s := trim(raw)
	if s == "" {
		return "", fail(op, ErrEmpty, "empty")
	}
	if len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}' {
		s = s[1 : len(s)-1]
	}
	var hex [32]byte
	switch len(s) {
	case 36:
		k := 0
		for i := 0; i < len(s); i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if s[i] != '-' {
					return "", fail(op, ErrInvalid, "not a UUID")
				}
				continue
			}
			hex[k] = s[i]
			k++
		}
	case 32:
		copy(hex[:], s)
	default:
		return "", fail(op, ErrInvalid, "not a UUID")
	}
	zero, allF := true, true
	for i, c := range hex {
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 'a'
			hex[i] = c
		default:
			return "", fail(op, ErrInvalid, "not a UUID")
		}
		zero = zero && c == '0'
		allF = allF && c == 'f'
	}
	if zero {
		return "", fail(op, ErrPlaceholder, "all-zero placeholder")
	}
	if allF {
		return "", fail(op, ErrPlaceholder, "all-f placeholder")
	}
	var out [36]byte
	k := 0
	for i := range out {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			out[i] = '-'
			continue
		}
		out[i] = hex[k]
		k++
	}
	return string(out[:]), nil
}
