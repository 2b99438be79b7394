package normalize

import (
	"errors"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
)

// phoneTests are (raw, region) → E.164, or the kind of error.
var phoneTests = []struct {
	raw, region string
	want        string
	err         error
}{
	// The formats of DESIGN.md and internal/synth, one Russian mobile.
	{"8 (912) 345-67-89", "RU", "+79123456789", nil},
	{"+7 912 345 6789", "RU", "+79123456789", nil},
	{"9123456789", "RU", "+79123456789", nil},
	{"+7(912)345-67-89", "RU", "+79123456789", nil},
	{"7 912 3456789", "RU", "+79123456789", nil},
	{"79123456789", "RU", "+79123456789", nil},
	{"+79123456789", "RU", "+79123456789", nil},
	{"+7 912 345-67-89", "RU", "+79123456789", nil},
	{"+7 (912) 345-67-89", "RU", "+79123456789", nil},
	{"89123456789", "RU", "+79123456789", nil},
	{"8 912 345 67 89", "RU", "+79123456789", nil},
	{"8-912-345-67-89", "RU", "+79123456789", nil},
	{"8.912.345.67.89", "RU", "+79123456789", nil},
	{"(912) 345-67-89", "RU", "+79123456789", nil},
	{"8/912/3456789", "RU", "+79123456789", nil},
	// White space and invisible characters from spreadsheets and web pages.
	{"  +7 912 345 67 89\t", "RU", "+79123456789", nil},
	{"\ufeff89123456789", "RU", "+79123456789", nil},
	{"+7\u00a0912\u00a0345\u00a067\u00a089", "RU", "+79123456789", nil},
	{"\u200e+7 912 345 67 89\u200f", "RU", "+79123456789", nil},
	{"8\u2013912\u2013345\u201367\u201389", "RU", "+79123456789", nil},
	{"８ ９１２ ３４５ ６７ ８９", "RU", "+79123456789", nil},
	{"＋７ ９１２ ３４５ ６７ ８９", "RU", "+79123456789", nil},
	// Extensions are dropped.
	{"+7 495 123-45-67 доб. 123", "RU", "+74951234567", nil},
	{"8 (495) 123-45-67 ДОБ 5", "RU", "+74951234567", nil},
	{"+7 912 345 67 89 ext. 12", "RU", "+79123456789", nil},
	{"+7 912 345 67 89 #12", "RU", "+79123456789", nil},
	{"89123456789 доб. 12", "RU", "+79123456789", nil},
	{"+7 912 345 67 89 ext: 12", "RU", "+79123456789", nil},
	{"+7 912 345 67 89X12", "RU", "+79123456789", nil},
	{"+7 912 345 67 89 Extension 1234567890", "RU", "+79123456789", nil},
	// Fixed lines, including a national number starting with the trunk
	// prefix 8 (St Petersburg) and another country's number from Russia.
	{"8 (812) 123-45-67", "RU", "+78121234567", nil},
	{"+7 812 123 45 67", "RU", "+78121234567", nil},
	{"+7 (495) 123-45-67", "RU", "+74951234567", nil},
	{"8 10 44 20 7946 0958", "RU", "+442079460958", nil},
	{"+44 20 7946 0958", "RU", "+442079460958", nil},
	{"+1 (650) 253-0000", "RU", "+16502530000", nil},
	// Great Britain.
	{"020 7946 0958", "GB", "+442079460958", nil},
	{"+44 (0) 20 7946 0958", "GB", "+442079460958", nil},
	{"+44 (0)20 7946 0958", "RU", "+442079460958", nil},
	{"00 44 20 7946 0958", "GB", "+442079460958", nil},
	{"07400 123456", "GB", "+447400123456", nil},
	{"+44 7400 123456", "GB", "+447400123456", nil},
	{"447400123456", "GB", "+447400123456", nil},
	// The United States.
	{"(650) 253-0000", "US", "+16502530000", nil},
	{"650-253-0000", "US", "+16502530000", nil},
	{"650.253.0000", "US", "+16502530000", nil},
	{"1-650-253-0000", "US", "+16502530000", nil},
	{"+1 650 253 0000", "US", "+16502530000", nil},
	{"650-253-0000 x12", "US", "+16502530000", nil},
	{"(650) 253-0000 Ext 12", "US", "+16502530000", nil},
	{"011 44 20 7946 0958", "US", "+442079460958", nil},
	// Germany.
	{"030 1234567", "DE", "+49301234567", nil},
	{"+49 30 1234567", "DE", "+49301234567", nil},
	{"+49 (0)30 1234567", "DE", "+49301234567", nil},
	{"0151 23456789", "DE", "+4915123456789", nil},
	{"+49 1512 3456789", "DE", "+4915123456789", nil},
	{"0049 1512 3456789", "DE", "+4915123456789", nil},
	// No default region: only international numbers.
	{"+7 912 345 67 89", "", "+79123456789", nil},
	{"+44 20 7946 0958", "", "+442079460958", nil},
	{"89123456789", "", "", ErrInvalid},

	{"", "RU", "", ErrEmpty},
	{" \t\u00a0\u200b", "RU", "", ErrEmpty},
	{"0000000000", "RU", "", ErrInvalid},
	{"+7 000 000 00 00", "RU", "", ErrInvalid},
	{"12345", "RU", "", ErrInvalid},
	{"8 (912) 345-67-8", "RU", "", ErrInvalid},
	{"8 (912) 345-67-899", "RU", "", ErrInvalid},
	{"+7 912 345 67 89 0", "RU", "", ErrInvalid},
	{"+999 123 456 789", "RU", "", ErrInvalid},
	{"n/a", "RU", "", ErrInvalid},
	{"-", "RU", "", ErrInvalid},
	{"()", "RU", "", ErrInvalid},
	{"phone", "RU", "", ErrInvalid},
	{"+7 912 345 67 89 mobile", "RU", "", ErrInvalid},
	{"+7 912 345 67 89 ext", "RU", "", ErrInvalid},
	{"+7 912 345 67 89 ext. 12345678901", "RU", "", ErrInvalid},
	{"ext 12", "RU", "", ErrInvalid},
	{"+7 912 345 67 89 x 12 34", "RU", "", ErrInvalid},
	{"+7 912 345 67 89 xyz", "RU", "", ErrInvalid},
	{"+7 912 345 67 89 ext 1 ext 2", "RU", "", ErrInvalid},
	{"0", "RU", "", ErrInvalid},
	{"1-800-FLOWERS", "US", "", ErrInvalid},
	{"7.9123456789E+10", "RU", "", ErrInvalid},
	{"79123456789.0", "RU", "", ErrInvalid},
	{"'79123456789", "RU", "", ErrInvalid},
	{"+7 912 345-67-89, +7 913 345-67-89", "RU", "", ErrInvalid},
	{"+7 912 345-67-89; 8 913 345-67-89", "RU", "", ErrInvalid},
	{"++79123456789", "RU", "", ErrInvalid},
	{"8+79123456789", "RU", "", ErrInvalid},
	{"tel:+79123456789", "RU", "", ErrInvalid},
	{"+7 912 345 67 89\x00", "RU", "", ErrInvalid},
	{"\xff79123456789", "RU", "", ErrInvalid},
	{"+7 912 345 67 89" + strings.Repeat(" ", 49), "RU", "", ErrTooLong},
	{"9123456789", "ru", "", ErrRegion},
	{"9123456789", "XX", "", ErrRegion},
	{"9123456789", "001", "", ErrRegion},
}

