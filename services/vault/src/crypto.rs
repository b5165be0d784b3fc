//! Encryption at rest, in three layers:
//!
//! - each document has its own random 256-bit **data key**; its bytes are cut into 64 KiB
//!   chunks, each sealed with AES-256-GCM (a STREAM construction: the nonce is a random 7-byte
//!   prefix, the chunk's 32-bit index and a last-chunk flag; the document id is the associated
//!   data), so chunks cannot be altered, reordered, dropped from the end or moved to another
//!   document without failing authentication;
//! - the data key is sealed with the owner's **vault key**;
//! - the vault key is sealed with the **master key**, which never enters the store.
//!
//! Destroying a vault key makes every document of that vault unreadable, wherever copies of
//! the blobs or the store may lie (crypto-shredding).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Chunks per stored part (so a part holds 4 MiB of plaintext).
pub const CHUNKS_PER_PART: usize = 64;
/// Plaintext bytes per part.
pub const PART: usize = CHUNK * CHUNKS_PER_PART;
/// What sealing adds to each chunk.
pub const TAG: usize = 16;
const PREFIX: usize = NONCE_LEN - 5;

/// Why bytes did not decrypt: altered, truncated, misplaced, or the wrong key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("chunk {0} does not authenticate")]
pub struct Damaged(pub u64);

use passerelle_kit::ServiceError;
use passerelle_kit::secrets::random;

fn key(bytes: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, bytes).unwrap_or_else(|_| unreachable!("32-byte AES key")),
    )
}

/// A 256-bit key that seals small secrets (data keys under a vault key).
#[derive(Clone)]
pub struct WrappingKey([u8; 32]);

impl std::fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrappingKey(…)")
    }
}

