// Package cleanroom holds the domain of the Cleanroom data clean room: the
// parties that bring data, the rooms where they meet, the roles a party grants
// its users, the audit entries every state change writes, and the one place
// where authorization is decided (Authorize).
//
// The package has no dependencies on storage, HTTP or the command line; those
// adapters live under internal/ and call into this package. A test keeps it
// that way.
package cleanroom
