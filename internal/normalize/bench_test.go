package normalize

import "testing"

// The inputs are messy on purpose: the work a normaliser does on real
// data.

func BenchmarkPhone(b *testing.B) {
	for b.Loop() {
		if _, err := Phone("8 (912) 345-67-89", "RU"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPhoneInternational(b *testing.B) {
	for b.Loop() {
		if _, err := Phone("+7 912 345-67-89", "RU"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEmail(b *testing.B) {
	for b.Loop() {
		if _, err := Email(" Ivan.Petrov+News@GoogleMail.com ", EmailRules{Gmail: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeviceID(b *testing.B) {
	for b.Loop() {
		if _, err := DeviceID("{6BA7B810-9DAD-41D1-80B4-00C04FD430C8}"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCustomerID(b *testing.B) {
	for b.Loop() {
		if _, err := CustomerID("  CUST-000123 "); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDigest(b *testing.B) {
	for b.Loop() {
		_ = Digest("+79123456789")
	}
}

func BenchmarkParseDigest(b *testing.B) {
	for b.Loop() {
		if _, err := ParseDigest(phoneDigest); err != nil {
			b.Fatal(err)
		}
	}
}