func TestPhone(t *testing.T) {
	for _, tt := range phoneTests {
		got, err := Phone(tt.raw, tt.region)
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("Phone(%q, %q) = %q, %v; want %q, %v", tt.raw, tt.region, got, err, tt.want, tt.err)
		}
	}
}

var emailTests = []struct {
	raw   string
	gmail bool
	want  string
	err   error
}{
	{"ivan.petrov@mail.ru", false, "ivan.petrov@mail.ru", nil},
	{" Ivan.Petrov@Mail.RU ", false, "ivan.petrov@mail.ru", nil},
	{"IVAN.PETROV@MAIL.RU", true, "ivan.petrov@mail.ru", nil},
	{"\tivan_petrov1987@Yandex.ru\r\n", false, "ivan_petrov1987@yandex.ru", nil},
	{"\u00a0\u3000ivan@bk.ru\u200b\ufeff", false, "ivan@bk.ru", nil},
	{"\ufeffivan@inbox.ru", false, "ivan@inbox.ru", nil},
	{"ИВАН@ПОЧТА.РФ", false, "иван@почта.рф", nil},
	{"Jürgen.Müller@Web.DE", false, "jürgen.müller@web.de", nil},
	{"o'brien@example.co.uk", false, "o'brien@example.co.uk", nil},
	{"test@test.com", false, "test@test.com", nil},
	{"a@b.c", false, "a@b.c", nil},
	{"ivan@xn--80a1acny.xn--p1ai", false, "ivan@xn--80a1acny.xn--p1ai", nil},
	// Gmail rules, on and off.
	{"Ivan.Petrov@Gmail.com", true, "ivanpetrov@gmail.com", nil},
	{"Ivan.Petrov@Gmail.com", false, "ivan.petrov@gmail.com", nil},
	{"i.van.pet.rov+news@gmail.com", true, "ivanpetrov@gmail.com", nil},
	{"i.van.pet.rov+news@gmail.com", false, "i.van.pet.rov+news@gmail.com", nil},
	{"I.Van+news@GoogleMail.com", true, "ivan@gmail.com", nil},
	{"I.Van+news@GoogleMail.com", false, "i.van+news@googlemail.com", nil},
	{"ivan+a+b@gmail.com", true, "ivan@gmail.com", nil},
	{"ivan.petrov+tag@mail.ru", true, "ivan.petrov+tag@mail.ru", nil},
	{"ivan.petrov@gmail.co.uk", true, "ivan.petrov@gmail.co.uk", nil},
	{"ivan@sub.gmail.com", true, "ivan@sub.gmail.com", nil},
	{"+tag@gmail.com", false, "+tag@gmail.com", nil},
	{"+tag@gmail.com", true, "", ErrInvalid},
	{"...@gmail.com", true, "", ErrInvalid},

	{"", false, "", ErrEmpty},
	{" \t\n\u00a0", true, "", ErrEmpty},
	{"ivan", false, "", ErrInvalid},
	{"ivan@", false, "", ErrInvalid},
	{"@mail.ru", false, "", ErrInvalid},
	{"ivan@@mail.ru", false, "", ErrInvalid},
	{"ivan@mail@ru", false, "", ErrInvalid},
	{"ivan petrov@mail.ru", false, "", ErrInvalid},
	{"ivan@mail .ru", false, "", ErrInvalid},
	{"ivan@mail.ru, petr@mail.ru", false, "", ErrInvalid},
	{"ivan\u00a0@mail.ru", false, "", ErrInvalid},
	{"iv\u200ban@mail.ru", false, "", ErrInvalid},
	{"ivan@mail.ru\x00", false, "", ErrInvalid},
	{"ivan@localhost", false, "", ErrInvalid},
	{"ivan@mail..ru", false, "", ErrInvalid},
	{"ivan@.mail.ru", false, "", ErrInvalid},
	{"ivan@mail.ru.", false, "", ErrInvalid},
	{"ivan@mail,ru", false, "", ErrInvalid},
	{"ivan@mail_ru.com", false, "", ErrInvalid},
	{"Ivan <ivan@mail.ru>", false, "", ErrInvalid},
	{"<ivan@mail.ru>", false, "", ErrInvalid},
	{"mailto:ivan@mail.ru?subject=hi", false, "", ErrInvalid},
	{"n/a", false, "", ErrInvalid},
	{"\xffivan@mail.ru", false, "", ErrInvalid},
	{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com", false, strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com", nil},
	{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", false, "", ErrTooLong},
	{strings.Repeat("a.", 200) + "@gmail.com", true, "", ErrTooLong},
}

func TestEmail(t *testing.T) {
	for _, tt := range emailTests {
		rules := EmailRules{Gmail: tt.gmail}
		got, err := Email(tt.raw, rules)
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("Email(%q, %+v) = %q, %v; want %q, %v", tt.raw, rules, got, err, tt.want, tt.err)
		}
	}
}