impl WrappingKey {
    pub fn generate() -> Result<Self, ServiceError> {
        Ok(Self(random()?))
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Seals `secret` bound to `context`: nonce ‖ ciphertext ‖ tag.
    pub fn wrap(&self, context: &str, secret: &[u8]) -> Result<Vec<u8>, ServiceError> {
        let nonce = random::<NONCE_LEN>()?;
        let mut sealed = secret.to_vec();
        key(&self.0)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| ServiceError::Internal("sealing a key failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn unwrap(&self, context: &str, wrapped: &[u8]) -> Option<Vec<u8>> {
        if wrapped.len() < NONCE_LEN + TAG {
            return None;
        }
        let (nonce, body) = wrapped.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = body.to_vec();
        let plain = key(&self.0)
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// A document's data key and nonce prefix.
pub struct DataKey {
    key: LessSafeKey,
    raw: [u8; 32],
    prefix: [u8; PREFIX],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

impl DataKey {
    pub fn generate() -> Result<Self, ServiceError> {
        let raw = random::<32>()?;
        Ok(Self {
            key: key(&raw),
            raw,
            prefix: random()?,
        })
    }

    /// The key and prefix as one secret, to wrap.
    pub fn to_secret(&self) -> Vec<u8> {
        let mut out = self.raw.to_vec();
        out.extend_from_slice(&self.prefix);
        out
    }

    pub fn from_secret(secret: &[u8]) -> Option<Self> {
        if secret.len() != 32 + PREFIX {
            return None;
        }
        let raw: [u8; 32] = secret[..32].try_into().ok()?;
        let prefix: [u8; PREFIX] = secret[32..].try_into().ok()?;
        Some(Self {
            key: key(&raw),
            raw,
            prefix,
        })
    }

    fn nonce(&self, index: u64, last: bool) -> Nonce {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..PREFIX].copy_from_slice(&self.prefix);
        // Documents stay far below 2^32 chunks (256 TiB); the limit is checked at upload.
        nonce[PREFIX..PREFIX + 4].copy_from_slice(&(index as u32).to_be_bytes());
        nonce[NONCE_LEN - 1] = u8::from(last);
        Nonce::assume_unique_for_key(nonce)
    }

    /// Seals chunk `index` of document `doc_id` in place, appending the tag.
    pub fn seal_chunk(&self, doc_id: &str, index: u64, last: bool, chunk: &mut Vec<u8>) {
        let _ = self.key.seal_in_place_append_tag(
            self.nonce(index, last),
            Aad::from(doc_id.as_bytes()),
            chunk,
        );
    }

    /// Opens chunk `index`, which must be the last one exactly when `last` is set.
    pub fn open_chunk<'a>(
        &self,
        doc_id: &str,
        index: u64,
        last: bool,
        sealed: &'a mut [u8],
    ) -> Result<&'a [u8], Damaged> {
        self.key
            .open_in_place(
                self.nonce(index, last),
                Aad::from(doc_id.as_bytes()),
                sealed,
            )
            .map(|plain| &*plain)
            .map_err(|_| Damaged(index))
    }
}

/// Seals one part: up to [`CHUNKS_PER_PART`] chunks starting at chunk `first_index`.
pub fn seal_part(
    key: &DataKey,
    doc_id: &str,
    first_index: u64,
    plain: &[u8],
    last_part: bool,
) -> Vec<u8> {
    let chunks = plain.len().div_ceil(CHUNK).max(1);
    let mut out = Vec::with_capacity(plain.len() + chunks * TAG);
    for (i, chunk) in plain.chunks(CHUNK).enumerate() {
        let mut buffer = chunk.to_vec();
        let last = last_part && i + 1 == chunks;
        key.seal_chunk(doc_id, first_index + i as u64, last, &mut buffer);
        out.extend_from_slice(&buffer);
    }
    out
}

/// Opens one sealed part, calling `emit` with each chunk's plaintext as soon as it is
/// authenticated (nothing unauthenticated is ever emitted).
pub fn open_part(
    key: &DataKey,
    doc_id: &str,
    first_index: u64,
    sealed: &mut [u8],
    last_part: bool,
    mut emit: impl FnMut(&[u8]),
) -> Result<(), Damaged> {
    let chunks = sealed.len().div_ceil(CHUNK + TAG);
    if chunks == 0 {
        return Err(Damaged(first_index));
    }
    for (i, chunk) in sealed.chunks_mut(CHUNK + TAG).enumerate() {
        let last = last_part && i + 1 == chunks;
        emit(key.open_chunk(doc_id, first_index + i as u64, last, chunk)?);
    }
    Ok(())
}

/// SHA-256 in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The content hash: SHA-256 over the concatenated SHA-256 digests of the 4 MiB plaintext
/// parts. (A hash list rather than one running hash, so an interrupted upload resumes without
/// keeping a hash state.)
pub fn content_hash(part_hashes: &[String]) -> String {
    let mut all = Vec::with_capacity(part_hashes.len() * 32);
    for h in part_hashes {
        // A damaged record (odd length, not hex) must give a hash that does not match, never
        // a panic: the caller then reports the document damaged.
        for pair in h.as_bytes().chunks(2) {
            let byte = std::str::from_utf8(pair)
                .ok()
                .filter(|p| p.len() == 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok());
            match byte {
                Some(b) => all.push(b),
                None => return String::from("damaged"),
            }
        }
    }
    sha256_hex(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn parts_round_trip_chunk_by_chunk() {
        let key = DataKey::generate().unwrap();
        let plain = sample(CHUNK * 2 + 100);
        let mut sealed = seal_part(&key, "doc-1", 0, &plain, true);
        assert_eq!(sealed.len(), plain.len() + 3 * TAG);
        let mut out = Vec::new();
        open_part(&key, "doc-1", 0, &mut sealed, true, |c| {
            out.extend_from_slice(c)
        })
        .unwrap();
        assert_eq!(out, plain);
    }

    #[test]
    fn any_alteration_fails_before_any_wrong_byte() {
        let key = DataKey::generate().unwrap();
        let plain = sample(CHUNK * 3);
        let sealed = seal_part(&key, "doc-1", 0, &plain, true);
        let check = |mut bytes: Vec<u8>, doc: &str, first: u64, last: bool| {
            let mut out = Vec::new();
            let result = open_part(&key, doc, first, &mut bytes, last, |c| {
                out.extend_from_slice(c)
            });
            (result, out)
        };
        let mut flipped = sealed.clone();
        flipped[CHUNK + TAG + 10] ^= 1;
        let (result, out) = check(flipped, "doc-1", 0, true);
        assert_eq!(result, Err(Damaged(1)));
        assert_eq!(
            out,
            plain[..CHUNK],
            "only the authenticated first chunk came out"
        );
        assert!(
            check(sealed.clone(), "doc-2", 0, true).0.is_err(),
            "moved to another document"
        );
        assert!(
            check(sealed.clone(), "doc-1", 64, true).0.is_err(),
            "moved elsewhere in the document"
        );
        assert!(
            check(sealed[..2 * (CHUNK + TAG)].to_vec(), "doc-1", 0, true)
                .0
                .is_err(),
            "truncated"
        );
        assert!(
            check(sealed.clone(), "doc-1", 0, false).0.is_err(),
            "more parts were expected"
        );
        let other = DataKey::generate().unwrap();
        let mut bytes = sealed.clone();
        assert!(
            open_part(&other, "doc-1", 0, &mut bytes, true, |_| {}).is_err(),
            "wrong key"
        );
    }

    #[test]
    fn keys_wrap_and_unwrap_only_in_their_context() {
        let vault = WrappingKey::generate().unwrap();
        let data = DataKey::generate().unwrap();
        let wrapped = vault.wrap("doc-key:d1", &data.to_secret()).unwrap();
        let back = DataKey::from_secret(&vault.unwrap("doc-key:d1", &wrapped).unwrap()).unwrap();
        assert_eq!(back.to_secret(), data.to_secret());
        assert!(vault.unwrap("doc-key:d2", &wrapped).is_none());
        let mut altered = wrapped.clone();
        altered[20] ^= 1;
        assert!(vault.unwrap("doc-key:d1", &altered).is_none());
    }

    #[test]
    fn the_content_hash_depends_on_every_part() {
        let a = content_hash(&[sha256_hex(b"one"), sha256_hex(b"two")]);
        let b = content_hash(&[sha256_hex(b"two"), sha256_hex(b"one")]);
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }
}
