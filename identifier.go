package cleanroom

import "slices"

// IdentifierClass is the kind of a personal identifier a dataset matches on.
// Each class has its own normaliser and its own hash-to-group domain, so
// tokens of different classes never meet.
type IdentifierClass string

// The identifier classes.
const (
	ClassPhone      IdentifierClass = "phone"       // E.164 after normalisation
	ClassEmail      IdentifierClass = "email"       // trimmed, lower-cased, optional provider rules
	ClassDeviceID   IdentifierClass = "device_id"   // advertising ID, a lower-case UUID
	ClassCustomerID IdentifierClass = "customer_id" // an identifier shared by contract, trimmed
)

// IdentifierClasses lists every class in a stable order.
var IdentifierClasses = []IdentifierClass{ClassPhone, ClassEmail, ClassDeviceID, ClassCustomerID}

// Validate reports whether c is one of IdentifierClasses.
func (c IdentifierClass) Validate() error {
	if !slices.Contains(IdentifierClasses, c) {
		return Errorf(EInvalid, "unknown identifier class %q", string(c)).
			WithHint("identifier classes are phone, email, device_id and customer_id")
	}
	return nil
}