const uuid = "6ba7b810-9dad-41d1-80b4-00c04fd430c8"

var deviceTests = []struct {
	raw  string
	want string
	err  error
}{
	{uuid, uuid, nil},
	{"6BA7B810-9DAD-41D1-80B4-00C04FD430C8", uuid, nil},
	{"6ba7B810-9DaD-41d1-80B4-00c04fd430C8", uuid, nil},
	{"{6ba7b810-9dad-41d1-80b4-00c04fd430c8}", uuid, nil},
	{"{6BA7B810-9DAD-41D1-80B4-00C04FD430C8}", uuid, nil},
	{"6ba7b8109dad41d180b400c04fd430c8", uuid, nil},
	{"6BA7B8109DAD41D180B400C04FD430C8", uuid, nil},
	{"{6BA7B8109DAD41D180B400C04FD430C8}", uuid, nil},
	{"  6ba7b810-9dad-41d1-80b4-00c04fd430c8 \r\n", uuid, nil},
	{"\ufeff{6BA7B810-9DAD-41D1-80B4-00C04FD430C8}\u00a0", uuid, nil},
	{"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000001", nil},

	{"", "", ErrEmpty},
	{" \t", "", ErrEmpty},
	{"00000000-0000-0000-0000-000000000000", "", ErrPlaceholder},
	{"{00000000-0000-0000-0000-000000000000}", "", ErrPlaceholder},
	{"00000000000000000000000000000000", "", ErrPlaceholder},
	{"ffffffff-ffff-ffff-ffff-ffffffffffff", "", ErrPlaceholder},
	{"{FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF}", "", ErrPlaceholder},
	{"6ba7b810-9dad-41d1-80b4-00c04fd430cg", "", ErrInvalid},
	{"6ba7b810-9dad-41d1-80b4-00c04fd430c", "", ErrInvalid},
	{"6ba7b810-9dad-41d1-80b4-00c04fd430c88", "", ErrInvalid},
	{"6ba7b8109-dad-41d1-80b4-00c04fd430c8", "", ErrInvalid},
	{"6ba7b810_9dad_41d1_80b4_00c04fd430c8", "", ErrInvalid},
	{"6ba7b810-9dad-41d1-80b4-00c04fd430c8}", "", ErrInvalid},
	{"{6ba7b810-9dad-41d1-80b4-00c04fd430c8", "", ErrInvalid},
	{"{{6ba7b810-9dad-41d1-80b4-00c04fd430c8}}", "", ErrInvalid},
	{"(6ba7b810-9dad-41d1-80b4-00c04fd430c8)", "", ErrInvalid},
	{"urn:uuid:6ba7b810-9dad-41d1-80b4-00c04fd430c8", "", ErrInvalid},
	{"6ba7b810-9dad-41d1-80b4 00c04fd430c8", "", ErrInvalid},
	{"6ba7b8109dad41d180b400c04fd430c", "", ErrInvalid},
	{"+6ba7b8109dad41d180b400c04fd430c", "", ErrInvalid},
	{"０ba7b810-9dad-41d1-80b4-00c04fd430c8", "", ErrInvalid},
	{"n/a", "", ErrInvalid},
	{"\xff", "", ErrInvalid},
}

