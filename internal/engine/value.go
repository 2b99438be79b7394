package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

// ParseValue converts a payload value of column c to its stored
// representation, the one Predicate values use: nil for missing (""),
// string, int64 (decimals scaled to c.Scale, exactly), time.Time (midnight
// UTC) or bool. Errors say what the value is not, never the value.
func ParseValue(c Column, s string) (any, error) {
	if s == "" {
		return nil, nil
	}
	switch c.Type {
	case cleanroom.TypeString:
		return s, nil
	case cleanroom.TypeInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, errors.New("not an integer")
		}
		return n, nil
	case cleanroom.TypeDecimal:
		return parseScaled(s, c.Scale)
	case cleanroom.TypeDate:
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil, errors.New("not a date")
		}
		return d, nil
	case cleanroom.TypeBool:
		switch s {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return nil, errors.New("not a boolean")
	}
	return nil, fmt.Errorf("unknown column type %q", c.Type)
}

// parseScaled parses a decimal with at most scale places as an integer in
// units of 10^-scale, exactly.
func parseScaled(s string, scale int) (int64, error) {
	errDecimal := fmt.Errorf("not a decimal with at most %d places", scale)
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > scale || strings.Contains(s, ".") && frac == "" {
		return 0, errDecimal
	}
	digits := whole + frac + strings.Repeat("0", scale-len(frac))
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, errDecimal
		}
	}
	u, err := strconv.ParseUint(digits, 10, 63)
	if err != nil {
		return 0, errors.New("decimal out of range")
	}
	if neg {
		return -int64(u), nil
	}
	return int64(u), nil
}
