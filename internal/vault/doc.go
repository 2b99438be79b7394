// Package vault keeps datasets encrypted at rest on the room server and
// deletes them by destroying their keys (crypto-shredding).
//
// # Using it
//
// A Store owns one directory. Open it with a KeyWrapper that guards the
// keys of the datasets: NewLocalWrapper with the server's key-encryption
// key (keyfile.ServerKeys.KEK) by default, or a KMS (see KeyWrapper).
//
//	st, err := vault.Open(filepath.Join(dataDir, "datasets"), vault.NewLocalWrapper(keys.KEK))
//	err = st.CreateDataset(ctx, "bank.products")
//	w, err := st.NewVersion(ctx, "bank.products", 1)
//	defer w.Close()               // discards the version unless committed
//	_, err = io.Copy(w, rows)     // encrypted as it streams; plaintext never touches disk
//	err = w.Commit()              // the version appears atomically, or not at all
//	r, err := st.OpenVersion(ctx, "bank.products", 1)
//	defer r.Close()
//	_, err = io.Copy(dst, r)      // trust what was read only once Read returns io.EOF
//	err = st.DestroyDataset(ctx, "bank.products") // every version is now unreadable
//
// # Keys
//
// Three levels of keys protect a dataset version:
//
//   - the master key: the server's kek.key, or a key inside a KMS that
//     never leaves it. It wraps every dataset key.
//   - the dataset key-encryption key (dataset KEK): 32 random bytes per
//     dataset, kept only wrapped by the master key, in <dir>/<dataset>/kek.
//     The wrap is bound to the dataset id, so a kek file moved to another
//     dataset does not unwrap.
//   - the data key: 32 random bytes per version, wrapped by the dataset KEK
//     with AES-256-GCM in the version file's header, bound to the dataset id
//     and version number. Every version, and every retry of a version, gets
//     a fresh data key, so the deterministic chunk nonces below never repeat
//     under one key.
//
// # The version file
//
// The plaintext is cut into chunks of ChunkSize (64 KiB) bytes and each
// chunk is sealed with AES-256-GCM under the data key, following the STREAM
// construction of Hoang, Reyhanitabar, Rogaway and Vizár, "Online
// Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance" (CRYPTO
// 2015, https://eprint.iacr.org/2015/189), in the variant of age's payload
// format (https://c2sp.org/age#payload), with AES-256-GCM in place of
// ChaCha20-Poly1305: the 12-byte nonce of chunk i is i as an 11-byte
// big-endian counter followed by one flag byte, 0x01 for the last chunk and
// 0x00 for every other. Every chunk but the last holds exactly ChunkSize
// bytes; the last holds 1 to ChunkSize bytes, or 0 if the whole plaintext is
// empty. The associated data of every chunk names the dataset and the
// version. Layout (all integers big-endian):
//
//	offset  size  field
//	0       8     magic "CRVDATA1"
//	8       4     chunk size in bytes (65536)
//	12      60    data key: 12-byte GCM nonce ‖ AES-256-GCM(dataset KEK, 32-byte key) ‖ 16-byte tag;
//	              associated data "cleanroom/vault/v1/data-key" 0x00 ‖ bytes 0–11 ‖ identity
//	72      …     chunks: AES-256-GCM(data key, nonce(i, last), plaintext chunk i) ‖ 16-byte tag;
//	              associated data "cleanroom/vault/v1/chunk" 0x00 ‖ identity
//
// where identity is one byte holding the dataset id's length, the id, and
// the version as a uint64. The kek file is the magic "CRVKEK01" followed by
// whatever the KeyWrapper returned; LocalWrapper's format is described on
// NewLocalWrapper.
//
// # What it guarantees
//
// A reader returned by OpenVersion yields exactly the plaintext that was
// committed as that dataset and version, followed by io.EOF, or a prefix of
// it followed by an error: truncation (a missing last chunk), dropped,
// duplicated or reordered chunks, a modified byte anywhere, a chunk or a
// header taken from another version or dataset, and a wrong master key are
// all detected. The plaintext of a chunk that fails is never returned. As
// with any streaming decryption, what was read before an error must be
// discarded, so consumers treat data as final only at io.EOF.
//
// A version appears atomically: NewVersion writes to a temporary file
// (<dir>/<dataset>/v<N>.enc.*.tmp) next to the final one, and Commit syncs
// it, renames it to v<N>.enc and syncs the directory. A crash leaves at
// most a temporary file, which is never read and which Open removes. Open
// also finishes a DestroyDataset that a crash interrupted. Versions are
// immutable: a committed version is never overwritten.
//
// DestroyDataset marks the dataset destroyed, overwrites its kek file with
// random bytes and removes it, then removes its versions. Without the
// dataset KEK no version of the dataset can be decrypted, including copies
// of version files made before: OpenVersion reports ErrDestroyed, and a new
// dataset created under the same name would have a different key. Limits
// to keep in mind:
//
//   - A copy of the kek file (a backup or snapshot of the directory) plus
//     the master key still decrypts the dataset. To reach backups, rotate
//     the master key and destroy the old one, or use a KMS whose key
//     versions can be destroyed.
//   - Overwriting a file does not guarantee that the old blocks are erased
//     on SSDs and copy-on-write or journaling file systems. The kek file
//     only ever holds the wrapped key, so what may survive there is useless
//     without the master key.
//   - Readers opened before DestroyDataset keep reading until closed.
//
// The vault does not hide dataset ids (directory names), version numbers,
// plaintext lengths or times of writing from someone who can read the
// directory.
//
// A Store assumes it is the only one using its directory: Open deletes
// temporary files it finds there, which would break a writer of another
// process.
package vault