func TestDeviceID(t *testing.T) {
	for _, tt := range deviceTests {
		got, err := DeviceID(tt.raw)
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("DeviceID(%q) = %q, %v; want %q, %v", tt.raw, got, err, tt.want, tt.err)
		}
	}
}

var customerTests = []struct {
	raw  string
	want string
	err  error
}{
	{"CUST-000123", "CUST-000123", nil},
	{"  CUST-000123 \n", "CUST-000123", nil},
	{"cust-000123", "cust-000123", nil},
	{"000123", "000123", nil},
	{"\ufeff42\u00a0", "42", nil},
	{"Клиент№42", "Клиент№42", nil},
	{"a/b:c#d", "a/b:c#d", nil},
	{strings.Repeat("x", 128), strings.Repeat("x", 128), nil},
	{" " + strings.Repeat("x", 128) + " ", strings.Repeat("x", 128), nil},

	{"", "", ErrEmpty},
	{"\t \u3000", "", ErrEmpty},
	{strings.Repeat("x", 129), "", ErrTooLong},
	{strings.Repeat("я", 65), "", ErrTooLong},
	{"CUST 000123", "", ErrInvalid},
	{"CUST\u00a0000123", "", ErrInvalid},
	{"CUST\x00123", "", ErrInvalid},
	{"CUST\x7f123", "", ErrInvalid},
	{"CUST\u200b123", "", ErrInvalid},
	{"CUST\xff123", "", ErrInvalid},
}

