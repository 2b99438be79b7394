// Package keyfile keeps Cleanroom's long-term keys in files: the keys a
// party holds on its own premises and the keys of a room server.
//
// A party's directory (created by CreateParty, read by LoadParty; the CLI's
// `cleanroom keys init`) holds
//
//	signing.key   Ed25519 private key (RFC 8032), PKCS#8 PEM "PRIVATE KEY", mode 0600
//	signing.pub   its public key, PKIX PEM "PUBLIC KEY", mode 0644
//	blinding.key  ristretto255 scalar (RFC 9496), PEM "CLEANROOM BLINDING KEY", mode 0600
//
// The signing key signs the party's statements (grants, DUA signatures,
// token manifests); only signing.pub is ever given to anyone. The blinding
// key is a master key: each room gets its own blinding key from RoomKey, so
// tokens blinded for one room cannot be linked to another room's.
//
// A room server's data directory (CreateServer, LoadServer) holds
//
//	server-signing.key  Ed25519 private key, PKCS#8 PEM "PRIVATE KEY", mode 0600
//	server-hpke.key     X25519 private key, PKCS#8 PEM "PRIVATE KEY", mode 0600
//	kek.key             32-byte key-encryption key, PEM "CLEANROOM KEY ENCRYPTION KEY", mode 0600
//
// Parties seal payloads to the room with SealTo and the room's HPKE public
// key; the room opens them with ServerKeys.Open. The suite is HPKE
// (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
// AES-256-GCM.
//
// Files are written atomically (a temporary file in the same directory,
// given its final mode before any secret is written, synced, then renamed)
// and never overwritten: creating keys where a file already exists fails
// with ErrExist. Loading refuses a private key file whose mode gives group
// or others any access (ErrMode), the way ssh does. The key types redact
// themselves in fmt, log/slog and encoding/json output, showing only the
// public key's fingerprint.
package keyfile