func TestCustomerID(t *testing.T) {
	for _, tt := range customerTests {
		got, err := CustomerID(tt.raw)
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("CustomerID(%q) = %q, %v; want %q, %v", tt.raw, got, err, tt.want, tt.err)
		}
	}
}

// The SHA-256 of "+79123456789", from `printf %s +79123456789 | sha256sum`.
const phoneDigest = "694e8de862e4f3198b67f7a4aa9f4dfb123c5b78b0a72460ce882c405b111e63"

var digestTests = []struct {
	raw  string
	want string
	err  error
}{
	{phoneDigest, phoneDigest, nil},
	{strings.ToUpper(phoneDigest), phoneDigest, nil},
	{" " + phoneDigest + "\r\n", phoneDigest, nil},

	{"", "", ErrEmpty},
	{"  ", "", ErrEmpty},
	{phoneDigest[:63], "", ErrInvalid},
	{phoneDigest + "0", "", ErrInvalid},
	{"0x" + phoneDigest[:62], "", ErrInvalid},
	{phoneDigest[:63] + "g", "", ErrInvalid},
	{phoneDigest[:32] + " " + phoneDigest[33:], "", ErrInvalid},
	{"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "", ErrPlaceholder},
	{strings.Repeat("0", 64), "", ErrPlaceholder},
}

func TestParseDigest(t *testing.T) {
	for _, tt := range digestTests {
		d, err := ParseDigest(tt.raw)
		got := ""
		if err == nil {
			got = FormatDigest(d)
		} else if d != ([DigestSize]byte{}) {
			t.Errorf("ParseDigest(%q) returned a digest with error %v", tt.raw, err)
		}
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("ParseDigest(%q) = %q, %v; want %q, %v", tt.raw, got, err, tt.want, tt.err)
		}
	}
}

func TestDigest(t *testing.T) {
	if got := FormatDigest(Digest("+79123456789")); got != phoneDigest {
		t.Errorf("FormatDigest(Digest(%q)) = %q, want %q", "+79123456789", got, phoneDigest)
	}
	if got := FormatDigest(Digest("")); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("FormatDigest(Digest(\"\")) = %q, want the SHA-256 of nothing", got)
	}
}

// TestOneNumber checks the promise of DESIGN.md: every way the synthetic
// operator and bank write a number normalises to one value, which is also
// what a party that pre-hashes would hash.
func TestOneNumber(t *testing.T) {
	written := []string{
		"79123456789", "+79123456789", "+7 912 345-67-89", "+7 912 345 6789", "7 912 3456789",
		"8 (912) 345-67-89", "9123456789", "+7(912)345-67-89", "+7 (912) 345-67-89",
		"89123456789", "8 912 345 67 89", "8-912-345-67-89",
	}
	want := Digest("+79123456789")
	for _, w := range written {
		got, err := Phone(w, "RU")
		if err != nil || Digest(got) != want {
			t.Errorf("Phone(%q, %q) = %q, %v; want %q", w, "RU", got, err, "+79123456789")
		}
	}
}

func TestFor(t *testing.T) {
	tests := []struct {
		class cleanroom.IdentifierClass
		opts  Options
		raw   string
		want  string
	}{
		{cleanroom.ClassPhone, Options{Region: "RU"}, "8 (912) 345-67-89", "+79123456789"},
		{cleanroom.ClassPhone, Options{Region: "GB"}, "020 7946 0958", "+442079460958"},
		{cleanroom.ClassPhone, Options{}, "+7 912 345 67 89", "+79123456789"},
		{cleanroom.ClassEmail, Options{}, " I.Van+x@GoogleMail.com", "i.van+x@googlemail.com"},
		{cleanroom.ClassEmail, Options{Gmail: true}, " I.Van+x@GoogleMail.com", "ivan@gmail.com"},
		{cleanroom.ClassDeviceID, Options{Region: "RU", Gmail: true}, "{6BA7B810-9DAD-41D1-80B4-00C04FD430C8}", uuid},
		{cleanroom.ClassCustomerID, Options{}, " CUST-1 ", "CUST-1"},
	}
	for _, tt := range tests {
		f, err := For(tt.class, tt.opts)
		if err != nil {
			t.Errorf("For(%q, %+v): %v", tt.class, tt.opts, err)
			continue
		}
		if got, err := f(tt.raw); got != tt.want || err != nil {
			t.Errorf("For(%q, %+v)(%q) = %q, %v; want %q", tt.class, tt.opts, tt.raw, got, err, tt.want)
		}
	}

	if _, err := For(cleanroom.ClassPhone, Options{Region: "Russia"}); !errors.Is(err, ErrRegion) {
		t.Errorf("For(phone, Region Russia) = %v; want ErrRegion", err)
	}
	_, err := For("ssn", Options{})
	if cleanroom.ErrorCode(err) != cleanroom.EInvalid {
		t.Errorf("For(%q) = %v; want an invalid-input error", "ssn", err)
	}
	for _, c := range cleanroom.IdentifierClasses {
		if _, err := For(c, Options{Region: "RU"}); err != nil {
			t.Errorf("For(%q): %v", c, err)
		}
	}
}

// TestErrorsHideValues checks that no error message repeats any part of a
// rejected value, and that every error is an *Error of a known kind.
func TestErrorsHideValues(t *testing.T) {
	secret := "Zq9Xw7Vu5Ts3"
	check := func(call string, err error) {
		t.Helper()
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s = %v; want an *Error", call, err)
		}
		if !knownKind(e.Kind) {
			t.Errorf("%s: kind %v is not a sentinel", call, e.Kind)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(strings.ToLower(err.Error()), strings.ToLower(secret)) {
			t.Errorf("%s = %q; the message holds the value", call, err)
		}
	}
	for _, v := range []string{secret, "+7 912 " + secret, secret + "@mail.ru", "a@" + secret, "{" + secret + "}", strings.Repeat(secret, 12), secret + " x"} {
		_, err := Phone(v, "RU")
		check("Phone("+v+")", err)
		if _, err = Email(v, EmailRules{Gmail: true}); err != nil {
			check("Email("+v+")", err)
		}
		_, err = DeviceID(v)
		check("DeviceID("+v+")", err)
		if _, err = CustomerID(v); err != nil {
			check("CustomerID("+v+")", err)
		}
		_, err = ParseDigest(v)
		check("ParseDigest("+v+")", err)
	}
}

func knownKind(err error) bool {
	for _, k := range []error{ErrEmpty, ErrInvalid, ErrTooLong, ErrPlaceholder, ErrRegion} {
		if err == k {
			return true
		}
	}
	return false
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{second(Phone("0000000000", "RU")), "phone: not a valid number for region RU"},
		{second(Phone("+7 000 000 00 00", "RU")), "phone: not a valid number"},
		{second(Phone("call me", "RU")), "phone: letters other than an extension marker"},
		{second(Email("ivan@localhost", EmailRules{})), "email: domain without a dot"},
		{second(DeviceID("00000000-0000-0000-0000-000000000000")), "device_id: all-zero placeholder"},
		{second(CustomerID(strings.Repeat("x", 200))), "customer_id: longer than 128 bytes"},
	}
	for _, tt := range tests {
		if tt.err == nil || tt.err.Error() != tt.want {
			t.Errorf("error = %v, want %q", tt.err, tt.want)
		}
	}
}

func second(_ string, err error) error { return err }
